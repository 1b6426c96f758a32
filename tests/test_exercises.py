"""The graded numpy exercises (assignment numpy_cnn): notebooks, release, links, checks.

Fast tests. They read the instructor notebooks in solutions/numpy_cnn/ and the
student release in exercises/numpy_cnn/, run their code in this process (no
kernel), and regenerate the release with nbgrader into a temporary folder.
The slow end-to-end runs through Jupyter kernels and nbgrader live in
test_exercises_nbgrader.py.
"""
import ast
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tokenize
from pathlib import Path

import numpy as np
import pytest
import yaml

import book_pages
from cnnbook import exercise_checks as checks
from cnnbook.exercise_checks import ExerciseCheckFailed, ExerciseInputError
from cnnbook.gradient_check import rel_error

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENT = "numpy_cnn"
SOLUTIONS = REPO / "solutions" / ASSIGNMENT
RELEASE = REPO / "exercises" / ASSIGNMENT
# where the book is published: configured once, in _config.yml
BOOK_URL = yaml.safe_load((REPO / "_config.yml").read_text())["sphinx"]["config"]["html_baseurl"]

# notebook -> {grade_id of the answer cell: points of its test cell test_<grade_id>}
PARTS = {
    "convolution": {"conv_forward_naive": 10, "conv_backward_naive": 15},
    "max_pooling": {"max_pool_forward_naive": 5, "max_pool_backward_naive": 10},
    "spatial_batchnorm": {"spatial_batchnorm_forward": 10, "spatial_batchnorm_backward": 10},
    "convnet": {"three_layer_convnet": 20},
}
HIDDEN_TESTS = ("### BEGIN HIDDEN TESTS\n"
                "from autograder.notebook import grade_part\n"
                'grade_part("{part}", globals(), max_points={points})\n'
                "### END HIDDEN TESTS")
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
NBGRADER_TIMEOUT_S = 600


# ----------------------------------------------------------------------------
# Reading the notebooks
# ----------------------------------------------------------------------------

def load(folder, notebook):
    return json.loads((folder / f"{notebook}.ipynb").read_text(encoding="utf-8"))


def source(cell):
    return "".join(cell["source"])


