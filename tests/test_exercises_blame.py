"""Every typical bug of the corpus fails exactly the visible checks of the function it is in.

A student who makes a bug in ``conv_forward_naive`` must see the forward check fail and the
backward check pass: a backward check that ran on the student's forward pass sent students
looking for a bug that was not there.  Two layers of evidence:

* in this process, :func:`cnnbook.visible_checks.verdict` of every graded function, for every
  bug of ``corpus.BUGS`` planted in the corpus's correct answers (fast);
* through a real kernel (nbclient), the release notebook that holds the bug, run from top to
  bottom once per bug: the check cells that fail are exactly those of the bug's function, the
  last cell (``check_all``) says the same in one line per function, and every failure shows its
  message with no frame of cnnbook before it (slow: one kernel per bug, about 4 s each).

The corpus's answers are whole answer cells without the release's provided first line (the input
check), so the bad-input demonstration cells do not apply to them and are not looked at.
"""
import re

import nbformat
import pytest
from nbclient import NotebookClient

import corpus
from autograder.checks.parts import assignment_parts
from cnnbook import visible_checks
from cnnbook.exercise_checks import FIRST_LINE_LIMIT

from test_exercises import RELEASE

PARTS = {part.name: part for part in assignment_parts("numpy_cnn")}
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# How IPython names a frame of a file: "File /path/cnnbook/visible_checks.py:122, in ...".
LIBRARY_FRAME = re.compile(r"cnnbook/\w+\.py:\d+")
KERNEL_TIMEOUT_S = 300


def defined_name(part):
    return PARTS[part].defines


def notebook_of(part):
    return next(nb for nb, names in visible_checks.NOTEBOOKS.items() if defined_name(part) in names)


def answers_namespace(sources):
    """The corpus's answer cells, run as the sandbox would run them (no release setup needed)."""
    namespace = {"__name__": "__answers__"}
    for source in sources.values():
        exec(compile(source, "<answer cell>", "exec"), namespace)
    return namespace


def verdicts(namespace, notebook):
    return {name: visible_checks.verdict(name, namespace.get(name)) for name in visible_checks.NOTEBOOKS[notebook]}


def test_the_correct_answers_pass_every_visible_check():
    namespace = answers_namespace(corpus.REFERENCE)
    for notebook in visible_checks.NOTEBOOKS:
        assert set(verdicts(namespace, notebook).values()) == {"ok"}, notebook


@pytest.mark.parametrize("bug", sorted(corpus.BUGS))
def test_a_bug_fails_the_visible_check_of_its_own_function_only(bug):
    part, source = corpus.BUGS[bug]
    namespace = answers_namespace({**corpus.REFERENCE, part: source})
    found = verdicts(namespace, notebook_of(part))
    assert {name for name, text in found.items() if text != "ok"} == {defined_name(part)}, found


# ---------------------------------------------------------------------------
# Through the release notebooks and a kernel
# ---------------------------------------------------------------------------

def grade_id(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")


def checked_function(gid):
    """The graded function whose check a cell is, by its grade_id: ``test_<part>``, ``check_<stem>_example``."""
    if gid.startswith("test_") and gid[len("test_"):] in PARTS:
        return defined_name(gid[len("test_"):])
    match = re.fullmatch(r"check_(.+)_example", gid)
    if match:
        (part,) = [p for p in PARTS if p.startswith(match.group(1))]
        return defined_name(part)
    return None


def run_release_with(part, source, folder):
    """The release notebook holding ``part``, every answer from the corpus, ``source`` for ``part``; executed."""
    notebook = notebook_of(part)
    nb = nbformat.read(RELEASE / f"{notebook}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            cell.source = source if grade_id(cell) == part else corpus.REFERENCE[grade_id(cell)]
    NotebookClient(nb, timeout=KERNEL_TIMEOUT_S, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(folder)}}).execute()
    return nb


def errors_by_cell(nb):
    return {grade_id(cell): output for cell in nb.cells for output in cell.get("outputs", [])
            if output.output_type == "error"}


def check_all_lines(nb):
    (cell,) = [c for c in nb.cells if grade_id(c) == "check_all"]
    assert not [o for o in cell.outputs if o.output_type == "error" or o.get("name") == "stderr"], cell.outputs
    text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
    return dict(line.split(None, 1) for line in text.splitlines() if line.split(None, 1)[0] in visible_checks.CHECKS)


@pytest.mark.slow
@pytest.mark.parametrize("bug", sorted(corpus.BUGS))
def test_in_the_notebook_a_bug_fails_only_its_own_check_cells(bug, tmp_path):
    part, source = corpus.BUGS[bug]
    nb = run_release_with(part, source, tmp_path)
    errors = errors_by_cell(nb)
    failing = {checked_function(gid) for gid in errors if checked_function(gid)}
    assert failing == {defined_name(part)}, {gid: o.ename for gid, o in errors.items()}
    assert f"test_{part}" in errors

    # check_all, the notebook's last cell, gives the same verdict in one line per function.
    lines = check_all_lines(nb)
    assert set(lines) == set(visible_checks.NOTEBOOKS[notebook_of(part)])
    assert {name for name, text in lines.items() if text != "ok"} == {defined_name(part)}

    # Every failure shows its message first, with no frame of cnnbook's checks before it.
    error = errors[f"test_{part}"]
    shown = [ANSI.sub("", line) for piece in error.traceback for line in piece.split("\n")]
    assert not [line for line in shown if LIBRARY_FRAME.search(line)], shown
    if error.ename == "ExerciseCheckFailed":
        assert len(shown[0]) <= FIRST_LINE_LIMIT and all(len(line) <= FIRST_LINE_LIMIT for line in shown)
        assert lines[defined_name(part)] == "FAIL  " + shown[0]
    else:  # the student's own exception: the traceback ends at the student's code, check_all names it
        assert shown[-2].startswith(f"{error.ename}: ") and "(raised in the visible check" in shown[-1]
        assert lines[defined_name(part)].startswith(f"FAIL  raised {error.ename}: ")
        assert re.search(r"\(Cell In\[\d+\], line \d+\)$", lines[defined_name(part)])
