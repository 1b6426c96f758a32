"""The userns level, tested where it is used: by a grader that is not root.

A grader running as root is refused the userns level, so on a machine (or CI) where the tests run as
root its tests would only ever be skipped.  This test runs them as ``nobody`` instead: it makes an
interpreter that user can execute (the system's Python of the same version, in a fresh virtual
environment whose one ``.pth`` file points at this environment's packages) and runs, with it, every
userns-parametrised test of the sandbox, shared-state and course-package modules.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TESTS = ["tests/test_autograder_sandbox.py", "tests/test_autograder_isolation_shared_state.py",
         "tests/test_autograder_isolation_package.py"]
NOBODY = 65534
SYSTEM_PYTHON = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")


def as_nobody(command, **options):
    return subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *command],
                          capture_output=True, text=True, **options)


@pytest.fixture(scope="module")
def nobodys_python():
    if os.geteuid() != 0:
        pytest.skip("not root: the userns tests run in this process (tests/test_autograder_sandbox.py)")
    if shutil.which("setpriv") is None or shutil.which("unshare") is None or not SYSTEM_PYTHON.is_file():
        pytest.skip(f"needs util-linux's setpriv and unshare and {SYSTEM_PYTHON}")
    folder = Path(tempfile.mkdtemp(prefix="nobodys-python-"))
    try:
        folder.chmod(0o755)
        venv = folder / "venv"
        subprocess.run([str(SYSTEM_PYTHON), "-m", "venv", "--without-pip", str(venv)], check=True,
                       capture_output=True)
        site = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
        import sysconfig
        (site / "grader-environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
        python = str(venv / "bin" / "python")
        probe = as_nobody([python, "-c", "import numpy, pytest, nbformat"], cwd=REPO,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)})
        if probe.returncode != 0:
            pytest.skip(f"nobody cannot run this environment's packages or read {REPO}: {probe.stderr[-300:]}")
        yield folder, python
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_every_userns_test_passes_for_a_grader_that_is_not_root(nobodys_python):
    home, python = nobodys_python
    env = {"PATH": f"{Path(python).parent}:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
           "PYTHONPATH": f"{REPO}:{REPO / 'tests'}"}
    done = as_nobody([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow", "-k", "userns",
                      "-rs", *TESTS], cwd=REPO, env=env, timeout=600)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-6000:]
    passed = int(re.search(r"(\d+) passed", out).group(1))
    skipped = re.findall(r"SKIPPED \[\d+\] [^\n]*", out)
    # Only the test of the refusal to root is skipped: everything else ran at the userns level.
    assert passed >= 25 and all("only root is refused" in line for line in skipped), out[-3000:]
