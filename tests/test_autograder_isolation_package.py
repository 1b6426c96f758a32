"""The course package inside a sandbox: the grader's own cnnbook, and only the modules a part may use."""
import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import corpus
from autograder.checks.parts import ASSIGNMENTS, NAIVE_MODULES, NETWORK_MODULES
from autograder.isolation import course_package
from autograder.isolation.course_package import NOT_ALLOWED, hidden_import, package_view
from autograder.isolation.student import Program, SandboxStudent, SetupFailed, StudentError
from autograder.nbgrader_io.submission import needed_setup
from test_autograder_sandbox import LEVELS, NAMESPACES, call, run, started  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
CNNBOOK = REPO / "cnnbook"
RELEASE_SETUP = ["import numpy as np", "from cnnbook.exercise_checks import check_close",
                 "from cnnbook.fast_layers import conv_backward_fast, conv_forward_fast"]
ENFORCING = LEVELS[:2]          # the process level cannot hide files from student code
STRONGEST = NAMESPACES


def conv_inputs():
    rng = np.random.default_rng(0)
    return (rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4),
            {"stride": 1, "pad": 1})


def graded(source, level, modules):
    """What calling the cell's conv_forward_naive gives, loaded as the grader loads it, and the notes."""
    program = Program(needed_setup(RELEASE_SETUP, [source]), [("conv_forward_naive", source)],
                      cnnbook_modules=modules)
    student = SandboxStudent(program, level, str(REPO))
    try:
        return student.call("conv_forward_naive", *conv_inputs(), _keep=(1,)), student.notes
    except StudentError as error:
        return error, student.notes
    finally:
        student.close()


