"""What a submitted folder contains, read once into what the sandbox needs.

:func:`read_submitted_folder` reads ``submitted/<student>/<assignment>/`` once
into a :class:`SubmittedFolder`: bytes in memory, regular files only, never
through a symbolic link (``O_NOFOLLOW`` on every component under
``submitted/``), every size and name bounded.  That value is all the rest of
grading sees of the student's folder (and what a remote worker receives).

:func:`read_submission` then parses it against the release: each notebook of
the release is parsed (or noted missing or unreadable), its answer cells are
located (by ``grade_id``, else by nbgrader cell id, else by the name they
define), its test cells are compared with the release for tampering
evidence, and each graded part gets the :class:`Program` its sandbox will
load.  Notes about what was refused never quote the content of a file.
"""
import ast
import errno
import os
import re
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.utils import parse_utc

from ..isolation.student import Program
from . import cells

TIMESTAMP_FILE = "timestamp.txt"
BUDGET_SPENT = "this submission's time budget was used up before it was reached"
# nbgrader writes "2026-03-01 12:00:00.123456 UTC"; anything else is not a timestamp.
MAX_TIMESTAMP_BYTES = 64
TIMESTAMP_TEXT = re.compile(r"[0-9A-Za-z :.+\-]{1,64}")
MAX_NAME_CHARS = 100
# All the notebooks of one submission together.  Each may have up to cells.MAX_NOTEBOOK_BYTES, but four
# at that limit (text of 4-byte characters) took a grading process 2.6 GiB and kept 1.6 GiB of it while
# its sandboxes ran, past a worker's 3 GiB; a course's submission is a few megabytes.
MAX_SUBMISSION_BYTES = cells.MAX_NOTEBOOK_BYTES
_OPEN_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_OPEN_FOLDER = os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC


@dataclass(frozen=True)
class SubmittedFolder:
    """A student's submitted folder, read once: the only view of it that grading uses."""
    student: str
    files: dict                     # notebook name (no .ipynb) -> bytes, regular files only
    timestamp: str = ""             # validated timestamp.txt text, "" when absent or refused
    refused: dict = field(default_factory=dict)   # file name -> why it was not read


def read_submitted_folder(folder, notebook_names):
    """Read ``folder`` (``submitted/<student>/<assignment>``): the notebooks ``notebook_names`` and the timestamp."""
    folder = Path(folder)
    student = folder.parent.name
    try:
        fd = _open_submission_folder(folder)
    except OSError as error:
        why = _refusal(error, "folder")
        return SubmittedFolder(student, {}, "", {f"{name}.ipynb": why for name in notebook_names})
    try:
        return _read_open_folder(fd, student, notebook_names)
    finally:
        os.close(fd)


def _open_submission_folder(folder):
    """A descriptor of ``folder``, opened without following a link at the student's level or below."""
    if not _safe_name(folder.parent.name) or not _safe_name(folder.name):
        raise OSError(errno.EINVAL, "odd folder name")
    parent = os.open(folder.parent, _OPEN_FOLDER)
    try:
        return os.open(folder.name, _OPEN_FOLDER, dir_fd=parent)
    finally:
        os.close(parent)


def _safe_name(name):
    return 0 < len(name) <= MAX_NAME_CHARS and name.isprintable() and "/" not in name


def _read_open_folder(fd, student, notebook_names):
    files, refused, room = {}, {}, MAX_SUBMISSION_BYTES
    for name in notebook_names:
        try:
            data = _read_regular_file(fd, f"{name}.ipynb", min(cells.MAX_NOTEBOOK_BYTES, room))
        except OSError as error:
            too_much = error.errno == errno.EFBIG and room < cells.MAX_NOTEBOOK_BYTES
            refused[f"{name}.ipynb"] = (f"the submitted notebooks are over {MAX_SUBMISSION_BYTES >> 20} MB "
                                        "in all" if too_much else _refusal(error, "file"))
            continue
        if data is not None:
            files[name] = data
            room -= len(data)
    timestamp = ""
    try:
        timestamp = _timestamp(_read_regular_file(fd, TIMESTAMP_FILE, MAX_TIMESTAMP_BYTES))
    except (OSError, ValueError) as error:
        refused[TIMESTAMP_FILE] = _refusal(error, "file") if isinstance(error, OSError) else str(error)
    return SubmittedFolder(student, files, timestamp, refused)


