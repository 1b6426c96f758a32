"""Fast tests of the autograder's pieces: notebooks, protocol, secret, comparisons, oracle,
checks (run in-process on correct and buggy implementations), feedback and tampering evidence."""
import copy
import io
import json
import struct
from pathlib import Path

import nbformat
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]

import corpus
from autograder.checks import checking, oracle, secret
from autograder.in_sandbox import wire
from autograder.nbgrader_io import autograded, cells, release, submission
from autograder.notebook import grade_part
from autograder.checks.parts import ASSIGNMENTS, assignment_parts
from autograder.checks.feedback import part_feedback
from autograder.checks.runner import CheckResult, PartResult, check_weights, run_checks
from autograder.isolation.student import DirectStudent, StudentError
from cnnbook.gradient_check import eval_numerical_gradient_array

SOLUTIONS = REPO / "solutions" / "numpy_cnn"
RELEASE = REPO / "exercises" / "numpy_cnn"
# The points of each part's test cell in the release: a new part needs no entry here.
POINTS = release.load_release(RELEASE, assignment_parts("numpy_cnn")).points
SECRET = b"unit-test-secret"


# ---------------------------------------------------------------------------
# Notebooks
# ---------------------------------------------------------------------------

def test_read_notebook_explains_what_is_wrong(tmp_path):
    with pytest.raises(cells.NotebookError, match="no such notebook"):
        cells.read_notebook(tmp_path / "missing.ipynb")
    broken = tmp_path / "broken.ipynb"
    broken.write_text('{"cells": [', encoding="utf-8")
    with pytest.raises(cells.NotebookError, match="not a readable Jupyter notebook"):
        cells.read_notebook(broken)
    binary = tmp_path / "binary.ipynb"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(cells.NotebookError, match="binary.ipynb"):
        cells.read_notebook(binary)


def _notebook(*cell_specs):
    notebook = nbformat.v4.new_notebook()
    for source, meta in cell_specs:
        cell = nbformat.v4.new_code_cell(source)
        if meta:
            cell.metadata["nbgrader"] = meta
        notebook.cells.append(cell)
    return notebook


def test_cells_by_grade_id_and_setup_statements():
    notebook = _notebook(
        ("%matplotlib inline\nimport numpy as np\nx = np.zeros(3)\ntry:\n    import cnnbook\nexcept ImportError:\n    pass", None),
        ("def f():\n    return 1", {"grade_id": "f", "solution": True, "grade": False}),
        ("assert f() == 1", {"grade_id": "test_f", "solution": False, "grade": True, "points": 2}),
    )
    assert list(cells.answer_cells(notebook)) == ["f"]
    assert list(cells.test_cells(notebook)) == ["test_f"]
    assert cells.setup_statements(notebook) == ["import numpy as np"]
    assert cells.defined_names("import os\ndef f(): pass\nclass K: pass") == {"f", "K"}
    assert cells.strip_magics("%time x = 1\n!ls\ny = 2") == "# %time x = 1\n# !ls\ny = 2"
    with pytest.raises(cells.NotebookError, match="no cell with grade_id 'g'"):
        cells.find_cell(notebook, "g")


@pytest.mark.skipif(not SOLUTIONS.is_dir(), reason="solutions/numpy_cnn not written yet")
def test_solution_namespace_gives_the_reference_layers():
    namespace = cells.solution_namespace(SOLUTIONS / "convolution.ipynb", ["conv_forward_naive"])
    x, w, b = np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)), np.zeros(1)
    out, _ = namespace["conv_forward_naive"](x, w, b, {"stride": 1, "pad": 0})
    assert np.array_equal(out, np.full((1, 1, 2, 2), 4.0))


# ---------------------------------------------------------------------------
# Protocol
# ---------------------------------------------------------------------------

def _roundtrip(value, make_ref=None):
    stream = io.BytesIO()
    arrays = []
    node = wire.encode(value, arrays, make_ref or (lambda obj: {"r": 7, "type": type(obj).__name__}))
    wire.write_message(stream, {"value": node}, arrays)
    stream.seek(0)
    header, arrays = wire.read_message(lambda n: stream.read(n))
    return wire.decode(header["value"], arrays, wire.RemoteRef)


