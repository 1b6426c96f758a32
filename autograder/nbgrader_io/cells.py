"""Read nbgrader notebooks and find their cells by ``grade_id``.

nbgrader marks the cells it cares about with ``metadata.nbgrader``:

* an *answer* cell has ``solution: true`` (the student writes code there);
* a *test* cell has ``grade: true`` and ``solution: false`` (it carries the
  points and the tests).

Everything else is an ordinary cell.  This module is the one place that knows
that layout; the grader, the benchmarks and the tests all go through it.
"""
import ast
import json
import math
import re
from pathlib import Path

import nbformat

from .json_bounds import json_shape

# A course notebook is a few hundred kilobytes; anything far bigger is a
# mistake (or an attempt to make the grader chew on gigabytes).
MAX_NOTEBOOK_BYTES = 50 * 1024 * 1024

# What the JSON of a notebook may hold, counted in its bytes before any parser builds it
# (json_bounds.json_shape).  Objects and arrays are what costs: about 20 us and 1.7 KiB each on the
# way through parsing, the autograded copy and its serialisation (500,000 empty objects: 8.9 s and
# 0.8 GiB more in a grading process; the 7 MB of them in issue 19: 47 s and 4.3 GiB).  Measured:
# the course's notebooks (exercises/, solutions/, book/labs/; 17-36 KB) hold 395-702 values,
# 37-143 objects and arrays and nest 5-6 deep; one executed with a figure per code cell (48 MB)
# holds 891, 152 and 7; one printing a log of 100,000 lines holds 100,574 values.  Just under the
# bounds, the trusted side of one notebook (grade_submission with the checks left out: read, the
# autograded copy, written) took at most 2.1 s and 0.2 GiB above the 0.6 GiB of a grading process;
# at the byte limit, a code cell of 50 MB with an emoji in it (4 bytes a character in memory) 1.1 s
# and 0.6 GiB, and four such notebooks in one submission 6.7 s and 2.0 GiB.
MAX_JSON_VALUES = 1_000_000        # values: 1,400 times the course's notebooks, 10 times that log
MAX_JSON_CONTAINERS = 100_000      # objects and arrays: 700 times; MAX_CELLS cells with outputs fit
MAX_JSON_DEPTH = 100               # nesting: 14 times; far from Python's recursion limit in every copy
# Python converts a decimal integer in time quadratic in its digits: 12,000 integers of 4,299 digits
# (50 MB) took 2.9 s to read, and as long again to write.  A notebook's integers have a few digits.
MAX_INT_DIGITS = 100


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

    What the bytes would build is counted before anything is built (:func:`json_problem`), and the
    layout is checked on plain JSON before nbformat turns it into a notebook; nbformat's schema
    validation is not run (its result was never used, and on an invalid notebook it costs about
    0.7 ms and 55 KB per invalid output: 30,000 of them in 1.7 MB took 20 s and 1.6 GiB).
    Errors never quote the content: a "notebook" may be any file the student pointed at, and the
    error goes into their feedback.
    """
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise NotebookError(f"{label}: {len(data)} bytes is too large for a notebook "
                            f"(limit {MAX_NOTEBOOK_BYTES}); clear its outputs")
    problem = json_problem(data)
    if problem:
        raise NotebookError(f"{label}: not a readable Jupyter notebook ({problem})")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise NotebookError(f"{label}: not a text file (not UTF-8)") from None
    raw = _json_of(text)
    problem = ("not JSON of nbformat 4" if raw is None else _version_problem(raw) or layout_problem(raw)
               or _surrogate_problem(data, raw))
    if problem:
        raise NotebookError(f"{label}: not a readable Jupyter notebook ({problem})")
    try:
        # NotebookNodes, lists of lines joined, transient metadata dropped; nothing validated.
        return nbformat.v4.to_notebook_json(raw)
    except Exception:  # nbformat raises several unrelated types on what it does not expect
        raise NotebookError(f"{label}: not a readable Jupyter notebook (not JSON of nbformat 4)") from None


def json_problem(data):
    """Why the JSON in ``data`` would cost too much to build (a short phrase, no content), or "".

    Counted on the bytes in linear time (:func:`~autograder.nbgrader_io.json_bounds.json_shape`),
    against :data:`MAX_JSON_VALUES`, :data:`MAX_JSON_CONTAINERS` and :data:`MAX_JSON_DEPTH`.
    """
    shape = json_shape(data)
    if shape.depth > MAX_JSON_DEPTH:
        return f"its JSON nests {shape.depth} levels deep, more than {MAX_JSON_DEPTH}"
    if shape.containers > MAX_JSON_CONTAINERS:
        return (f"its JSON holds {shape.containers} objects and arrays, more than {MAX_JSON_CONTAINERS}; "
                "clear its outputs")
    if shape.values > MAX_JSON_VALUES:
        return f"its JSON holds {shape.values} values, more than {MAX_JSON_VALUES}; clear its outputs"
    return ""


def _json_of(text):
    """The JSON value of ``text`` (integers of at most :data:`MAX_INT_DIGITS` digits), or None."""
    try:
        return json.loads(text, parse_int=_short_int)
    except (ValueError, RecursionError):
        return None


def _short_int(digits):
    if len(digits) > MAX_INT_DIGITS + 1:      # a minus sign and MAX_INT_DIGITS digits
        raise ValueError("integer too long")
    return int(digits)


def _version_problem(raw):
    # nbformat's own writer (the autograded notebook) fails on a version 4.0 or a minor of another type.
    if not isinstance(raw, dict) or type(raw.get("nbformat")) is not int or raw["nbformat"] != 4 \
            or type(raw.get("nbformat_minor", 0)) is not int:
        return "not JSON of nbformat 4"
    if not isinstance(raw.get("metadata"), dict):
        return "malformed notebook metadata"
    return ""


# A string escape of half a UTF-16 surrogate pair ("\ud800" alone) reads as a Python string that no
# UTF-8 file can hold: one in a markdown cell stopped the grade command for the whole class (writing
# its autograded notebook raised UnicodeEncodeError).  Jupyter cannot save one (it writes strict
# UTF-8); only an escape makes one.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _surrogate_problem(data, raw):
    """Why ``raw`` cannot be written as UTF-8 (a lone surrogate in a string or key), or "".

    Looked for only when ``data`` holds an escape that could make one.
    """
    if not _SURROGATE_ESCAPE.search(data):
        return ""
    pending = [raw]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str) and _SURROGATE.search(value):
            return "a string holds half of a surrogate pair (an escape like \\ud800 alone); remove it"
    return ""


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
    if problem:
        return problem
    # Outputs of every cell, not only code cells: the search for a fake score reads them all.
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


# strip_magics works on pieces of about this many characters, each ending a line: split whole into
# its lines, an answer cell of 48 MB of short lines cost 1 GiB more in the grader's process.
MAGIC_PIECE_CHARS = 1 << 20


def strip_magics(source):
    """``source`` with IPython magics and shell escapes (``%...``, ``!...``) commented out.

    Graded code runs in plain Python, where those lines are syntax errors.
    Line numbers are kept, so error messages still point at the right line.
    Lines end as :meth:`str.splitlines` ends them, joined by ``"\\n"``.
    """
    pieces, start = [], 0
    while start < len(source):
        end = source.find("\n", start + MAGIC_PIECE_CHARS)
        end = len(source) if end < 0 else end + 1
        pieces.append(_strip_magics_of(source[start:end]))
        start = end
    return "\n".join(pieces)


def _strip_magics_of(text):
    lines = text.splitlines()
    if "%" not in text and "!" not in text:
        return "\n".join(lines)
    return "\n".join("# " + line if line.lstrip().startswith(("%", "!")) else line for line in lines)


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