def _read_regular_file(dir_fd, name, limit):
    """The bytes of ``name`` in ``dir_fd`` (None if absent); OSError for a link, an odd file or too many bytes."""
    try:
        fd = os.open(name, _OPEN_FILE, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
        raise OSError(errno.EFBIG, "too large")
    finally:
        os.close(fd)


def _refusal(error, what):
    """Why a file or folder was not read, in words that never quote it."""
    if error.errno in (errno.ELOOP, errno.ENOTDIR) or (error.errno == errno.EINVAL and what == "file"
                                                       and "regular" in str(error)):
        return (f"the submitted {what} is a symbolic link or not a regular {what}; "
                "the grader reads only regular files")
    if error.errno == errno.EFBIG:
        return "the submitted file is too large"
    if error.errno == errno.EINVAL:
        return f"the submitted {what} has an odd name"
    return f"the submitted {what} could not be read ({errno.errorcode.get(error.errno, 'error')})"


def _timestamp(data):
    """The text of timestamp.txt if nbgrader can parse it, "" if absent; ValueError saying why not."""
    if data is None:
        return ""
    text = data.decode("ascii", "replace").strip()
    if not TIMESTAMP_TEXT.fullmatch(text):
        raise ValueError("timestamp.txt is not a timestamp")
    try:
        parse_utc(text)
    except (ValueError, OverflowError, TypeError):
        raise ValueError("timestamp.txt is not a timestamp nbgrader can read") from None
    return text


@dataclass
class Submission:
    """What the trusted side read from one student's submitted notebooks."""
    notebooks: dict = field(default_factory=dict)   # notebook name -> notebook
    located: dict = field(default_factory=dict)     # notebook name -> {part: Located}
    programs: dict = field(default_factory=dict)    # part -> Program for its sandbox
    missing: dict = field(default_factory=dict)     # part -> why its notebook is absent
    flags: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    timestamp: str = ""                             # validated, for the autograded folder


def read_submission(submitted, release, deadline=None):
    """Parse the :class:`SubmittedFolder` ``submitted`` against the :class:`Release`.

    ``deadline``: the :func:`time.monotonic` time at which the submission's budget ends; a
    notebook not begun by then is not read (its parts get 0, and the notes say why).
    """
    submission = Submission(timestamp=submitted.timestamp)
    if TIMESTAMP_FILE in submitted.refused:
        why = submitted.refused[TIMESTAMP_FILE]
        submission.flags.append(f"{TIMESTAMP_FILE}: {why}")
        submission.notes.append(f"{TIMESTAMP_FILE} was not used ({why})")
    for name, release_nb in release.notebooks.items():
        if name in submitted.files and deadline is not None and time.monotonic() >= deadline:
            _note_missing(submission, name, release_nb, BUDGET_SPENT, reason="not read")
            continue
        try:
            notebook = _parse(submitted, name)
        except cells.NotebookError as error:
            _note_missing(submission, name, release_nb, str(error))
            continue
        _read_parts(submission, name, notebook, release_nb)
    return submission


def _read_parts(submission, name, notebook, release_nb):
    """Locate the answers of ``release_nb``'s parts in the parsed ``notebook``: flags and one program per part."""
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


def _parse(submitted, name):
    file_name = f"{name}.ipynb"
    if file_name in submitted.refused:
        raise cells.NotebookError(submitted.refused[file_name])
    if name not in submitted.files:
        raise cells.NotebookError("")
    return cells.parse_notebook(submitted.files[name], file_name)


def _note_missing(submission, name, release_nb, why, reason="unreadable"):
    """``why`` is "" for a notebook that was not submitted, else a reason that quotes no content."""
    reason = reason if why else "not submitted"
    detail = f" ({why.removeprefix(f'{name}.ipynb: ')})" if why else ""
    submission.notes.append(f"{name}.ipynb: {reason}{detail}; its parts get 0 points")
    if why:
        submission.flags.append(f"{name}: notebook {reason}{detail}")
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
    return Program(needed_setup(release_nb.setup, sources), cells_to_run, notes, part.cnnbook_modules)


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
    defining = last_cell_defining(notebook, part.defines)
    if defining is not None:
        return _located(notebook, defining, f"the answer cell {part.name} had lost its nbgrader "
                                            f"metadata; the last cell defining {part.defines} was graded")
    return None


# Parsing a code cell in the grader's process costs up to about 65 ms (32 KiB of a list literal): parsing
# every cell of a notebook of them, for each part, took 195 s.  Only cells whose text could define the
# name are parsed, from the last one, and at most this many.
MAX_DEFINITION_PARSES = 8


def last_cell_defining(notebook, name):
    """Index of the last code cell that defines ``name`` at top level (``def``/``class``), or None."""
    mention = re.compile(rf"\b(?:def|class)[\s\\]+{re.escape(name)}\b")
    parsed = 0
    for index in reversed(range(len(notebook.cells))):
        cell = notebook.cells[index]
        source = cells.cell_source(cell) if cell.get("cell_type") == "code" else ""
        if not mention.search(source):
            continue
        if name in cells.defined_names(source):
            return index
        parsed += 1
        if parsed == MAX_DEFINITION_PARSES:
            return None
    return None


def _located(notebook, index, note):
    return Located(index, cells.cell_source(notebook.cells[index]), note)


def needed_setup(statements, sources):
    """The setup statements that bind a name the ``sources`` use (all of them if one does not parse)."""
    used = set()
    for source in sources:
        tree = cells.parse_source(source)
        if tree is None:
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

# A score line: a number, a slash, a number, "points".  It is searched for backwards, in the reversed
# text, so that every attempt starts at the literal "points" (which the regular expression engine
# finds fast) and then reads a bounded number of characters: linear time however the text is made,
# under a second for a notebook's limit of cells.MAX_NOTEBOOK_BYTES.  All of every output is
# searched, so padding cannot push a fake score out of sight.
REVERSED_SCORE = re.compile(r"stniop[ \t]{0,16}(?:[0-9]{1,9}\.)?[0-9]{1,9}[ \t]{0,16}/[ \t]{0,16}(?:[0-9]{1,9}\.)?[0-9]")


def looks_like_a_score(text):
    """True if ``text`` holds something like ``5 / 5 points`` (linear time, whatever the text)."""
    return REVERSED_SCORE.search(text[::-1]) is not None


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
            flags.append(f"{release_nb.name}: points of {test_id} changed to {points!r:.40}")
    for part in release_nb.parts:
        if cells.cell_index(notebook, part.name) is None:
            flags.append(f"{release_nb.name}: answer cell {part.name} lost its nbgrader metadata")
    if any(looks_like_a_score(_output_text(c)) for c in notebook.cells):
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
    """All the text of a cell's outputs (their layout is checked on reading)."""
    pieces = []
    for output in cell.get("outputs") or []:
        text = output.get("text")
        if text is None:
            text = (output.get("data") or {}).get("text/plain", "")
        pieces.extend([text] if isinstance(text, str) else text)
    return "".join(pieces)
