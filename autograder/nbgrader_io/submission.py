"""What a submitted notebook contains, read once into what the sandbox needs.

:func:`read_submission` is the one pass over a student's folder: each
notebook of the release is read (or noted missing or unreadable), its answer
cells are located (by ``grade_id``, else by nbgrader cell id, else by the
name they define), its test cells are compared with the release for
tampering evidence, and each graded part gets the :class:`Program` its
sandbox will load.  A submitted notebook is only ever *read* here.
"""
import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..isolation.student import Program
from . import cells


@dataclass
class Submission:
    """What the trusted side read from one student's submitted notebooks."""
    notebooks: dict = field(default_factory=dict)   # notebook name -> notebook
    located: dict = field(default_factory=dict)     # notebook name -> {part: Located}
    programs: dict = field(default_factory=dict)    # part -> Program for its sandbox
    missing: dict = field(default_factory=dict)     # part -> why its notebook is absent
    flags: list = field(default_factory=list)
    notes: list = field(default_factory=list)


def read_submission(submitted_dir, release):
    """Read ``submitted_dir`` (``submitted/<student>/<assignment>``) against the :class:`Release`."""
    submission = Submission()
    for name, release_nb in release.notebooks.items():
        path = Path(submitted_dir) / f"{name}.ipynb"
        try:
            notebook = cells.read_notebook(path)
        except cells.NotebookError as error:
            _note_missing(submission, name, release_nb, path, error)
            continue
        submission.notebooks[name] = notebook
        submission.flags += integrity_flags(notebook, release_nb)
        located = {}
        for part in release_nb.parts:
            where = locate_answer(notebook, release_nb.answers[part.name], part)
            if where is not None:
                located[part.name] = where
                submission.flags += honesty_flags(where, cells.cell_source(release_nb.answers[part.name]),
                                                  part, name)
        submission.located[name] = located
        for part in release_nb.parts:
            submission.programs[part.name] = _program(part, located, release_nb)
    return submission


def _note_missing(submission, name, release_nb, path, error):
    reason = "unreadable" if path.exists() else "not submitted"
    detail = f" ({error})" if path.exists() else ""
    submission.notes.append(f"{name}.ipynb: {reason}{detail}; its parts get 0 points")
    if path.exists():
        submission.flags.append(f"{name}: notebook unreadable")
    submission.missing.update({part.name: f"{name}.ipynb was {reason}" for part in release_nb.parts})


def _program(part, located, release_nb):
    """Setup imports plus the answer cells ``part`` needs, its dependencies first."""
    wanted = [name for name in (*part.needs, part.name) if name in located]
    sources = [located[name].source for name in wanted]
    notes = [located[name].note for name in wanted if located[name].note]
    for name in (*part.needs, part.name):
        if name not in located:
            needed_by = "" if name == part.name else f", which {part.name} needs"
            notes.append(f"no answer cell for {name} was found (no cell with its grade_id or cell id, "
                         f"and none defining it){needed_by}")
    cells_to_run = [(name, cells.strip_magics(located[name].source)) for name in wanted]
    return Program(needed_setup(release_nb.setup, sources), cells_to_run, notes)


# ---------------------------------------------------------------------------
# Finding the student's answer cells
# ---------------------------------------------------------------------------

@dataclass
class Located:
    index: int           # position of the cell in the submitted notebook
    source: str
    note: str = ""       # set when the cell was not found by its grade_id


def locate_answer(notebook, release_cell, part):
    """The student's answer cell for ``part``, or None.

    By ``grade_id`` (as nbgrader does; the first of duplicates), else by the
    release cell's nbgrader cell id, else the last code cell defining
    ``part.defines``.  Each fallback is noted in the feedback.
    """
    indexed = list(enumerate(notebook.cells))
    matches = [i for i, c in indexed if cells.grade_id(c) == part.name]
    if matches:
        note = (f"several cells carry the grade_id {part.name}; the first one was graded"
                if len(matches) > 1 else "")
        return _located(notebook, matches[0], note)
    cell_id = release_cell.get("id")
    by_id = [i for i, c in indexed if cell_id and c.get("id") == cell_id]
    if by_id:
        return _located(notebook, by_id[0], f"the answer cell {part.name} had lost its nbgrader "
                                            "metadata; it was found by its cell id")
    defining = [i for i, c in indexed if c.get("cell_type") == "code"
                and part.defines in cells.defined_names(cells.cell_source(c))]
    if defining:
        return _located(notebook, defining[-1], f"the answer cell {part.name} had lost its nbgrader "
                                                f"metadata; the last cell defining {part.defines} was graded")
    return None