def test_wire_round_trip_keeps_structure_dtypes_and_references():
    value = (np.arange(6, dtype=np.float32).reshape(2, 3), {"stride": 2, "eps": 1e-5, "mode": "train"},
             [None, True, np.float64(1.5)], object())
    out = _roundtrip(value)
    assert type(out) is tuple and out[0].dtype == np.float32 and np.array_equal(out[0], value[0])
    assert out[1] == value[1] and out[2][:2] == [None, True] and out[2][2] == 1.5
    assert isinstance(out[3], wire.RemoteRef) and out[3].type_name == "object"


def test_wire_sends_object_arrays_by_reference_only():
    out = _roundtrip(np.array([{"a": 1}], dtype=object))
    assert isinstance(out, wire.RemoteRef)


def _frame(header, blobs=()):
    data = json.dumps(dict(header, n_arrays=len(blobs))).encode()
    parts = [struct.pack(">Q", len(data)), data]
    for blob in blobs:
        parts += [struct.pack(">Q", len(blob)), blob]
    stream = io.BytesIO(b"".join(parts))
    return lambda n: stream.read(n)


def test_wire_rejects_pickles_oversized_and_malformed_messages():
    pickled = io.BytesIO()
    np.save(pickled, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(wire.ProtocolError, match="unreadable array"):
        wire.read_message(_frame({}, [pickled.getvalue()]))
    with pytest.raises(wire.ProtocolError, match="exceeds the limit"):
        wire.read_message(lambda n: struct.pack(">Q", 1 << 40) if n == 8 else b"")
    with pytest.raises(wire.ProtocolError, match="not JSON"):
        stream = io.BytesIO(struct.pack(">Q", 3) + b"{{{")
        wire.read_message(lambda n: stream.read(n))
    with pytest.raises(wire.ProtocolError):
        wire.decode({"a": 3}, [], wire.RemoteRef)
    with pytest.raises(wire.ProtocolError):
        wire.decode({"zz": 1}, [], wire.RemoteRef)


# ---------------------------------------------------------------------------
# Secret and seeds
# ---------------------------------------------------------------------------

def test_secret_from_environment_or_a_private_file(tmp_path, monkeypatch):
    monkeypatch.setenv(secret.ENV_VAR, "from-env")
    assert secret.course_secret() == b"from-env"
    monkeypatch.delenv(secret.ENV_VAR)
    monkeypatch.setattr(secret, "SECRET_FILE", tmp_path / ".secret")
    first = secret.course_secret()
    assert len(first) == 64 and secret.course_secret() == first
    assert (tmp_path / ".secret").stat().st_mode & 0o777 == 0o600


def test_case_seeds_depend_on_secret_part_and_check():
    seeds = {secret.case_seed(s, p, c) for s in (b"a", b"b") for p in ("p", "q") for c in ("x", "y")}
    assert len(seeds) == 8
    assert secret.case_seed(b"a", "p", "x") == secret.case_seed(b"a", "p", "x")


# ---------------------------------------------------------------------------
# Comparisons
# ---------------------------------------------------------------------------

def test_relative_error_follows_cs231n_with_a_floor_at_the_array_scale():
    expected = np.array([1.0, -2.0, 1e-12])
    errors = checking.relative_errors(np.array([1.0, -2.0 * (1 + 1e-9), 2e-12]), expected, checking.FORWARD)
    assert errors[0] == 0 and errors[1] == pytest.approx(5e-10, rel=1e-3)
    assert errors[2] < 1e-6  # rounding noise around zero is judged at the array's scale


def test_verifier_messages_name_the_problem_but_never_the_values():
    verify = checking.Verifier()
    expected = np.arange(24.0).reshape(2, 3, 4) + 0.123456
    wrong = expected.copy()
    wrong[1, 2, 3] += 5
    with pytest.raises(checking.CheckFailed) as failure:
        verify.close("out", wrong, expected, checking.FORWARD)
    message = str(failure.value)
    assert "index (1, 2, 3)" in message and "1 of 24 entries" in message and "0.123" not in message
    with pytest.raises(checking.CheckFailed, match=r"has shape \(2, 3\), expected \(2, 3, 4\)"):
        verify.close("out", expected[:, :, 0], expected, checking.FORWARD)
    with pytest.raises(checking.CheckFailed, match="dtype float64, expected float32"):
        verify.close("out", expected, expected, checking.FORWARD, np.float32)
    with pytest.raises(checking.CheckFailed, match="NaN"):
        verify.array("out", np.array([np.nan]), (1,))
    with pytest.raises(checking.CheckFailed, match="returned None"):
        verify.result(None, ("out", "cache"), "f")
    with pytest.raises(checking.CheckFailed, match="must return \\(out, cache\\); it returned a ndarray"):
        verify.result(np.zeros(2), ("out", "cache"), "f")
    with pytest.raises(checking.CheckFailed, match="modified its input x"):
        verify.unchanged("x", np.zeros(2), np.ones(2))
    with pytest.raises(checking.CheckFailed, match="removed the key 'pad'"):
        verify.unchanged("conv_param", {"pad": 1}, {})


# ---------------------------------------------------------------------------
# Oracle against numeric gradients
# ---------------------------------------------------------------------------

def _numeric(f, x, dout):
    return eval_numerical_gradient_array(lambda _: f(), x, dout)


def test_oracle_convolution_gradients_match_numeric_ones():
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 2, 5, 6)), rng.standard_normal((3, 2, 3, 2)), rng.standard_normal(3)
    stride, pad = 2, 1
    dout = rng.standard_normal(oracle.conv_forward(x, w, b, stride, pad).shape)
    dx, dw, db = oracle.conv_backward(x, w, b, stride, pad, dout)
    forward = lambda: oracle.conv_forward(x, w, b, stride, pad)  # noqa: E731
    for analytic, param in ((dx, x), (dw, w), (db, b)):
        assert checking.relative_errors(analytic, _numeric(forward, param, dout), checking.BACKWARD).max() < 1e-7