def nbgrader(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def cell_by_id(nb, grade_id):
    matches = [c for c in nb["cells"] if nbgrader(c).get("grade_id") == grade_id]
    assert len(matches) == 1, f"expected one cell with grade_id {grade_id!r}, found {len(matches)}"
    return matches[0]


def visible_part(test_source):
    """A test cell's source without its hidden block (what students see)."""
    return test_source.split("### BEGIN HIDDEN TESTS")[0]


def setup_cells(nb):
    """The ordinary code cells (imports): no nbgrader metadata."""
    return [source(c) for c in nb["cells"] if c["cell_type"] == "code" and not nbgrader(c)]


def namespace_after(nb, answer_sources):
    """Run the setup cells, then the given answer sources, in a fresh namespace."""
    namespace = {"__name__": "__exercise__"}
    for code in setup_cells(nb) + list(answer_sources):
        exec(compile(code, "<notebook cell>", "exec"), namespace)
    return namespace


def run_visible_test(nb, part, namespace):
    """Run the visible part of the graded test cell of ``part`` (prints go to stdout)."""
    code = visible_part(source(cell_by_id(nb, f"test_{part}")))
    exec(compile(code, f"<test_{part}>", "exec"), namespace)


def notebook_of(part):
    return next(nb for nb, parts in PARTS.items() if part in parts)


def solution_source(part):
    return source(cell_by_id(load(SOLUTIONS, notebook_of(part)), part))


def strip_markers(code):
    return "\n".join(line for line in code.splitlines() if line.strip() not in SOLUTION_MARKERS)


def solution_namespace(notebook, replace=None):
    """Namespace with every answer of ``notebook`` solved; ``replace`` maps part ->
    (old, new) to plant a bug into that part's solution first."""
    nb = load(SOLUTIONS, notebook)
    answers = []
    for part in PARTS[notebook]:
        code = strip_markers(source(cell_by_id(nb, part)))
        if replace and part in replace:
            old, new = replace[part]
            assert old in code, f"the bug's target text is not in the {part} solution: {old!r}"
            code = code.replace(old, new)
        answers.append(code)
    return namespace_after(nb, answers)


# ----------------------------------------------------------------------------
# Structure of the instructor notebooks
# ----------------------------------------------------------------------------

def test_the_assignment_has_exactly_the_four_notebooks():
    for folder in (SOLUTIONS, RELEASE):
        assert sorted(p.stem for p in folder.glob("*.ipynb")) == sorted(PARTS)
        assert sorted(p.name for p in folder.iterdir()) == sorted(f"{nb}.ipynb" for nb in PARTS)


@pytest.mark.parametrize("notebook", PARTS)
def test_answer_and_test_cells_follow_the_interface(notebook):
    nb = load(SOLUTIONS, notebook)
    cells = [c for c in nb["cells"] if nbgrader(c)]
    ids = [nbgrader(c)["grade_id"] for c in cells]
    assert len(ids) == len(set(ids)), f"duplicate grade_ids in {notebook}: {ids}"
    answers = [nbgrader(c)["grade_id"] for c in cells if nbgrader(c)["solution"]]
    graded = {nbgrader(c)["grade_id"]: nbgrader(c)["points"] for c in cells if nbgrader(c)["grade"]}
    assert answers == list(PARTS[notebook])
    assert graded == {f"test_{part}": points for part, points in PARTS[notebook].items()}
    for part, points in PARTS[notebook].items():
        answer = source(cell_by_id(nb, part))
        assert answer.count(SOLUTION_MARKERS[0]) == answer.count(SOLUTION_MARKERS[1]) >= 1
        test = cell_by_id(nb, f"test_{part}")
        assert nbgrader(test)["locked"] and not nbgrader(test)["solution"]
        # The hidden block is exactly the agreed text, last in the cell, with
        # max_points equal to the cell's points.
        assert source(test).rstrip().endswith(HIDDEN_TESTS.format(part=part, points=points))
        assert source(test).count("### BEGIN HIDDEN TESTS") == 1


@pytest.mark.parametrize("notebook", PARTS)
def test_notebooks_are_committed_without_outputs(notebook):
    for folder in (SOLUTIONS, RELEASE):
        for cell in load(folder, notebook)["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None


@pytest.mark.parametrize("notebook", PARTS)
def test_the_book_never_executes_the_release(notebook):
    # The answer cells raise NotImplementedError: executing them would fail the build.
    assert load(RELEASE, notebook)["metadata"]["mystnb"] == {"execution_mode": "off"}


@pytest.mark.parametrize("notebook", PARTS)
def test_visible_tests_do_not_end_in_a_value(notebook):
    """nbgrader reads a test cell's last value as partial credit: in the release
    (hidden block removed) a visible check must not end in an expression."""
    nb = load(SOLUTIONS, notebook)
    for part in PARTS[notebook]:
        tree = ast.parse(visible_part(source(cell_by_id(nb, f"test_{part}"))))
        last = tree.body[-1]
        is_print = (isinstance(last, ast.Expr) and isinstance(last.value, ast.Call)
                    and getattr(last.value.func, "id", None) == "print")
        assert is_print or not isinstance(last, ast.Expr), f"test_{part} ends in a value"


@pytest.mark.parametrize("notebook", PARTS)
def test_code_fits_79_columns(notebook):
    # Release code is read in the book's narrow column as well as in Jupyter.
    for cell in load(SOLUTIONS, notebook)["cells"]:
        if cell["cell_type"] == "code":
            for line in source(cell).splitlines():
                assert len(line) <= 79, line


# ----------------------------------------------------------------------------
# The instructor solutions pass the visible checks; typical bugs do not
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("notebook", PARTS)
def test_solutions_pass_every_visible_check(notebook):
    nb = load(SOLUTIONS, notebook)
    namespace = solution_namespace(notebook)
    for part in PARTS[notebook]:
        run_visible_test(nb, part, namespace)


def test_max_pool_ties_go_to_the_first_maximum_as_in_pytorch():
    """max_pooling.ipynb says so; check it on windows full of ties."""
    import torch

    namespace = solution_namespace("max_pooling")
    x = np.array([[[[1., 1., 0.], [1., 1., 2.], [0., 2., 2.]]]])
    out, cache = namespace["max_pool_forward_naive"](
        x, {"pool_height": 2, "pool_width": 2, "stride": 1})
    dout = np.arange(1.0, out.size + 1).reshape(out.shape)
    x_torch = torch.tensor(x, requires_grad=True)
    torch.nn.functional.max_pool2d(x_torch, 2, stride=1).backward(torch.tensor(dout))
    np.testing.assert_array_equal(namespace["max_pool_backward_naive"](dout, cache),
                                  x_torch.grad.numpy())


BUGS = {  # name: (part, text in the solution, buggy replacement)
    "conv forward without bias": (
        "conv_forward_naive", "np.sum(window * w[f]) + b[f]", "np.sum(window * w[f])"),
    "conv forward ignores the stride": (
        "conv_forward_naive", "top, left = i * stride, j * stride", "top, left = i, j"),
    "conv backward crops with pad:-pad": (
        "conv_backward_naive", "dx_pad[:, :, pad:pad + H, pad:pad + W]",
        "dx_pad[:, :, pad:-pad, pad:-pad]"),
    "conv backward ignores the stride": (
        "conv_backward_naive", "top, left = i * stride, j * stride", "top, left = i, j"),
    "max pool assumes square windows": (
        "max_pool_forward_naive", "left:left + PW", "left:left + PH"),
    "max pool backward overwrites overlapping windows": (
        "max_pool_backward_naive", "dx[n, c, top + p, left + q] += dout[n, c, i, j]",
        "dx[n, c, top + p, left + q] = dout[n, c, i, j]"),
    "batch norm with the unbiased variance": (
        "spatial_batchnorm_forward", "var = x.var(axis=axes)", "var = x.var(axis=axes, ddof=1)"),
    "batch norm does not update the running variance": (
        "spatial_batchnorm_forward",
        "running_var = momentum * running_var + (1 - momentum) * var", "pass"),
    "batch norm backward with a wrong dgamma": (
        "spatial_batchnorm_backward", "(dout * x_hat).sum(axis=axes)", "dout.sum(axis=axes)"),
    "batch norm backward ignores the batch statistics": (
        "spatial_batchnorm_backward", "if mode == 'train':", "if False:"),
    "convnet without the 1/2 of the L2 penalty": (
        "three_layer_convnet", "0.5 * self.reg * penalty", "self.reg * penalty"),
    "convnet forgets the regularization gradient": (
        "three_layer_convnet", "grads[name] + self.reg * W", "grads[name]"),
    "convnet assumes square images": (
        "three_layer_convnet", "F * H_pool * W_pool", "F * H_pool * H_pool"),
}


@pytest.mark.parametrize("bug", BUGS)
def test_visible_checks_catch_typical_bugs(bug, capsys):
    part, old, new = BUGS[bug]
    notebook = notebook_of(part)
    namespace = solution_namespace(notebook, replace={part: (old, new)})
    with pytest.raises(ExerciseCheckFailed) as failure:
        run_visible_test(load(SOLUTIONS, notebook), part, namespace)
    message = str(failure.value)
    assert message and "Traceback" not in message
    print(f"{bug}: {message}")


# ----------------------------------------------------------------------------
# The release
# ----------------------------------------------------------------------------

def nbgrader_env():
    """Environment for the nbgrader command: it runs `alembic` from the venv's bin."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def nbgrader_command(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=nbgrader_env(),
                          capture_output=True, text=True, timeout=NBGRADER_TIMEOUT_S)


def test_the_release_is_what_nbgrader_generates(tmp_path):
    shutil.copy(REPO / "nbgrader_config.py", tmp_path)
    shutil.copytree(REPO / "solutions", tmp_path / "solutions")
    result = nbgrader_command("generate_assignment", ASSIGNMENT, "--force", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    generated = tmp_path / "exercises" / ASSIGNMENT
    assert sorted(p.name for p in generated.iterdir()) == sorted(p.name for p in RELEASE.iterdir())
    for notebook in PARTS:
        assert load(generated, notebook) == load(RELEASE, notebook), (
            f"exercises/{ASSIGNMENT}/{notebook}.ipynb is stale: regenerate it with "
            f"`nbgrader generate_assignment {ASSIGNMENT} --force`")


def solution_lines():
    """Every line written between the solution markers in the instructor notebooks."""
    lines = set()
    for notebook in PARTS:
        for part in PARTS[notebook]:
            regions = source(cell_by_id(load(SOLUTIONS, notebook), part)).split(SOLUTION_MARKERS[0])
            for region in regions[1:]:
                lines.update(l.strip() for l in region.split(SOLUTION_MARKERS[1])[0].splitlines())
    return {line for line in lines if line and not line.startswith("#")}


@pytest.mark.parametrize("notebook", PARTS)
def test_the_release_holds_no_solution_and_no_hidden_test(notebook):
    release = load(RELEASE, notebook)
    text = "\n".join(source(c) for c in release["cells"])
    for marker in (*SOLUTION_MARKERS, "HIDDEN TESTS", "grade_part", "autograder"):
        assert marker not in text
    leaked = {line for line in solution_lines() if line in {l.strip() for l in text.splitlines()}}
    # Lines such as `return out, cache` are provided around the answer, not secret.
    assert leaked <= {"else:"}, f"solution lines in the release: {sorted(leaked)}"
    for part in PARTS[notebook]:
        answer = source(cell_by_id(release, part))
        assert "# YOUR CODE HERE\n" in answer and "raise NotImplementedError()" in answer


def code_lines_of(path):
    """Stripped lines of a Python file that hold code: no comments, no docstrings."""
    text = path.read_text(encoding="utf-8")
    string_lines, code_lines = set(), set()
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.STRING:
            string_lines.update(range(token.start[0], token.end[0] + 1))
        elif token.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE,
                                tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
            code_lines.add(token.start[0])
    lines = text.splitlines()
    return {lines[n - 1].strip() for n in code_lines - string_lines}


def test_nothing_from_the_autograder_is_in_the_release():
    autograder_files = sorted((REPO / "autograder").rglob("*.py"))
    assert autograder_files, "autograder/ has no Python files to compare with"
    # Short or import lines (`import numpy as np`) say nothing about the hidden checks.
    secret = {line for path in autograder_files for line in code_lines_of(path)
              if len(line) >= 30 and not line.startswith(("import ", "from "))}
    for notebook in PARTS:
        for cell in load(RELEASE, notebook)["cells"]:
            leaked = secret & {line.strip() for line in source(cell).splitlines()}
            assert not leaked, f"{notebook}: autograder code in the release: {sorted(leaked)}"
            assert not re.search(r"^\s*(import|from)\s+autograder", source(cell), re.MULTILINE)


@pytest.mark.parametrize("notebook", PARTS)
def test_release_answers_still_check_their_inputs(notebook):
    """The provided first line survives in the release: bad input gets a sentence,
    not a numpy traceback, even before the student has written anything."""
    nb = load(RELEASE, notebook)
    namespace = namespace_after(nb, [source(cell_by_id(nb, part)) for part in PARTS[notebook]])
    x = np.zeros((2, 3, 5, 5))
    calls = {
        "convolution": [
            lambda: namespace["conv_forward_naive"](x, np.zeros((4, 2, 3, 3)), np.zeros(4),
                                                    {"stride": 1, "pad": 1}),
            lambda: namespace["conv_forward_naive"](x, np.zeros((4, 3, 3, 3)), np.zeros(4),
                                                    {"stride": 0, "pad": 1}),
            lambda: namespace["conv_backward_naive"](np.zeros((2, 4)), None)],
        "max_pooling": [
            lambda: namespace["max_pool_forward_naive"](x, {"pool_height": 2, "stride": 2}),
            lambda: namespace["max_pool_backward_naive"]([1, 2], None)],
        "spatial_batchnorm": [
            lambda: namespace["spatial_batchnorm_forward"](x, np.ones(4), np.zeros(3),
                                                           {"mode": "train"}),
            lambda: namespace["spatial_batchnorm_forward"](x, np.ones(3), np.zeros(3),
                                                           {"mode": "eval"})],
        "convnet": [],
    }[notebook]
    for call in calls:
        with pytest.raises(ExerciseInputError):
            call()
    for part in PARTS[notebook]:
        if part != "three_layer_convnet":
            with pytest.raises(NotImplementedError):
                run_untouched_answer(namespace, part)


def run_untouched_answer(namespace, part):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6, 6))
    arguments = {
        "conv_forward_naive": (x, rng.standard_normal((2, 3, 3, 3)), np.zeros(2),
                               {"stride": 1, "pad": 1}),
        "conv_backward_naive": (x, (x, None, None, None)),
        "max_pool_forward_naive": (x, {"pool_height": 2, "pool_width": 2, "stride": 2}),
        "max_pool_backward_naive": (x[:, :, :3, :3], (x, None)),
        "spatial_batchnorm_forward": (x, np.ones(3), np.zeros(3), {"mode": "train"}),
        "spatial_batchnorm_backward": (x, (x, np.ones(3), np.ones(3), "train")),
    }[part]
    namespace[part](*arguments)


def test_the_untouched_convnet_raises_not_implemented():
    nb = load(RELEASE, "convnet")
    namespace = namespace_after(nb, [source(cell_by_id(nb, "three_layer_convnet"))])
    with pytest.raises(NotImplementedError):
        namespace["ThreeLayerConvNet"]()


# ----------------------------------------------------------------------------
# Links to the book and the table of contents
# ----------------------------------------------------------------------------

def test_every_link_to_the_book_names_a_page_of_the_toc():
    pages = set(book_pages.toc_docnames(REPO / "_toc.yml"))
    texts = [p.read_text(encoding="utf-8") for folder in (SOLUTIONS, RELEASE)
             for p in sorted(folder.glob("*.ipynb"))]
    urls = {url for text in texts for url in re.findall(re.escape(BOOK_URL) + r"[^\s)\"'\\]*", text)}
    assert urls, "the notebooks link to no page of the book"
    for url in sorted(urls):
        page = url[len(BOOK_URL):]
        assert page.endswith(".html"), f"{url} is not a page"
        assert page[: -len(".html")] in pages, f"{url}: {page} is not in _toc.yml"


def test_the_toc_lists_the_exercises_in_order():
    toc = yaml.safe_load((REPO / "_toc.yml").read_text(encoding="utf-8"))
    part = next(p for p in toc["parts"] if p["caption"] == "Graded exercises")
    assert [c["file"] for c in part["chapters"]] == (
        ["book/exercises/how_to_submit"] + [f"exercises/{ASSIGNMENT}/{nb}" for nb in PARTS])


# ----------------------------------------------------------------------------
# nbgrader_config.py
# ----------------------------------------------------------------------------

def test_nbgrader_config(monkeypatch):
    from traitlets.config import Config

    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    config = Config()
    path = REPO / "nbgrader_config.py"
    exec(compile(path.read_text(), str(path), "exec"),
         {"get_config": lambda: config, "__file__": str(path)})
    assert config.CourseDirectory.course_id == "cnn-properties"
    assert config.CourseDirectory.source_directory == "solutions"
    assert config.CourseDirectory.release_directory == "exercises"
    assert 30 <= config.Execute.timeout <= 600
    # The kernels nbgrader starts can import autograder (hidden test cells).
    assert os.environ["PYTHONPATH"].split(os.pathsep) == [str(REPO), "/elsewhere"]


# ----------------------------------------------------------------------------
# cnnbook.exercise_checks
# ----------------------------------------------------------------------------

GOOD_CONV = (np.zeros((2, 3, 5, 6)), np.zeros((4, 3, 3, 2)), np.zeros(4), {"stride": 2, "pad": 1})


@pytest.mark.parametrize("change, message", [
    ({0: np.zeros((3, 5, 6))}, "x must have 4 axes (N, C, H, W), got shape (3, 5, 6) (add a batch"),
    ({0: np.zeros((2, 3, 5, 6), dtype=int)}, "x must hold floating point numbers"),
    ({1: np.zeros((4, 2, 3, 2))}, "x has C = 3 channels but w has shape (4, 2, 3, 2)"),
    ({2: np.zeros(3)}, "b needs one bias per filter, shape (4,), got (3,)"),
    ({2: [0.0] * 4}, "b must be a numpy array of shape (F,), got list"),
    ({3: {"stride": 1}}, "conv_param is missing the key(s) ['pad']"),
    ({3: {"stride": 0, "pad": 1}}, "conv_param['stride'] must be an integer >= 1, got 0"),
    ({3: {"stride": 1.5, "pad": 1}}, "conv_param['stride'] must be an integer >= 1, got 1.5"),
    ({3: {"stride": True, "pad": 1}}, "conv_param['stride'] must be an integer >= 1, got True"),
    ({3: {"stride": 1, "pad": -1}}, "conv_param['pad'] must be an integer >= 0, got -1"),
    ({3: (1, 1)}, "conv_param must be a dict with the keys ['stride', 'pad'], got tuple"),
    ({1: np.zeros((4, 3, 8, 2)), 3: {"stride": 1, "pad": 1}},
     "the filter height 8 is larger than the padded input height 5 + 2 * 1 = 7"),
])
def test_check_conv_inputs_names_the_problem(change, message):
    args = list(GOOD_CONV)
    for index, value in change.items():
        args[index] = value
    with pytest.raises(ExerciseInputError) as error:
        checks.check_conv_inputs(*args)
    assert message in str(error.value)
    assert str(error.value).startswith("conv_forward_naive: ")


def test_check_conv_inputs_accepts_good_input():
    checks.check_conv_inputs(*GOOD_CONV)
    x, w, b, _ = GOOD_CONV
    checks.check_conv_inputs(x.astype(np.float32), w, b, {"stride": np.int64(3), "pad": 0})


@pytest.mark.parametrize("x, pool_param, message", [
    (np.zeros((2, 3, 4, 4)), {"pool_height": 2, "stride": 2}, "missing the key(s) ['pool_width']"),
    (np.zeros((2, 3, 4, 4)), {"pool_height": 2, "pool_width": 0, "stride": 2},
     "pool_param['pool_width'] must be an integer >= 1, got 0"),
    (np.zeros((2, 3, 4, 3)), {"pool_height": 2, "pool_width": 4, "stride": 1},
     "pool_param['pool_width'] = 4 is larger than the input width 3"),
    (np.zeros((4, 4)), {"pool_height": 2, "pool_width": 2, "stride": 2}, "x must have 4 axes"),
])
def test_check_pool_inputs_names_the_problem(x, pool_param, message):
    with pytest.raises(ExerciseInputError, match=re.escape(message)):
        checks.check_pool_inputs(x, pool_param)
    checks.check_pool_inputs(np.zeros((1, 1, 3, 3)),
                             {"pool_height": 3, "pool_width": 2, "stride": 1})


@pytest.mark.parametrize("gamma, beta, bn_param, message", [
    (np.ones(3), np.zeros(3), {}, "missing the key(s) ['mode']"),
    (np.ones(3), np.zeros(3), {"mode": "eval"}, "bn_param['mode'] must be 'train' or 'test', got 'eval'"),
    (np.ones(3), np.zeros(3), {"mode": "train", "eps": 0}, "bn_param['eps'] must be a positive number"),
    (np.ones(3), np.zeros(3), {"mode": "train", "momentum": 1.5}, "bn_param['momentum'] must be a number in [0, 1]"),
    (np.ones((1, 3)), np.zeros(3), {"mode": "train"}, "gamma must have 1 axis (C,), got shape (1, 3)"),
    (np.ones(3), np.zeros(4), {"mode": "train"}, "beta needs one value per channel, shape (3,), got (4,)"),
    (np.ones(3), np.zeros(3), {"mode": "test", "running_mean": np.zeros(2)},
     "running_mean needs one value per channel, shape (3,), got (2,)"),
])
def test_check_bn_inputs_names_the_problem(gamma, beta, bn_param, message):
    with pytest.raises(ExerciseInputError, match=re.escape(message)):
        checks.check_bn_inputs(np.zeros((2, 3, 4, 4)), gamma, beta, bn_param)
    checks.check_bn_inputs(np.zeros((2, 3, 4, 4)), np.ones(3), np.zeros(3),
                           {"mode": "test", "running_mean": np.zeros(3), "running_var": np.ones(3)})


def test_check_dout():
    checks.check_dout(np.zeros((1, 2, 3, 4)), "conv_backward_naive")
    with pytest.raises(ExerciseInputError, match=re.escape("conv_backward_naive: dout must have 4 axes")):
        checks.check_dout(np.zeros((2, 3)), "conv_backward_naive")


def test_check_result_tuple():
    out, cache = checks.check_result_tuple((np.zeros(2), None), ("out", "cache"), "f")
    assert cache is None
    with pytest.raises(ExerciseCheckFailed, match="f returned None; it must return"):
        checks.check_result_tuple(None, ("out", "cache"), "f")
    with pytest.raises(ExerciseCheckFailed, match=re.escape("must return a tuple (out, cache), got ndarray")):
        checks.check_result_tuple(np.zeros(2), ("out", "cache"), "f")
    with pytest.raises(ExerciseCheckFailed, match="got a tuple of 3"):
        checks.check_result_tuple((1, 2, 3), ("dx", "dw"), "f")


def test_check_shape_and_dtype(capsys):
    checks.check_shape("out", np.zeros((2, 3)), (2, 3))
    with pytest.raises(ExerciseCheckFailed, match=re.escape("out has shape (2, 3), expected (3, 2)\nhint")):
        checks.check_shape("out", np.zeros((2, 3)), (3, 2), hint="hint")
    with pytest.raises(ExerciseCheckFailed, match="out is None: did you forget"):
        checks.check_shape("out", None, (3, 2))
    with pytest.raises(ExerciseCheckFailed, match="out must be a numpy array, got list"):
        checks.check_shape("out", [1, 2], (2,))
    checks.check_dtype("out", np.zeros(2, np.float32), np.float32)
    assert "ok  out: dtype float32" in capsys.readouterr().out
    with pytest.raises(ExerciseCheckFailed, match="dtype float64, expected the input's dtype float32"):
        checks.check_dtype("out", np.zeros(2), np.float32)


def test_check_close_reports_the_worst_entry(capsys):
    expected = np.arange(6.0).reshape(2, 3) + 1
    checks.check_close("out", expected + 1e-12, expected)
    assert "ok  out: relative error" in capsys.readouterr().out
    actual = expected.copy()
    actual[1, 2] = 7.5
    with pytest.raises(ExerciseCheckFailed) as failure:
        checks.check_close("out", actual, expected)
    assert str(failure.value) == ("out[1, 2] is 7.5, expected 6: relative error 1.1e-01 > tolerance 1e-07\n"
                                  "1 of 6 entries of out are off")
    with pytest.raises(ExerciseCheckFailed, match=re.escape("out[0, 1] is nan, expected 1: NaN and inf")):
        checks.check_close("out", np.array([[1.0, np.nan]]), np.ones((1, 2)))
    with pytest.raises(ExerciseCheckFailed, match="has shape"):
        checks.check_close("out", np.zeros(3), np.zeros(4))
    checks.check_close("loss", np.float64(2.0), 2.0)   # scalars are fine


def test_relative_errors_match_rel_error():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    assert checks.relative_errors(a, b).max() == pytest.approx(rel_error(a, b), rel=1e-15)
    # floor=1: an absolute error for small entries, a relative one for large ones
    assert checks.relative_errors([1e-3], [2e-3], floor=1.0)[0] == pytest.approx(1e-3)
    assert checks.relative_errors([100.0], [101.0], floor=1.0)[0] == pytest.approx(1 / 201)


def test_check_unmodified():
    x = np.ones(3)
    checks.check_unmodified("x", x.copy(), x)
    before = x.copy()
    x[0] = 2
    with pytest.raises(ExerciseCheckFailed, match=re.escape("modified its input x[0]: it is 2, was 1")):
        checks.check_unmodified("x", before, x)
