"""An assignment's grades in the file each LMS's grade import reads as it is.

``python -m autograder export ASSIGNMENT --lms canvas|moodle|blackboard --roster FILE`` reads
each student's final score from ``gradebook.db`` through nbgrader's API, the very number
``grades.csv``'s ``total`` and ``nbgrader export``'s ``score`` are (:func:`.gradebook.class_totals`:
autograded points, plus formgrader's manual adjustments, less the late penalty, at least 0), and
writes one row per student of the roster (:mod:`.roster`) under the ids that LMS knows them by.
Numbers are written in full (``72.5``, never ``72.50`` or ``7.25e1``), so the LMS reads exactly
the gradebook's float.

The three formats, as each LMS documents its import:

* **Canvas** (Grades, Import; "How do I import grades in the Gradebook?" in the Canvas Instructor
  Guide, https://community.canvaslms.com/t5/Instructor-Guide/How-do-I-import-grades-in-the-Gradebook/ta-p/807,
  and the Ohio State summary of its required columns,
  https://teaching.resources.osu.edu/toolsets/carmencanvas/guides/calculating-final-grades/import-csv-file-carmen-grades):
  the gradebook export's own columns ``Student, ID, SIS User ID, SIS Login ID, Section``, then the
  assignment's column ``Name (assignment id)``, which updates that assignment (without an id,
  Canvas creates a new assignment of that name); the second row is Canvas's ``Points Possible``
  row.  Canvas finds each student by ``ID`` (the user id), else the SIS ids.
* **Moodle** (Grades, Import, CSV file; https://docs.moodle.org/311/en/Grade_import and
  ``grade/import/csv/classes/load_data.php``): a header row, then one row per student; on the
  preview page "Map from" is the identifier column (``ID number`` mapped to ``useridnumber``,
  or ``Email address`` to ``useremail``: ``--moodle-key``) and the grade column is mapped to the
  grade item.  Moodle aborts the whole import on a row whose user it cannot find, and a row
  with an empty identifier keeps the previous row's user, so every row here has its identifier.
* **Blackboard** (Grade Center, Work Offline, Upload; "Uploading External Grade Center Items",
  http://library.blackboard.com/ref/36ba3329-e441-488a-93ce-7a55543cc999/Content/Grade%20Center/Uploading%20External%20Grade%20Center%20Items.htm):
  comma-delimited with every cell in quotes, a ``Username`` column (Blackboard's unique id of
  a student), then the column as the Grade Center's download names it,
  ``Name [Total Pts: MAX Score] |COLUMN_ID``: the ``|id`` updates that column; without it the
  upload creates a new text column with 0 points possible (give ``--column-id``).

A student of the roster with no submission gets an **empty** cell in every format, never 0:
Canvas shows it as not graded (its final score counts it as 0, its current score leaves it out,
as its gradebook export notes say: https://ts.vcu.edu/askit/teaching-and-learning/canvas/faculty/grading-faculty/gradebook-action-menu-faculty/),
Moodle's importer reads ``""`` as "no grade" (``update_grade_item`` sets ``finalgrade`` null),
and for Blackboard, whose help does not say what an empty cell does to a grade already there,
the upload's confirmation page previews every column before anything changes.  A zero would be
a grade the grader never gave; give it in the LMS, where its late and missing policies are.

Refusals, one line each, all at once, and then nothing is written (:class:`ExportError`):
an assignment the gradebook does not know; a graded student missing from the roster, or
without the id this LMS needs; a grade still waiting for manual grading in formgrader (unless
``--allow-ungraded``: its autograded part is exported).  The file is written beside its final
name and renamed into place, so a reader never sees half of it.
"""
import csv
import os
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry

from .gradebook import class_totals

LMS_NAMES = ("canvas", "moodle", "blackboard")
MOODLE_KEYS = {"idnumber": ("moodle_idnumber", "ID number"), "email": ("moodle_email", "Email address")}
CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")


class ExportError(Exception):
    """The grades cannot be exported as asked; ``problems`` holds one line per problem."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__(self.problems[0] if len(self.problems) == 1 else
                         f"{len(self.problems)} problems, the first: {self.problems[0]}")


@dataclass(frozen=True)
class ExportRequest:
    """What to export and how: the LMS, its column, and what may be exported anyway."""
    assignment: str
    lms: str
    column_name: str = ""          # the LMS's name of the assignment; default: the nbgrader name
    column_id: str = ""            # Canvas's assignment id or Blackboard's column id; "" for a new column
    moodle_key: str = "idnumber"
    allow_ungraded: bool = False


@dataclass(frozen=True)
class ExportRow:
    """One student's row: their roster entry and the score the LMS gets ("" for no submission)."""
    entry: object                  # roster.RosterEntry
    score: str
    needs_manual_grading: bool = False


@dataclass(frozen=True)
class Exported:
    """What was written: where, how many rows with a score, how many empty, and the max score."""
    path: Path
    scored: int
    empty: int
    ungraded: int
    max_score: float


def export_grades(coursedir, roster, request, out):
    """Write ``request.assignment``'s grades for ``request.lms`` to ``out``; an :class:`Exported`."""
    _check_request(request)
    graded, max_score = read_scores(coursedir, request.assignment)
    rows = rows_for(roster, graded, request)
    table = TABLES[request.lms](rows, request, max_score)
    write_atomically(Path(out), table, quote_all=request.lms == "blackboard")
    return Exported(Path(out), sum(bool(row.score) for row in rows), sum(not row.score for row in rows),
                    sum(row.needs_manual_grading for row in rows), max_score)