def test_oracle_pool_and_batchnorm_gradients_match_numeric_ones():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 2, 7, 8))
    dout = rng.standard_normal(oracle.max_pool_forward(x, 3, 2, 2).shape)
    numeric = _numeric(lambda: oracle.max_pool_forward(x, 3, 2, 2), x, dout)
    assert checking.relative_errors(oracle.max_pool_backward(x, 3, 2, 2, dout), numeric, checking.BACKWARD).max() < 1e-7
    gamma, beta, eps = rng.uniform(0.5, 2, 2), rng.standard_normal(2), 1e-5
    dout = rng.standard_normal(x.shape)
    dx, dgamma, dbeta = oracle.batchnorm_backward(x, gamma, beta, eps, dout)
    forward = lambda: oracle.batchnorm_train(x, gamma, beta, eps)[0]  # noqa: E731
    for analytic, param in ((dx, x), (dgamma, gamma), (dbeta, beta)):
        assert checking.relative_errors(analytic, _numeric(forward, param, dout), checking.BACKWARD).max() < 1e-6
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    assert np.allclose(oracle.batchnorm_test(x, gamma, beta, mean, var, eps), forward())


def test_oracle_convnet_gradients_match_numeric_ones():
    rng = np.random.default_rng(2)
    shapes = {"W1": (2, 1, 3, 3), "b1": (2,), "W2": (2 * 2 * 3, 4), "b2": (4,), "W3": (4, 3), "b3": (3,)}
    params = {name: 0.5 * rng.standard_normal(shape) for name, shape in shapes.items()}
    X, y = rng.standard_normal((3, 1, 4, 6)), np.array([0, 2, 1])
    loss, grads = oracle.convnet(params, X, y, reg=0.2)
    assert oracle.convnet(params, X).shape == (3, 3)
    for name in shapes:
        numeric = eval_numerical_gradient_array(lambda _: np.array(oracle.convnet(params, X, y, reg=0.2)[0]),
                                                params[name], np.array(1.0))
        assert checking.relative_errors(grads[name], numeric, checking.Tolerance(1e-5, 1e-3)).max() < 1e-5


# ---------------------------------------------------------------------------
# Hidden checks, run in-process on correct and buggy code
# ---------------------------------------------------------------------------

def _namespace(sources, setup=()):
    namespace = {"__name__": "__main__"}
    for statement in setup:
        exec(statement, namespace)
    for part in POINTS:
        exec(compile(sources[part], f"<answer cell {part}>", "exec"), namespace)
    return namespace


def _grade(sources, setup=(), parts=POINTS):
    namespace = _namespace(sources, setup)
    log = []
    results = run_checks({p: POINTS[p] for p in parts}, lambda part: DirectStudent(namespace), SECRET, log)
    assert not log
    return results


def _weights(part):
    """{check name: weight} read from the check module's ``@pytest.mark.weight(w)`` decorators."""
    return {name: weight for name, _title, weight in check_weights(part)}


