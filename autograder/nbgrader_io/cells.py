"""Read nbgrader notebooks and find their cells by ``grade_id``.

nbgrader marks the cells it cares about with ``metadata.nbgrader``:

* an *answer* cell has ``solution: true`` (the student writes code there);
* a *test* cell has ``grade: true`` and ``solution: false`` (it carries the
  points and the tests).

Everything else is an ordinary cell.  This module is the one place that knows
that layout; the grader, the benchmarks and the tests all go through it.
"""
import ast
import math
from pathlib import Path

import nbformat

# A course notebook is a few hundred kilobytes; anything far bigger is a
# mistake (or an attempt to make the grader chew on gigabytes).
MAX_NOTEBOOK_BYTES = 50 * 1024 * 1024


class NotebookError(ValueError):
    """A notebook could not be read, or lacks a cell it must have."""


def read_notebook(path):
    """The notebook at ``path`` as nbformat v4, or a :class:`NotebookError` saying why not.

    For trusted files (the release, the instructor solutions, autograded notebooks);
    submitted notebooks arrive as bytes from :mod:`autograder.nbgrader_io.submission`.
    """
    path = Path(path)
    if not path.is_file():
        raise NotebookError(f"{path}: no such notebook")
    size = path.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        raise NotebookError(f"{path}: {size} bytes is too large for a notebook "
                            f"(limit {MAX_NOTEBOOK_BYTES}); clear its outputs")
    return parse_notebook(path.read_bytes(), str(path))


def parse_notebook(data, label):
    """The notebook in the bytes ``data`` (called ``label`` in errors), checked by :func:`layout_problem`.

    Errors never quote the content: a "notebook" may be any file the student
    pointed at, and the error goes into their feedback.
    """
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise NotebookError(f"{label}: {len(data)} bytes is too large for a notebook "
                            f"(limit {MAX_NOTEBOOK_BYTES}); clear its outputs")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise NotebookError(f"{label}: not a text file (not UTF-8)") from None
    try:
        notebook = nbformat.reads(text, as_version=4, capture_validation_error={})
    except Exception:  # nbformat raises several unrelated types for bad JSON
        raise NotebookError(f"{label}: not a readable Jupyter notebook (not JSON of nbformat 4)") from None
    problem = layout_problem(notebook)
    if problem:
        raise NotebookError(f"{label}: not a readable Jupyter notebook ({problem})")
    return notebook


# What honest notebooks never exceed; bounds what grading one notebook may cost.
MAX_CELLS = 5000
MAX_GRADE_ID = 200
_NBGRADER_TYPES = {"grade_id": str, "solution": bool, "grade": bool, "locked": bool, "task": bool}


def layout_problem(notebook):
    """Why the grader cannot read ``notebook`` safely (a short phrase, no content), or "".

    Checks the types of everything the grader reads (cells, sources, nbgrader
    metadata, outputs), so that the rest of this module may rely on them.
    """
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        return "the notebook has no list of cells"
    if len(cells) > MAX_CELLS:
        return f"more than {MAX_CELLS} cells"
    for number, cell in enumerate(cells, start=1):
        problem = _cell_problem(cell)
        if problem:
            return f"cell {number}: {problem}"
    return ""


def _cell_problem(cell):
    if not isinstance(cell, dict):
        return "not a cell"
    if cell.get("cell_type") not in ("code", "markdown", "raw"):
        return "unknown cell type"
    if not _is_text(cell.get("source", "")):
        return "its source is not text"
    if not isinstance(cell.get("metadata", {}), dict) or not isinstance(cell.get("id", ""), str):
        return "malformed metadata or id"
    problem = _nbgrader_problem(cell.get("metadata", {}).get("nbgrader", {}))
    if problem or cell["cell_type"] != "code":
        return problem
    if not isinstance(cell.get("outputs", []), list):
        return "its outputs are not a list"
    count = cell.get("execution_count")
    if count is not None and type(count) is not int:
        return "malformed execution count"
    return next(filter(None, map(_output_problem, cell.get("outputs", []))), "")


def _nbgrader_problem(meta):
    if not isinstance(meta, dict):
        return "malformed nbgrader metadata"
    for key, kind in _NBGRADER_TYPES.items():
        if key in meta and type(meta[key]) is not kind:
            return f"nbgrader {key} of the wrong type"
    if len(meta.get("grade_id", "")) > MAX_GRADE_ID:
        return "nbgrader grade_id too long"
    points = meta.get("points", 0)
    if type(points) not in (int, float) or not math.isfinite(points):
        return "nbgrader points are not a number"
    return ""


def _output_problem(output):
    if not isinstance(output, dict) or not isinstance(output.get("output_type"), str):
        return "malformed output"
    data = output.get("data", {})
    if not _is_text(output.get("text", "")) or not isinstance(data, dict):
        return "malformed output text"
    if not _is_text(data.get("text/plain", "")) or not isinstance(output.get("name", ""), str):
        return "malformed output text"
    return ""


def _is_text(value):
    """nbformat's multiline string: a string, or a list of strings."""
    return isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))