def _check_request(request):
    if request.lms not in LMS_NAMES:
        raise ExportError([f"--lms must be one of {', '.join(LMS_NAMES)}, not {request.lms!r}"])
    if request.moodle_key not in MOODLE_KEYS:
        raise ExportError([f"--moodle-key must be one of {', '.join(MOODLE_KEYS)}, not {request.moodle_key!r}"])
    if request.column_id and not (request.column_id.isascii() and request.column_id.isdigit()):
        raise ExportError([f"--column-id must be the LMS's number for the column (digits), not {request.column_id!r}"])
    if request.column_id and request.lms == "moodle":
        raise ExportError(["--column-id is Canvas's or Blackboard's; Moodle maps the column on its preview page"])
    name = request.column_name
    if any(not ch.isprintable() for ch in name) or name.startswith(("=", "+", "-", "@")) or "|" in name:
        raise ExportError([f"--column-name {name[:40]!r}: printable text, no '|', not starting with = + - @"])


def read_scores(coursedir, assignment):
    """``({student: SubmissionTotals}, max score)`` of every submission in the gradebook."""
    database = coursedir.db_url.removeprefix("sqlite:///")
    if database != coursedir.db_url and not Path(database).is_file():
        # Opening it would create an empty gradebook here.
        raise ExportError([f"no gradebook at {database}: run the export from the course root, after grading"])
    with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        try:
            found = gb.find_assignment(assignment)
        except MissingEntry:
            known = ", ".join(sorted(a.name for a in gb.assignments)) or "none"
            raise ExportError([f"the gradebook has no assignment {assignment!r} (it has: {known}); "
                               "give the name nbgrader uses"]) from None
        students = sorted(submission.student.id for submission in found.submissions)
        max_score = float(found.max_score)
    return class_totals(coursedir, assignment, students), max_score


def rows_for(roster, graded, request):
    """One :class:`ExportRow` per roster student, in roster order; every refusal at once."""
    problems = []
    in_roster = {entry.nbgrader_id for entry in roster.entries}
    problems += [f"{student} is graded but not in the roster {roster.source}: add their row (nbgrader_id "
                 f"{student} and their {request.lms} ids)" for student in sorted(set(graded) - in_roster)]
    rows = []
    for entry in roster.entries:
        totals = graded.get(entry.nbgrader_id)
        problems += _entry_problems(entry, totals, request, roster.source)
        score = number(totals.final) if totals is not None else ""
        rows.append(ExportRow(entry, score, bool(totals and totals.needs_manual_grading)))
    if problems:
        raise ExportError(problems)
    return rows


def _entry_problems(entry, totals, request, source):
    """Why ``entry``'s row would import wrongly, or []."""
    needed = {"canvas": ("canvas_user_id",), "moodle": (MOODLE_KEYS[request.moodle_key][0],),
              "blackboard": ("blackboard_username",)}[request.lms]
    problems = [f"{entry.nbgrader_id} has no {column} in the roster {source}: fill it in (the {request.lms} "
                "import finds students by it)" for column in needed if not getattr(entry, column)]
    if totals is not None and totals.needs_manual_grading and not request.allow_ungraded:
        problems.append(f"{entry.nbgrader_id} still waits for manual grading in formgrader: grade it there, "
                        "or give --allow-ungraded to export the autograded score")
    return problems


def number(value):
    """``value`` as the plain decimal that reads back as the same float: 80, 72.5, 0.30000000000000004."""
    value = float(value)
    # repr is the shortest text that reads back as the same float; Decimal writes it without an exponent.
    return str(int(value)) if value.is_integer() else format(Decimal(repr(value)), "f")


def canvas_table(rows, request, max_score):
    column = request.column_name or request.assignment
    header = [*CANVAS_COLUMNS, f"{column} ({request.column_id})" if request.column_id else column]
    points = ["Points Possible", "", "", "", "", number(max_score)]
    return [header, points] + [[row.entry.name, row.entry.canvas_user_id, row.entry.canvas_sis_user_id,
                                row.entry.canvas_sis_login_id, row.entry.canvas_section, row.score] for row in rows]


def moodle_table(rows, request, max_score):
    column, label = MOODLE_KEYS[request.moodle_key]
    header = [label, request.column_name or request.assignment]
    return [header] + [[getattr(row.entry, column), row.score] for row in rows]


def blackboard_table(rows, request, max_score):
    column = request.column_name or request.assignment
    if request.column_id:
        column = f"{column} [Total Pts: {number(max_score)} Score] |{request.column_id}"
    return [["Username", column]] + [[row.entry.blackboard_username, row.score] for row in rows]


TABLES = {"canvas": canvas_table, "moodle": moodle_table, "blackboard": blackboard_table}


def write_atomically(path, table, quote_all=False):
    """Write ``table`` as CSV (UTF-8, CRLF as RFC 4180) to a hidden file beside ``path``, then rename it there."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(handle, "w", newline="", encoding="utf-8") as file:
            csv.writer(file, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL).writerows(table)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
