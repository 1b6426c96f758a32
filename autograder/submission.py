"""The trusted release, and what a submitted notebook contains.

The release notebooks (what students received) are the trusted reference:
they say which notebook holds which part, how many points each test cell
carries, and which setup code the answer cells may rely on.  A submitted
notebook is only ever *read* here: its answer cells are located (by
``grade_id``, else by nbgrader cell id, else by the name they define) and its
test cells compared with the release to detect tampering.
"""
import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

from . import cells


class ReleaseError(Exception):
    """The release and the autograder's list of parts do not fit together."""


@dataclass
class ReleaseNotebook:
    name: str
    notebook: object
    answers: dict
    tests: dict
    setup: list
    parts: list = field(default_factory=list)


@dataclass
class Release:
    notebooks: dict          # name -> ReleaseNotebook
    part_notebook: dict      # part -> notebook name
    points: dict             # part -> points of its test cell


def load_release(release_dir, parts):
    """Read the release notebooks and match them with ``parts``; :class:`ReleaseError` if they disagree."""
    paths = sorted(Path(release_dir).glob("*.ipynb"))
    if not paths:
        raise ReleaseError(f"no release notebooks in {release_dir}; run nbgrader generate_assignment first")
    notebooks = {}
    for path in paths:
        notebook = cells.read_notebook(path)
        notebooks[path.stem] = ReleaseNotebook(path.stem, notebook, cells.answer_cells(notebook),
                                               cells.test_cells(notebook), cells.setup_statements(notebook))
    part_notebook, points = {}, {}
    for part in parts:
        homes = [nb for nb in notebooks.values() if part.name in nb.answers]
        if len(homes) != 1:
            raise ReleaseError(f"the answer cell {part.name!r} should be in exactly one release notebook, "
                               f"found {len(homes)}")
        home = homes[0]
        if part.test_cell not in home.tests:
            raise ReleaseError(f"{home.name}.ipynb has no test cell {part.test_cell!r}")
        home.parts.append(part)
        part_notebook[part.name] = home.name
        points[part.name] = float(cells.nbgrader_metadata(home.tests[part.test_cell]).get("points", 0))
    known = {part.test_cell for part in parts}
    for nb in notebooks.values():
        unknown = [test for test in nb.tests if test not in known]
        if unknown:
            raise ReleaseError(f"{nb.name}.ipynb has test cells without hidden checks: {unknown}; "
                               "the trusted grader would have to give their points blindly")
    return Release(notebooks, part_notebook, points)


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