def _expected(part, failing):
    weights = _weights(part)
    assert set(failing) <= set(weights)
    return round(POINTS[part] * sum(w for n, w in weights.items() if n not in failing) / sum(weights.values()), 4)


# Which checks each typical bug fails: only its own part's (a backward check builds its own cache), and
# no "left unmodified" advice unless the call raises: none of these bugs touches its inputs (a wrong result
# is not a modified input).
BUG_FAILURES = {
    "missing_bias": {"conv_forward_naive": ["test_stride_1_pad_1", "test_pad_0", "test_stride_2_odd_non_square_input",
                                            "test_stride_3_pad_2_non_square_kernel", "test_one_image_one_channel",
                                            "test_float32"]},
    "square_kernel": {"conv_forward_naive": ["test_stride_3_pad_2_non_square_kernel", "test_one_image_one_channel"]},
    "stride_ignored_backward": {"conv_backward_naive": ["test_stride_2_odd_non_square_input",
                                                        "test_stride_3_pad_2_non_square_kernel", "test_float32"]},
    "pad_slice": {"conv_backward_naive": ["test_pad_0"]},
    "square_pool_window": {"max_pool_forward_naive": ["test_non_square_window_odd_input"]},
    "pool_overwrite": {"max_pool_backward_naive": ["test_overlapping_windows_accumulate"]},
    "pool_mask_ties": {"max_pool_backward_naive": ["test_ties_go_to_the_first_maximum"]},
    "per_pixel_bn": {"spatial_batchnorm_forward": ["test_train_output", "test_running_averages_updated",
                                                   "test_one_image_one_channel", "test_float32",
                                                   "test_inputs_unmodified"]},   # it raises there
    "running_not_updated": {"spatial_batchnorm_forward": ["test_running_averages_updated"]},
    "dgamma_wrong": {"spatial_batchnorm_backward": ["test_dgamma", "test_one_image_one_channel", "test_float32",
                                                    "test_test_mode"]},
    "reg_missing_in_grads": {"three_layer_convnet": ["test_regularisation", "test_gradients_match_own_loss"]},
}


def corpus_failures(bug, part):
    return BUG_FAILURES[bug][part]


def expected_points(failures):
    return {part: _expected(part, failures.get(part, [])) for part in POINTS}


def test_every_bug_of_the_corpus_has_an_expectation():
    assert set(BUG_FAILURES) == set(corpus.BUGS)


def test_reference_implementation_earns_every_point():
    results = _grade(corpus.REFERENCE)
    assert {part: r.points for part, r in results.items()} == POINTS


@pytest.mark.parametrize("bug", sorted(corpus.BUGS))
def test_typical_bug_loses_exactly_its_checks(bug):
    """Only the buggy part and the parts that load it are graded: the others are the reference's."""
    part, source = corpus.BUGS[bug]
    affected = {part, *BUG_FAILURES[bug]}
    results = _grade({**corpus.REFERENCE, part: source}, parts=affected)
    failing = {p: sorted(c.name for c in r.checks if not c.passed) for p, r in results.items()}
    assert {p: f for p, f in failing.items() if f} == {p: sorted(f) for p, f in BUG_FAILURES[bug].items()}
    expected = expected_points(BUG_FAILURES[bug])
    assert {p: r.points for p, r in results.items()} == {p: expected[p] for p in affected}


@pytest.mark.skipif(not SOLUTIONS.is_dir(), reason="solutions/numpy_cnn not written yet")
def test_instructor_solutions_earn_every_point():
    setup = [s for path in sorted(SOLUTIONS.glob("*.ipynb")) for s in cells.setup_statements(cells.read_notebook(path))]
    results = _grade(corpus.solution_answers(SOLUTIONS), setup)
    assert {p: r.points for p, r in results.items()} == POINTS


def test_checks_say_what_the_students_code_raised():
    sources = dict(corpus.REFERENCE, conv_forward_naive="def conv_forward_naive(x, w, b, conv_param):\n"
                                                         "    raise NotImplementedError('write me')\n")
    result = _grade(sources, parts=["conv_forward_naive"])["conv_forward_naive"]
    assert result.points == 0
    assert all(c.message.startswith('your code raised NotImplementedError: "write me" (in answer cell '
                                    "conv_forward_naive, line 2") for c in result.checks)


