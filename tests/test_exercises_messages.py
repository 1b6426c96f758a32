"""A visible check's failure survives every place a student reads it.

The first line says what is wrong, where (the index), what the code gave, what was expected and
the tolerance, and fits ``FIRST_LINE_LIMIT``: what ``nbgrader validate`` shows of a line (its rule
is read from nbgrader itself below).  In a notebook the message comes first, without frames of
cnnbook before it (IPython renders both exception classes through ``_render_traceback_``).  The
slow test runs the real ``nbgrader validate`` on buggy submissions and finds the index and the
values there, and the same verdict as ``check_all``.
"""
import re

import nbformat
import numpy as np
import pytest
from nbgrader.validator import Validator

import corpus
from cnnbook import exercise_checks, visible_checks
from cnnbook.exercise_checks import FIRST_LINE_LIMIT, ExerciseCheckFailed, ExerciseInputError

from test_exercises import RELEASE, nbgrader_command
from test_exercises_blame import answers_namespace, defined_name

ANSI = re.compile(r"\x1b\[[0-9;]*m")
# The first line of a wrong value: "<name>[<index>] is <got>, expected|not <expected> (...<error> > <tol>)".
MISMATCH = re.compile(r"^(?P<what>.+?) is (?P<got>\S+), (?:expected|not) (?P<expected>[^\s:]+)[:( ].*?"
                      r"(?:> (?:tolerance )?|\(tolerance )(?P<tol>\d(?:\.\d+)?e[-+]\d+)\)?$")


def shown_by_validate(line):
    """What nbgrader validate prints of one line of an error (its own code, not a copy of it)."""
    return Validator()._indent(line)


def test_validate_cuts_each_line_after_83_characters_and_the_limit_is_within():
    kept = len(shown_by_validate("x" * 200).rstrip(".")) - len(Validator().indent)
    assert kept == Validator().width - 3 - len(Validator().indent) == 83
    assert FIRST_LINE_LIMIT <= kept
    line = "y" * FIRST_LINE_LIMIT
    assert shown_by_validate(line) == Validator().indent + line


# Every name a visible check compares, at its longest index and with values that need many digits.
COMPARED = {"out": 4, "dx": 4, "dw": 4, "db": 1, "dgamma": 1, "dbeta": 1, "bn_param['running_mean']": 1,
            "bn_param['running_var']": 1, "grads['W1']": 4, "grads['W2']": 2, "params['b1']": 1,
            "mean of out per channel": 1, "std of out per channel": 1, "loss": 0,
            "loss(reg=0.7) - loss(reg=0)": 0, "std of the initial weights": 0}


@pytest.mark.parametrize("name, axes", COMPARED.items())
def test_the_first_line_of_a_wrong_value_fits_and_names_everything(name, axes):
    index = (12,) * axes
    what = exercise_checks.entry_name(name, index)
    for got, expected, error, tol in [(-1.23456789e-05, 123456.789, 0.99999, 1e-8), (0.5, -0.25, 1.0, 1e-12)]:
        line = exercise_checks.mismatch_line(what, got, expected, error, tol)
        assert len(line) <= FIRST_LINE_LIMIT, line
        found = MISMATCH.match(line)
        assert found and found["what"] == what, line
        assert float(found["got"]) == pytest.approx(got, rel=1e-2) and float(found["expected"]) == pytest.approx(
            expected, rel=1e-2)
        assert float(found["tol"]) == tol


def test_a_check_failure_renders_as_its_message_first_line_first():
    with pytest.raises(ExerciseCheckFailed) as failure:
        exercise_checks.check_close("dx", np.array([[1.0, 2.0]]), [[1.0, 3.0]], tol=1e-6, against="conv_backward_fast")
    failure.value.add_context("conv_backward_naive, case 2 of 3: x (2, 2, 7, 5), w (3, 2, 3, 3), stride 2, pad 0")
    rendered = [ANSI.sub("", line) for line in failure.value._render_traceback_()]
    assert rendered[0] == "dx[0, 1] is 2, expected 3: relative error 2.0e-01 > tolerance 1e-06"
    assert rendered[1].startswith("  conv_backward_naive, case 2 of 3:")
    assert "  compared with conv_backward_fast" in rendered and "  1 of 2 entries of dx are off" in rendered
    assert all(len(line) <= FIRST_LINE_LIMIT for line in rendered)
    assert not any("Traceback" in line or "File " in line for line in rendered)
    assert str(failure.value).split("\n")[0] == rendered[0]      # outside IPython: the same first line


