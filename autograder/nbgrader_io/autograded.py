"""Build the autograded notebook that formgrader and the feedback show.

Like ``nbgrader autograde``, it starts from the student's notebook with its
outputs cleared, puts back the release version of every locked cell (test
cells included; deleted ones are re-inserted) and the release metadata of
every answer cell.  Unlike nbgrader, nothing is executed: each test cell
gets, as its outputs, the trusted feedback of its part (stdout) and the
points earned (the cell's value, which nbgrader reads as partial credit).
Last, everything the student wrote is made inert (:mod:`.student_content`): formgrader renders
this notebook on the instructor's server, and the feedback page on the student's screen.

A release notebook the submission lacks, or that could not be read, gets a
stand-in (:func:`build_missing`): the release itself, saying at the top what
happened, with each test cell's trusted 0.  So the gradebook, formgrader and
the feedback pages show that notebook and the points it cost, like the others.
"""
import copy

import nbformat

from . import cells, student_content
from ..checks.feedback import format_points, part_feedback


def build(release_nb, student_nb, located, results):
    """``located``: ``{part: Located}``; ``results``: ``{part: PartResult}`` for this notebook's parts."""
    notebook = copy.deepcopy(student_nb)
    for cell in notebook.cells:
        _clear(cell)
    _drop_unknown_ids(notebook, release_nb)
    for part, where in located.items():
        # Always the release's metadata: a student may have turned an answer cell into a graded cell
        # with points of its own, which nbgrader's SaveAutoGrades would look up and fail on.
        cell = notebook.cells[where.index]
        cell.setdefault("metadata", {})["nbgrader"] = copy.deepcopy(release_nb.answers[part].metadata["nbgrader"])
    _restore_release_cells(notebook, release_nb)
    _fill_test_cells(notebook, release_nb, results)
    return student_content.inert_notebook(notebook, release_nb.notebook)


def build_missing(release_nb, results):
    """The autograded stand-in for a release notebook that was not graded from the student's file."""
    notebook = copy.deepcopy(release_nb.notebook)
    for cell in notebook.cells:
        _clear(cell)
    _fill_test_cells(notebook, release_nb, results)
    notebook = student_content.inert_notebook(notebook, release_nb.notebook)
    reasons = sorted({check.message for result in results.values() for check in result.checks})
    lost = sum(result.max_points - result.points for result in results.values())
    notebook.cells.insert(0, student_content.text_cell(
        f"{release_nb.name}.ipynb was not graded from your work: {'; '.join(reasons) or 'not submitted'}.\n"
        f"It cost {format_points(lost)} points. Below is the notebook as it was released."))
    return notebook


def _fill_test_cells(notebook, release_nb, results):
    for part in release_nb.parts:
        test = cells.cell_with_id(notebook, part.test_cell)
        if test is not None and part.name in results:
            test.outputs = _outputs(results[part.name])
            test.execution_count = 1


def _clear(cell):
    if cell.get("cell_type") == "code":
        cell["outputs"] = []
        cell["execution_count"] = None


def _drop_unknown_ids(notebook, release_nb):
    """Strip nbgrader metadata that does not belong to a release cell, and duplicates (as nbgrader does)."""
    known = {cells.grade_id(c) for c in release_nb.notebook.cells if cells.grade_id(c)}
    seen = set()
    for cell in notebook.cells:
        gid = cells.grade_id(cell)
        if gid is None:
            continue
        if gid not in known or gid in seen:
            del cell.metadata["nbgrader"]
        else:
            seen.add(gid)


def _restore_release_cells(notebook, release_nb):
    """Locked cells back to their release version; missing graded cells re-inserted in place."""
    previous = None
    for release_cell in release_nb.notebook.cells:
        gid = cells.grade_id(release_cell)
        if gid is None:
            continue
        meta = cells.nbgrader_metadata(release_cell)
        index = cells.cell_index(notebook, gid)
        if index is None and (meta.get("grade") or meta.get("solution")):
            restored = copy.deepcopy(release_cell)
            _clear(restored)
            if meta.get("solution"):
                restored.source = "# (this answer cell was missing from the submission)\n" + restored.source
            # Right after the previous release cell present, which is always found again here.
            index = 0 if previous is None else cells.cell_index(notebook, previous) + 1
            notebook.cells.insert(index, restored)
        elif index is not None and meta.get("locked"):
            notebook.cells[index] = copy.deepcopy(release_cell)
            _clear(notebook.cells[index])
        if index is not None:
            previous = gid


def _outputs(result):
    text = "\n".join(part_feedback(result)) + "\n"
    return [nbformat.v4.new_output("stream", name="stdout", text=text),
            nbformat.v4.new_output("execute_result", data={"text/plain": repr(float(result.points))},
                                   execution_count=1)]