def test_every_part_has_a_check_module_whose_weights_sum_to_ten():
    """Ten weight units per part: a check of weight w is worth w tenths of the part's points."""
    for part in assignment_parts("numpy_cnn"):
        checks = check_weights(part.name)
        assert sum(weight for _, _, weight in checks) == 10, part.name
        assert all(title and not title.startswith("test_") for _, title, _ in checks)
    assert set(ASSIGNMENTS) == {"numpy_cnn"}


# ---------------------------------------------------------------------------
# grade_part: the path plain nbgrader uses
# ---------------------------------------------------------------------------

def test_grade_part_prints_to_stdout_only_and_returns_the_points(capsys, monkeypatch):
    monkeypatch.setenv(secret.ENV_VAR, "kernel-secret")
    namespace = _namespace(dict(corpus.REFERENCE, **{"max_pool_backward_naive": corpus.BUGS["pool_overwrite"][1]}))
    points = grade_part("max_pool_backward_naive", namespace, max_points=10)
    captured = capsys.readouterr()
    assert captured.err == ""
    assert type(points) is float and points == _expected("max_pool_backward_naive",
                                                         corpus_failures("pool_overwrite", "max_pool_backward_naive"))
    assert "max_pool_backward_naive: 7 / 10 points" in captured.out and "[FAIL]" in captured.out


def test_grade_part_without_the_function_scores_zero(capsys, monkeypatch):
    monkeypatch.setenv(secret.ENV_VAR, "kernel-secret")
    assert grade_part("conv_forward_naive", {}, max_points=10) == 0.0
    assert "name 'conv_forward_naive' is not defined" in capsys.readouterr().out


def test_direct_student_copies_arguments_both_ways():
    seen = {}

    def mutate(x):
        seen["x"] = x
        x += 1
        return x, object()

    student = DirectStudent({"mutate": mutate})
    original = np.zeros(3)
    tracked = student.call_tracked("mutate", original, _keep=(1,), _again=True)
    assert np.array_equal(original, np.zeros(3)) and np.array_equal(tracked.args[0], np.full(3, 2.0))
    # The function returned its own argument: both results are that object after the second call.
    assert np.array_equal(tracked.value[0], np.full(3, 2.0)) and np.array_equal(tracked.again[0], np.full(3, 2.0))
    assert seen["x"] is not original and isinstance(tracked.value[1], wire.RemoteRef)
    with pytest.raises(StudentError, match="is not defined"):
        student.call("missing")


# ---------------------------------------------------------------------------
# Feedback, submissions and autograded notebooks
# ---------------------------------------------------------------------------

def test_feedback_repeats_no_failure_message_twice():
    result = PartResult("p", 10, [CheckResult("a", "first", 1, False, "raised X"),
                                  CheckResult("b", "second", 1, False, "raised X"),
                                  CheckResult("c", "third", 2, True, notes=["out ok"])])
    lines = part_feedback(result)
    assert lines[0] == "p: 5 / 10 points"
    assert lines[1:] == ["  [FAIL] first (weight 1): raised X", "  [FAIL] second (weight 1): the same",
                         "  [pass] third (weight 2): out ok"]


def _release_notebook():
    notebook = _notebook(
        ("import numpy as np", None),
        ("def f(x):\n    raise NotImplementedError", {"grade_id": "conv_forward_naive", "solution": True,
                                                     "grade": False, "locked": False}),
        ("assert True", {"grade_id": "test_conv_forward_naive", "solution": False, "grade": True,
                         "locked": True, "points": 10}),
    )
    notebook.cells[1]["id"] = "answer-cell"
    part = assignment_parts("numpy_cnn")[0]
    nb = release.ReleaseNotebook("convolution", notebook, cells.answer_cells(notebook),
                                    cells.test_cells(notebook), cells.setup_statements(notebook), [part])
    return nb, part


def test_answer_cells_are_found_without_their_metadata():
    release_nb, part = _release_notebook()
    student = copy.deepcopy(release_nb.notebook)
    student.cells[1].source = "def conv_forward_naive(x):\n    return x"
    found = submission.locate_answer(student, release_nb.answers[part.name], part)
    assert found.index == 1 and found.note == ""
    del student.cells[1].metadata["nbgrader"]
    found = submission.locate_answer(student, release_nb.answers[part.name], part)
    assert found.index == 1 and "cell id" in found.note
    student.cells[1]["id"] = "changed"
    student.cells.append(nbformat.v4.new_code_cell("x = 1"))
    found = submission.locate_answer(student, release_nb.answers[part.name], part)
    assert found.index == 1 and "last cell defining conv_forward_naive" in found.note
    student.cells[1].source = "pass"
    assert submission.locate_answer(student, release_nb.answers[part.name], part) is None