def cnnbook_imports(module):
    tree = ast.parse((CNNBOOK / f"{module}.py").read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cnnbook."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {alias.name.split(".")[1] for alias in node.names if alias.name.startswith("cnnbook.")}
    return found


@pytest.mark.parametrize("part", [part for parts in ASSIGNMENTS.values() for part in parts], ids=lambda p: p.name)
def test_each_parts_modules_include_what_they_import(part):
    for module in part.cnnbook_modules:
        assert cnnbook_imports(module) <= set(part.cnnbook_modules), (part.name, module)


def test_naive_parts_get_the_exercise_checks_only_and_the_network_its_layers():
    parts = {part.name: part for part in ASSIGNMENTS["numpy_cnn"]}
    assert all(parts[name].cnnbook_modules == NAIVE_MODULES == ("exercise_checks",)
               for name in parts if name.endswith(("_naive", "_forward", "_backward")))
    assert parts["three_layer_convnet"].cnnbook_modules == NETWORK_MODULES
    view = package_view(NAIVE_MODULES)
    assert view.source == str(CNNBOOK.resolve()) and view.modules == ("__init__", "exercise_checks")
    assert {"fast_layers", "conv_math", "layer_utils", "layers", "gradient_check"} <= set(view.hidden)


def test_import_statements_outside_the_parts_modules_are_recognised():
    assert hidden_import("from cnnbook.fast_layers import conv_forward_fast", NAIVE_MODULES) == "cnnbook.fast_layers"
    assert hidden_import("from cnnbook import conv_math, exercise_checks", NAIVE_MODULES) == "cnnbook.conv_math"
    assert hidden_import("import cnnbook.layer_utils as lu", NAIVE_MODULES) == "cnnbook.layer_utils"
    assert hidden_import("from cnnbook.exercise_checks import check_close", NAIVE_MODULES) == ""
    assert hidden_import("import numpy as np", NAIVE_MODULES) == ""
    assert hidden_import("from cnnbook.layers import affine_forward", NETWORK_MODULES) == ""
    assert hidden_import("import matplotlib.pyplot as plt", NETWORK_MODULES) == "matplotlib"
    assert hidden_import("from torch import nn", NAIVE_MODULES) == "torch"
    assert hidden_import("import json, os.path", NAIVE_MODULES) == ""


@pytest.mark.parametrize("level", ENFORCING)
@pytest.mark.parametrize("attack", sorted(corpus.NAIVE_ON_COURSE_CODE))
def test_a_naive_layer_built_on_the_course_code_gets_nothing_and_is_told_why(level, attack):
    source = corpus.NAIVE_ON_COURSE_CODE[attack]
    works, _ = graded(source, level, NETWORK_MODULES + ("conv_math",))
    assert isinstance(works, tuple) and works[0].shape == (2, 4, 5, 5), "the attack should work with the whole package"
    refused, notes = graded(source, level, NAIVE_MODULES)
    assert isinstance(refused, StudentError)
    # The check's own message says it first (a short excerpt), or a note of the grader's does in full.
    assert NOT_ALLOWED in refused.describe() or f"{NOT_ALLOWED}: {RULE}" in " ".join(notes), (refused, notes)


RULE = "this part may use only numpy, the Python standard library and cnnbook.exercise_checks (a graded layer"


@pytest.mark.parametrize("level", ENFORCING)
@pytest.mark.parametrize("attack", sorted(corpus.NAIVE_ON_OTHER_LIBRARIES))
def test_a_naive_layer_that_lets_torch_or_scipy_compute_gets_nothing_and_is_told_why(level, attack):
    refused, notes = graded(corpus.NAIVE_ON_OTHER_LIBRARIES[attack], level, NETWORK_MODULES)
    assert isinstance(refused, StudentError), refused
    text = refused.describe() + " ".join(notes)
    assert NOT_ALLOWED in text or "no torch found" in text, (refused, notes)


def test_the_sandbox_sees_numpy_and_the_standard_library_of_the_installed_packages(started):
    sandbox = started(STRONGEST)
    run(sandbox, "import importlib\ndef can(name):\n    try:\n        importlib.import_module(name)\n"
                 "        return True\n    except ImportError:\n        return False\n")
    found = {name: call(sandbox, "can", name)[1] for name in ("numpy", "json", "ctypes", "torch", "scipy",
                                                                "matplotlib", "pytest", "nbformat")}
    assert found == {"numpy": True, "json": True, "ctypes": True, "torch": False, "scipy": False,
                     "matplotlib": False, "pytest": False, "nbformat": False}


def test_the_exercise_checks_import_in_a_naive_part():
    student = SandboxStudent(Program(RELEASE_SETUP[:2], [("c", "def f(a):\n    return check_close.__module__\n")],
                                     cnnbook_modules=NAIVE_MODULES), STRONGEST, str(REPO))
    try:
        assert student.call("f", 1) == "cnnbook.exercise_checks"
        assert student.notes == []
    finally:
        student.close()


@pytest.mark.parametrize("level", ENFORCING)
def test_another_copy_of_cnnbook_the_sandbox_could_reach_shows_the_same_view(started, level, tmp_path, monkeypatch):
    """A full copy in site-packages (a non-editable install) is covered by the part's view."""
    site = tmp_path / "site"
    (site / "cnnbook").mkdir(parents=True)
    for name in ("__init__.py", "fast_layers.py", "exercise_checks.py"):
        (site / "cnnbook" / name).write_bytes((CNNBOOK / name).read_bytes())
    for path in (tmp_path, site, site / "cnnbook"):
        path.chmod(0o755)
    from autograder.isolation import sandbox as sandbox_module
    exposed = sandbox_module.exposed_paths
    monkeypatch.setattr(sandbox_module, "exposed_paths", lambda root: exposed(root) + [str(site)])
    monkeypatch.setattr(course_package, "_site_copies", lambda source: (str(site / "cnnbook"),))
    sandbox = started(level)
    run(sandbox, "import importlib, sys\n"
                 "def steal(site):\n"
                 "    sys.path.insert(0, site)\n"
                 "    for name in [n for n in sys.modules if n.startswith('cnnbook')]:\n"
                 "        del sys.modules[name]\n"
                 "    try:\n"
                 "        return importlib.import_module('cnnbook.fast_layers').__file__\n"
                 "    except ImportError as error:\n"
                 "        return str(error)\n")
    assert NOT_ALLOWED in call(sandbox, "steal", str(site))[1]


def test_a_failing_setup_statement_is_the_graders_fault_not_the_students():
    student = SandboxStudent(Program(["import numpy as np", "from cnnbook.exercise_checks import no_such_helper"],
                                     [("c", "def f():\n    return 1\n")], cnnbook_modules=NAIVE_MODULES),
                             STRONGEST, str(REPO))
    try:
        with pytest.raises(SetupFailed, match="no_such_helper.*before any student code ran"):
            student.call("f")
    finally:
        student.close()


def isolation_command(course, pythonpath_first=None):
    env = corpus.grader_environment(course, "isolation-test-secret")
    if pythonpath_first is not None:
        env["PYTHONPATH"] = f"{pythonpath_first}:{env['PYTHONPATH']}"
    done = subprocess.run([sys.executable, "-m", "autograder", "isolation"], cwd=course, env=env,
                          capture_output=True, text=True, timeout=120)
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout


def test_the_isolation_command_says_whether_cnnbook_imports_in_the_sandbox(tmp_path):
    course = corpus.make_course(tmp_path / "course", REPO)
    expected = "cnnbook: imports the grader's own (/grader/cnnbook)" if STRONGEST != "process" else \
        "cnnbook: imports the grader's own ("
    assert expected in isolation_command(course)
    other = tmp_path / "other" / "cnnbook"
    other.mkdir(parents=True)
    (other / "__init__.py").write_text('"""Another checkout, without the exercise checks."""\n')
    for path in (tmp_path / "other", other, other / "__init__.py"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    assert "cnnbook: DOES NOT IMPORT in the grader" in isolation_command(course, tmp_path / "other")


def test_a_view_of_installed_packages_keeps_numpy_and_plain_path_files_and_hides_the_rest(tmp_path):
    from autograder.isolation import installed_packages
    for name in ("numpy", "numpy.libs", "torch", "scipy", "cnnbook", "numpy-2.0.dist-info", "torch-2.0.dist-info"):
        (tmp_path / name).mkdir()
    (tmp_path / "six.py").write_text("")
    (tmp_path / "_cffi_backend.cpython-311-x86_64-linux-gnu.so").write_text("")
    (tmp_path / "paths.pth").write_text("/somewhere/site-packages\n")
    (tmp_path / "hook.pth").write_text("import os; os.system('true')\n")
    view = installed_packages._view(str(tmp_path))
    assert view["keep"] == ["numpy", "numpy-2.0.dist-info", "numpy.libs", "paths.pth"]
    assert view["hide"] == ["_cffi_backend", "scipy", "six", "torch"]


def test_a_folder_holding_an_exposed_path_gets_no_view():
    from autograder.isolation.installed_packages import _seen_alone
    exposed = ("/usr", "/work/course/.venv")
    assert _seen_alone("/usr/lib/python3/dist-packages", exposed)
    assert not _seen_alone("/work/course", exposed)        # a PYTHONPATH entry above the venv
    assert not _seen_alone("/home/prof/lib", exposed)       # not in the sandbox at all


PROBE = """
import json, sys
from autograder.checks.parts import NETWORK_MODULES
from autograder.isolation.student import Program, SandboxStudent
SOURCE = ("import importlib\\ndef can(name):\\n    try:\\n        importlib.import_module(name)\\n        return True\\n"
          "    except ImportError:\\n        return False\\n")
student = SandboxStudent(Program(["import numpy as np"], [("can", SOURCE)], cnnbook_modules=NETWORK_MODULES),
                         sys.argv[1], sys.argv[2])
try:
    print(json.dumps({name: student.call("can", name) for name in ("numpy", "torch", "scipy", "cnnbook.layers")}))
finally:
    student.close()
"""


@pytest.mark.skipif(STRONGEST != NAMESPACES, reason="the package view needs the namespaces level")
def test_a_virtual_environment_under_tmp_shows_a_part_numpy_alone_as_anywhere_else():
    """A part's /tmp is fresh and empty; packages installed beneath /tmp must come back as their view.

    A clean clone in /tmp (as CI makes) once let a part import scipy: the view over its .venv was
    hidden by the fresh /tmp, the packages then reached the part unfiltered.  Here the environment is
    moved under /tmp in any checkout: a virtual environment whose site-packages are hard links to this one's.
    """
    tmp = Path(subprocess.run(["mktemp", "-d", "/tmp/venv-under-tmp-XXXXXX"], capture_output=True, text=True,
                              check=True).stdout.strip())
    try:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp / "venv")], check=True)
        site = next(Path(sys.prefix).glob("lib/python3.*/site-packages"))
        subprocess.run(["cp", "-al", f"{site}/.", str(next((tmp / "venv").glob("lib/python3.*/site-packages")))],
                       check=True)
        done = subprocess.run([str(tmp / "venv" / "bin" / "python"), "-c", PROBE, STRONGEST, str(REPO)],
                              env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}, cwd=tmp,
                              capture_output=True, text=True, timeout=300)
    finally:
        subprocess.run(["rm", "-rf", str(tmp)], check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    import json
    assert json.loads(done.stdout.splitlines()[-1]) == {"numpy": True, "torch": False, "scipy": False,
                                                        "cnnbook.layers": True}