def test_an_input_error_renders_its_message_then_the_callers_lines():
    def my_layer(x):
        exercise_checks.check_conv_inputs(x, x, x, {"stride": 0, "pad": 1})

    with pytest.raises(ExerciseInputError) as failure:
        my_layer(None)
    rendered = [ANSI.sub("", line) for line in failure.value._render_traceback_()]
    assert rendered[0] == "conv_forward_naive: conv_param['stride'] must be an integer >= 1, got 0"
    assert rendered[1] == "  called from:"
    callers = re.sub(r"\s+", " ", " ".join(rendered[2:]))
    assert "in my_layer: exercise_checks.check_conv_inputs(x, x, x" in callers and "my_layer(None)" in callers
    assert "exercise_checks.py" not in callers


# ---------------------------------------------------------------------------
# nbgrader validate on buggy submissions
# ---------------------------------------------------------------------------

def buggy_notebook(bug, folder):
    """The release notebook holding ``bug``'s part, answered from the corpus, as a student would submit it."""
    part, source = corpus.BUGS[bug]
    notebook = next(nb for nb, names in visible_checks.NOTEBOOKS.items() if defined_name(part) in names)
    nb = nbformat.read(RELEASE / f"{notebook}.ipynb", as_version=4)
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution"):
            cell.source = source if meta["grade_id"] == part else corpus.REFERENCE[meta["grade_id"]]
    path = folder / f"{notebook}.ipynb"
    nbformat.write(nb, path)
    return path, notebook, answers_namespace({**corpus.REFERENCE, part: source})


def error_blocks(stdout):
    """``[(failed cell's source, its error's lines as printed)]`` from validate's output."""
    blocks = []
    for section in stdout.split("The following cell failed:")[1:]:
        source, error = section.split("The error was:")
        blocks.append((source, error.split("=" * Validator().width)[0].strip("\n").splitlines()))
    return blocks


@pytest.mark.slow
@pytest.mark.parametrize("bug", ["stride_ignored_backward", "running_not_updated", "pool_mask_ties"])
def test_nbgrader_validate_shows_the_index_and_the_values(bug, tmp_path):
    path, notebook, namespace = buggy_notebook(bug, tmp_path)
    verdicts = {name: visible_checks.verdict(name, namespace[name]) for name in visible_checks.NOTEBOOKS[notebook]}
    failing = {name: text[len("FAIL  "):] for name, text in verdicts.items() if text != "ok"}
    ((name, first_line),) = failing.items()
    expected = MISMATCH.match(first_line)
    assert expected, first_line

    result = nbgrader_command("validate", str(path))
    assert result.returncode == 0, result.stderr[-4000:]
    assert "VALIDATION FAILED ON 1 CELL(S)!" in result.stdout, result.stdout[-4000:]
    ((source, error),) = error_blocks(result.stdout)
    assert f"{visible_checks.CHECKS[name].__name__}({name})" in source
    # The message comes first and whole: the index, the values and the tolerance, nothing cut.
    assert error[0] == Validator().indent + first_line
    for key in ("what", "got", "expected", "tol"):
        assert expected[key] in error[0]
    assert not [line for line in error if line.endswith("...") or re.search(r"cnnbook/\w+\.py:\d+", line)]
    assert error[1].strip().startswith(f"{name}, ")      # then the function and the case


def test_check_all_fails_a_function_that_writes_a_warning_as_validate_would_every_time():
    """nbgrader fails a test cell that writes to stderr: check_all says so, run after run."""
    correct = answers_namespace(corpus.REFERENCE)["conv_forward_naive"]

    def noisy(x, w, b, conv_param):
        np.log(np.zeros(1))         # a RuntimeWarning, shown once per place in a fresh kernel
        return correct(x, w, b, conv_param)

    for _ in range(2):
        assert visible_checks.verdict("conv_forward_naive", noisy).startswith(
            "FAIL  wrote to stderr (nbgrader validate fails such a cell): ")
    assert visible_checks.verdict("conv_forward_naive", correct) == "ok"
    assert visible_checks.verdict("conv_forward_naive", None) == "not defined: run its answer cell first"