def nbgrader_metadata(cell):
    """The cell's ``metadata.nbgrader`` dict, or ``{}`` when absent or malformed."""
    metadata = cell.get("metadata")
    meta = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    return meta if isinstance(meta, dict) else {}


def grade_id(cell):
    """The cell's nbgrader ``grade_id``, or None."""
    value = nbgrader_metadata(cell).get("grade_id")
    return value if isinstance(value, str) else None


def is_answer_cell(cell):
    """True for a cell the student fills in (nbgrader ``solution: true``)."""
    return nbgrader_metadata(cell).get("solution") is True


def is_test_cell(cell):
    """True for a cell that carries points and tests (``grade: true``, not a solution)."""
    meta = nbgrader_metadata(cell)
    return meta.get("grade") is True and meta.get("solution") is not True


def cell_source(cell):
    """The cell's source as one string (nbformat allows a list of lines)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def answer_cells(notebook):
    """``{grade_id: cell}`` of the answer cells, in notebook order."""
    return {grade_id(c): c for c in notebook.cells if is_answer_cell(c) and grade_id(c)}


def test_cells(notebook):
    """``{grade_id: cell}`` of the autograded test cells, in notebook order."""
    return {grade_id(c): c for c in notebook.cells if is_test_cell(c) and grade_id(c)}


def cell_index(notebook, wanted_id):
    """Position of the first cell with ``grade_id == wanted_id`` (nbgrader grades the first of duplicates), or None."""
    return next((index for index, cell in enumerate(notebook.cells) if grade_id(cell) == wanted_id), None)


def cell_with_id(notebook, wanted_id):
    """The first cell with ``grade_id == wanted_id``, or None."""
    index = cell_index(notebook, wanted_id)
    return None if index is None else notebook.cells[index]


def find_cell(notebook, wanted_id, path="notebook"):
    """The cell with ``grade_id == wanted_id``; :class:`NotebookError` if there is none."""
    cell = cell_with_id(notebook, wanted_id)
    if cell is None:
        raise NotebookError(f"{path}: no cell with grade_id {wanted_id!r}")
    return cell


def strip_magics(source):
    """``source`` with IPython magics and shell escapes (``%...``, ``!...``) commented out.

    Graded code runs in plain Python, where those lines are syntax errors.
    Line numbers are kept, so error messages still point at the right line.
    """
    lines = source.splitlines()
    return "\n".join("# " + line if line.lstrip().startswith(("%", "!")) else line
                     for line in lines)


# The grader parses answer cells in its own process, where a syntax tree costs about 500 bytes
# per character of a source like "[0,0,0,...]" (5 MB of it took 2.4 GiB and 17 s).  The course's
# largest code cell has under 5,000 characters; a longer source is not parsed here (it runs, and
# is parsed, inside its sandbox, within the sandbox's memory limit).
MAX_PARSED_SOURCE = 32 * 1024


def parse_source(source):
    """The syntax tree of a cell's ``source`` (magics commented out), or None if it does not parse.

    Python's parser answers some pathological sources (deeply nested, very long
    chains) with RecursionError or MemoryError instead of SyntaxError.  A source
    over :data:`MAX_PARSED_SOURCE` characters counts as one that does not parse.
    """
    if len(source) > MAX_PARSED_SOURCE:
        return None
    try:
        return ast.parse(strip_magics(source))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def defined_names(source):
    """Names that ``source`` binds at top level with ``def``/``class``/import; empty if unparsable."""
    tree = parse_source(source)
    if tree is None:
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
    return names


def setup_statements(notebook):
    """The imports and definitions of the notebook's ordinary code cells, one source each.

    These are what answer cells may rely on (``import numpy as np``, the
    provided checks).  Demonstrations and visible tests are left out: they call
    the student's functions and would only slow grading down or fail.  Cells
    that do not parse are skipped.  Run them one by one, so that one failing
    import does not hide the others.
    """
    kept = []
    for cell in notebook.cells:
        if cell.get("cell_type") != "code" or nbgrader_metadata(cell):
            continue
        try:
            tree = ast.parse(strip_magics(cell_source(cell)))
        except SyntaxError:
            continue
        kept.extend(ast.unparse(node) for node in tree.body
                    if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)))
    return kept


def solution_namespace(path, wanted_ids):
    """Run a notebook's setup and the answer cells ``wanted_ids``; return the namespace.

    For trusted notebooks only (the instructor solutions): the code runs in
    this process.  Benchmarks and tests use it to get the reference naive
    layers, e.g. ``solution_namespace(p, ["conv_forward_naive"])["conv_forward_naive"]``.
    """
    notebook = read_notebook(path)
    namespace = {"__name__": "__solution__"}
    for statement in setup_statements(notebook):
        exec(compile(statement, f"<setup of {Path(path).name}>", "exec"), namespace)
    for wanted in wanted_ids:
        cell = find_cell(notebook, wanted, path)
        code = compile(strip_magics(cell_source(cell)), f"<answer cell {wanted}>", "exec")
        exec(code, namespace)
    return namespace