def _located(notebook, index, note):
    return Located(index, cells.cell_source(notebook.cells[index]), note)


def needed_setup(statements, sources):
    """The setup statements that bind a name the ``sources`` use (all of them if one does not parse)."""
    used = set()
    for source in sources:
        try:
            tree = ast.parse(cells.strip_magics(source))
        except SyntaxError:
            return list(statements)
        used |= {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    kept = []
    for statement in statements:
        node = ast.parse(statement).body[0]
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            bound = {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        else:
            bound = {node.name}
        if bound & used or "*" in bound:
            kept.append(statement)
    return kept


# ---------------------------------------------------------------------------
# Tampering evidence
# ---------------------------------------------------------------------------

SCORE_TEXT = re.compile(r"\d+(\.\d+)?\s*/\s*\d+(\.\d+)?\s*points")


def integrity_flags(notebook, release_nb):
    """Differences between a submitted notebook and the release that honest work never causes."""
    flags = []
    for test_id, release_cell in release_nb.tests.items():
        cell = cells.cell_with_id(notebook, test_id)
        if cell is None:
            flags.append(f"{release_nb.name}: test cell {test_id} deleted or its metadata removed")
            continue
        if cells.cell_source(cell).strip() != cells.cell_source(release_cell).strip():
            flags.append(f"{release_nb.name}: test cell {test_id} was edited")
        points = cells.nbgrader_metadata(cell).get("points")
        if points != cells.nbgrader_metadata(release_cell).get("points"):
            flags.append(f"{release_nb.name}: points of {test_id} changed to {points!r}")
    for part in release_nb.parts:
        if cells.cell_index(notebook, part.name) is None:
            flags.append(f"{release_nb.name}: answer cell {part.name} lost its nbgrader metadata")
    if any(SCORE_TEXT.search(_output_text(c)) for c in notebook.cells):
        flags.append(f"{release_nb.name}: outputs contain text that looks like an autograder score")
    return flags


def claimed_pass(notebook, test_id):
    """True if the submitted notebook shows the test cell executed without error, else False/None."""
    cell = cells.cell_with_id(notebook, test_id)
    if cell is None or cell.get("cell_type") != "code" or cell.get("execution_count") is None:
        return None
    outputs = cell.get("outputs") or []
    return not any(o.get("output_type") == "error" or
                   (o.get("output_type") == "stream" and o.get("name") == "stderr") for o in outputs)


def disagreement_flags(parts, submission, release, results):
    """Test cells the submitted notebook shows passing while the trusted grade is zero."""
    flags = []
    for part in parts:
        notebook = submission.notebooks.get(release.part_notebook[part.name])
        result = results[part.name]
        if notebook is not None and claimed_pass(notebook, part.test_cell) and result.points == 0:
            flags.append(f"{part.test_cell}: the submitted notebook shows it passing, "
                         f"the trusted grade is 0 / {result.max_points:g}")
    return flags


def honesty_flags(located, release_source, part, notebook_name):
    """Answer cells of naive layers that mention torch or the provided fast layers more than the release does."""
    hits = [word for word in part.forbidden if located.source.count(word) > release_source.count(word)]
    if not hits:
        return []
    return [f"{notebook_name}: answer cell {part.name} mentions {', '.join(hits)} (check by hand)"]


def _output_text(cell):
    pieces = []
    for output in cell.get("outputs") or []:
        text = output.get("text")
        if text is None:
            text = (output.get("data") or {}).get("text/plain", "")
        pieces.append("".join(text) if isinstance(text, list) else str(text))
    return "".join(pieces)