def test_tampering_leaves_evidence():
    release_nb, _ = _release_notebook()
    student = copy.deepcopy(release_nb.notebook)
    assert submission.integrity_flags(student, release_nb) == []
    student.cells[2].source = "pass"
    student.cells[2].metadata["nbgrader"]["points"] = 1000
    student.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="10 / 10 points")]
    flags = submission.integrity_flags(student, release_nb)
    assert any("was edited" in f for f in flags) and any("changed to 1000" in f for f in flags)
    assert any("looks like an autograder score" in f for f in flags)
    del student.cells[2]
    del student.cells[1].metadata["nbgrader"]
    flags = submission.integrity_flags(student, release_nb)
    assert any("deleted" in f for f in flags) and any("lost its nbgrader metadata" in f for f in flags)


def test_claimed_pass_reads_the_submitted_outputs():
    release_nb, _ = _release_notebook()
    student = copy.deepcopy(release_nb.notebook)
    assert submission.claimed_pass(student, "test_conv_forward_naive") is None
    student.cells[2].execution_count = 3
    assert submission.claimed_pass(student, "test_conv_forward_naive") is True
    student.cells[2].outputs = [nbformat.v4.new_output("error", ename="E", evalue="", traceback=[])]
    assert submission.claimed_pass(student, "test_conv_forward_naive") is False


def test_needed_setup_keeps_only_what_the_answers_use():
    statements = ["import numpy as np", "from cnnbook.data import load_dataset", "import matplotlib.pyplot as plt"]
    assert submission.needed_setup(statements, ["def f(x):\n    return np.zeros(3)"]) == ["import numpy as np"]
    assert submission.needed_setup(statements, ["def f(:"]) == statements


def test_autograded_notebook_restores_deleted_and_edited_test_cells():
    release_nb, part = _release_notebook()
    student = copy.deepcopy(release_nb.notebook)
    student.cells[1].source = "def conv_forward_naive(x):\n    return x"
    del student.cells[1].metadata["nbgrader"]
    del student.cells[2]
    located = {part.name: submission.locate_answer(student, release_nb.answers[part.name], part)}
    result = PartResult(part.name, 10, [CheckResult("a", "check", 1, True, notes=["fine"])])
    built = autograded.build(release_nb, student, located, {part.name: result})
    assert [cells.grade_id(c) for c in built.cells] == [None, "conv_forward_naive", "test_conv_forward_naive"]
    assert cells.cell_source(built.cells[1]).startswith("def conv_forward_naive")
    test = built.cells[2]
    assert test.outputs[0]["text"].startswith("conv_forward_naive: 10 / 10 points")
    assert test.outputs[1]["data"]["text/plain"] == "10.0"


def test_error_reports_from_the_worker_are_cut_to_short_strings():
    error = StudentError({"type": ["not", "a", "string"], "message": "m" * 10_000, "file": {"x": 1}, "line": "2"})
    assert error.describe() == 'raised Exception: "' + "m" * 60 + '"'
    assert StudentError("not a dict").describe() == "raised Exception"


def test_the_inputs_advice_blames_a_modified_input_and_not_a_wrong_result():
    # Zeroing x after computing out: right results, but a second call on the very same x differs.
    source = corpus.REFERENCE["conv_forward_naive"]
    modifies = source.replace("    return out, (x, w, b, conv_param)", "    x[...] = 0\n    return out, (x, w, b, conv_param)")
    part, wrong = corpus.BUGS["missing_bias"]
    for code, advice_passes in ((modifies, False), (wrong, True)):
        namespace = {"__name__": "__main__"}
        exec(compile(code, "<answer cell conv_forward_naive>", "exec"), namespace)
        checks = {check.name: check for check in run_checks({part: POINTS[part]}, lambda _p: DirectStudent(namespace),
                                                            SECRET)[part].checks}
        advice = checks["test_inputs_unmodified"]
        assert advice.passed is advice_passes and advice.weight == 0, advice
        if not advice_passes:
            assert advice.message.startswith("the call modified its input x"), advice.message
            assert all(check.passed for name, check in checks.items() if name != "test_inputs_unmodified")
