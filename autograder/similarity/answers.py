"""Each student's own code: the answer cells of a submission, less what the release already held.

An honest class looks alike where the release made it alike: every answer cell of ``numpy_cnn``
starts with the same signature, docstring and provided check, and ends with the same ``cache`` and
``return`` lines.  So, for each graded part, the student's cell is found as the grader finds it
(:func:`autograder.nbgrader_io.submission.locate_answer`: by ``grade_id``, else by cell id, else the
last cell defining the part's function), and every line whose text (spaces at either end aside)
is a line of the release's cell is taken out.  What is left is the student's own code, which is
what the detector compares (and the release's cells go to the detector as boilerplate as well,
:mod:`.detector`).

Submissions are untrusted: they are read only through
:func:`~autograder.nbgrader_io.submission.read_submitted_folder` (regular files, never through a
link, every size and name bounded) and parsed by
:func:`autograder.nbgrader_io.cells.parse_notebook` (JSON counted before it is built), as
:func:`~autograder.nbgrader_io.submission.read_submission` parses them (not called itself: it also
builds each part's program for a sandbox, which cost two thirds of reading a class of 300).  A
student whose notebooks cannot be read is kept with the reason, and compared on what could be read.
Each part's code is cut at :data:`MAX_PART_CHARS`, so that one huge cell costs what an honest one
does.
"""
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..checks.parts import assignment_parts
from ..nbgrader_io import cells
from ..nbgrader_io.gradebook import assignment_dir
from ..nbgrader_io.release import load_release
from ..nbgrader_io.submission import locate_answer, read_submitted_folder

# The course's longest answer cell has about 3,000 characters; four times that leaves room for
# verbose honest work, and bounds what one cell costs the tokenizer and the page.
MAX_PART_CHARS = 12_000


@dataclass(frozen=True)
class StudentCode:
    """One student's own code, part by part, and what could not be read."""
    student: str
    parts: dict                              # part name -> the student's own lines (release lines out)
    notes: tuple = ()                        # why something was not read or was cut; never its content


@dataclass(frozen=True)
class ClassCode:
    """The whole class as the detector sees it."""
    assignment: str
    part_names: tuple                        # in the release's order
    students: list = field(default_factory=list)


def read_class(coursedir, assignment):
    """Every ``submitted/<student>/<assignment>/`` of the course, as :class:`ClassCode`."""
    release_dir = assignment_dir(coursedir, "release", assignment)
    release = load_release(release_dir, assignment_parts(assignment))
    release_cells = {part: cells.cell_source(nb.answers[part])
                     for nb in release.notebooks.values() for part in nb.answers}
    part_names = tuple(part.name for nb in release.notebooks.values() for part in nb.parts)
    submitted = Path(coursedir.root) / coursedir.submitted_directory
    students = [read_student(submitted / name / assignment, release, release_cells)
                for name in student_names(submitted, assignment)]
    return ClassCode(assignment, part_names, students)


def student_names(submitted, assignment):
    """Names of the folders under ``submitted/`` that hold an entry ``assignment`` (links and odd names
    included: the reader refuses them with a reason, so that the report says who was left out)."""
    try:
        entries = sorted(entry.name for entry in Path(submitted).iterdir())
    except FileNotFoundError:
        return []
    return [name for name in entries if not name.startswith(".")
            and os.path.lexists(Path(submitted) / name / assignment)]


def read_student(folder, release, release_cells):
    """One student's :class:`StudentCode`, read within the grader's bounds."""
    folder = Path(folder)
    submitted = read_submitted_folder(folder, list(release.notebooks))
    parts, notes = {}, []
    for name, release_nb in release.notebooks.items():
        notebook, note = _parsed(submitted, name)
        if note:
            notes.append(note)
            continue
        for part in release_nb.parts:
            where = locate_answer(notebook, release_nb.answers[part.name], part)
            if where is None:
                continue
            parts[part.name], cut = own_lines(where.source, release_cells[part.name])
            if cut:
                notes.append(f"{part.name}: only the first {MAX_PART_CHARS:,} characters of the student's own "
                             "code were compared")
    return StudentCode(submitted.student or folder.parent.name, parts, tuple(notes))


def _parsed(submitted, name):
    """``(notebook, "")``, or ``(None, why)`` for a notebook not read, quoting nothing of the file."""
    file_name = f"{name}.ipynb"
    if file_name in submitted.refused:
        return None, f"{file_name} was not read: {submitted.refused[file_name]}"
    if name not in submitted.files:
        return None, f"{file_name} was not submitted"
    try:
        return cells.parse_notebook(submitted.files[name], file_name), ""
    except cells.NotebookError as error:
        return None, str(error)


def own_lines(source, release_source):
    """``(code, cut)``: ``source`` without the lines of ``release_source``, cut to :data:`MAX_PART_CHARS`.

    Lines are matched on their text with spaces at either end stripped, so a provided line that the
    student indented differently is still the release's; blank lines are kept (they cost nothing,
    and keep the shown code readable).
    """
    cut = len(source) > 4 * MAX_PART_CHARS
    source = source[:4 * MAX_PART_CHARS]          # bounds the split below; the release lines go next
    provided = {line.strip() for line in release_source.splitlines() if line.strip()}
    kept = "\n".join(line for line in source.splitlines() if line.strip() not in provided).strip("\n")
    if len(kept) > MAX_PART_CHARS:
        kept, cut = kept[:MAX_PART_CHARS], True
    return kept, cut
