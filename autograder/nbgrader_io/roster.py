"""The class roster: each student's nbgrader id beside the ids each LMS knows them by.

Intake reads it to file an LMS download under nbgrader ids (:mod:`.lms_intake`), and the
export reads it to write grades back in the LMS's own import format (:mod:`.lms_export`).

The format, exactly (``roster.csv``): a CSV file in UTF-8 (a UTF-8 byte order mark at the very
start, as Excel's "CSV UTF-8" writes it, is allowed), comma-separated, ``"`` as the quote
character, a header row naming its columns in any order, then one row per student:

==========================  ===========================================================  ==============
column                      what it holds                                                form
==========================  ===========================================================  ==============
``nbgrader_id`` (required)  the student's id on the hub: their folder under submitted/   a safe folder name
``name``                    a display name, for Canvas's ``Student`` column              text
``canvas_user_id``          Canvas's user id (in its downloads' file names)              digits
``canvas_sis_user_id``      Canvas's SIS User ID                                         text
``canvas_sis_login_id``     Canvas's SIS Login ID                                        text
``canvas_section``          Canvas's Section                                             text
``moodle_participant_id``   the number a Moodle download names the student's folder by  digits
``moodle_idnumber``         Moodle's ID number (user profile)                            text
``moodle_email``            Moodle's email address                                       an address
``blackboard_username``     Blackboard's username                                        a plain id
==========================  ===========================================================  ==============

Empty cells mean "not known"; rows that are entirely empty are skipped.  A safe folder name is
:data:`.gradebook.STUDENT_ID` (ASCII letters, digits, ``._@-``, not starting with a dot or
dash, at most 100 characters); a plain id is the same with ``_`` and ``+`` allowed.

The roster is the instructor's file, but its cells come from the LMS, and some (display names,
ids a student chose) from students, and they meet names from the students' own uploads.  So it
is read strictly, and every problem is reported at once, one line each, naming the line and
column (a :class:`RosterError` whose ``problems`` are those lines):

* size: at most ``MAX_ROSTER_BYTES`` read (one byte more is a refusal), ``MAX_ROWS`` rows and
  ``MAX_CELL_CHARACTERS`` a cell;
* encodings: UTF-8 only; a UTF-16 or UTF-32 byte order mark, or bytes that are not UTF-8, are
  refused with how to save the file; any character Python does not call printable is refused in
  any cell: control and format characters (bidirectional overrides, zero-width characters, a byte
  order mark inside the file), line and paragraph separators, a line break inside a quoted cell,
  and spaces other than the ASCII one (a no-break space would make two ids look alike);
* identity and collisions: nbgrader ids, and each LMS's ids, are unique, ignoring case (two
  folders that differ in case are one folder on a case-insensitive disk; Blackboard usernames
  and Moodle email addresses are matched without case);
* rendering: a cell starting with ``=``, ``+``, ``-`` or ``@`` is refused, since the export file
  carries cells into a spreadsheet, which would run it as a formula;
* structure: the header names known columns, each once, with ``nbgrader_id``; every row has
  exactly the header's number of cells.
"""
import codecs
import csv
import io
import os
import re
import stat
from dataclasses import dataclass, fields
from functools import cached_property
from pathlib import Path

from .gradebook import STUDENT_ID

# A class of 20,000 students at 200 bytes a row, with room to spare.
MAX_ROSTER_BYTES = 8 * 2**20
MAX_ROWS = 20_000
# The longest id any of the three systems allows is 255 characters (Moodle's ID number and email).
MAX_CELL_CHARACTERS = 255
# A roster with more problems than this is likely not a roster: the rest are counted, not listed.
MAX_PROBLEM_LINES = 20

DIGITS = re.compile(r"[0-9]{1,20}", re.ASCII)
PLAIN_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._@+-]{0,99}", re.ASCII)
EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,190}")
# What a spreadsheet reads as the start of a formula (OWASP's "CSV injection").
FORMULA_START = ("=", "+", "-", "@")
FOREIGN_BOMS = {codecs.BOM_UTF32_LE: "UTF-32", codecs.BOM_UTF32_BE: "UTF-32",
                codecs.BOM_UTF16_LE: "UTF-16", codecs.BOM_UTF16_BE: "UTF-16"}


class RosterError(Exception):
    """The roster cannot be used as it is; ``problems`` holds one line per problem."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__(self.problems[0] if len(self.problems) == 1 else
                         f"the roster has {len(self.problems)} problems: {self.problems[0]} (and more)")


@dataclass(frozen=True)
class RosterEntry:
    """One student: their nbgrader id and what each LMS knows them by ("" when not known)."""
    nbgrader_id: str
    name: str = ""
    canvas_user_id: str = ""
    canvas_sis_user_id: str = ""
    canvas_sis_login_id: str = ""
    canvas_section: str = ""
    moodle_participant_id: str = ""
    moodle_idnumber: str = ""
    moodle_email: str = ""
    blackboard_username: str = ""


COLUMNS = tuple(field.name for field in fields(RosterEntry))
# Which column each cell's form is checked against, and which must be unique (the key folds case or not).
FORMS = {"nbgrader_id": STUDENT_ID, "canvas_user_id": DIGITS, "moodle_participant_id": DIGITS,
         "blackboard_username": PLAIN_ID, "moodle_email": EMAIL}
FORM_NAMES = {STUDENT_ID: "a safe folder name (ASCII letters, digits and ._@-, not starting with . or -)",
              DIGITS: "ASCII digits only", PLAIN_ID: "a plain id (ASCII letters, digits and ._@+-)",
              EMAIL: "an email address"}
UNIQUE = ("nbgrader_id", "canvas_user_id", "canvas_sis_user_id", "canvas_sis_login_id",
          "moodle_participant_id", "moodle_idnumber", "moodle_email", "blackboard_username")
# The column an LMS download's file names carry, which intake maps to an nbgrader id.
DOWNLOAD_ID_COLUMN = {"canvas": "canvas_user_id", "moodle": "moodle_participant_id",
                      "blackboard": "blackboard_username"}


@dataclass(frozen=True)
class Roster:
    """The students of a roster file, in its order."""
    entries: tuple
    source: str = "roster.csv"          # the file's name, for messages

    def by_column(self, column):
        """``{value of column: entry}`` for the entries that have one."""
        return {getattr(entry, column): entry for entry in self.entries if getattr(entry, column)}

    @cached_property
    def _download_ids(self):
        # Built once: intake asks once per student of the download.
        return {lms: self.by_column(column) for lms, column in DOWNLOAD_ID_COLUMN.items()}

    def for_download_id(self, lms, lms_id):
        """The entry whose ``lms`` download id is ``lms_id`` (exactly), or None."""
        return self._download_ids[lms].get(lms_id)


def read_roster(path):
    """The :class:`Roster` in the file at ``path``; :class:`RosterError` listing every problem."""
    name = Path(path).name
    try:
        # Non-blocking, and only a regular file is read: a FIFO or a device given by mistake never hangs it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise RosterError([f"roster {name}: not a regular file; give the roster's path"])
            data = handle.read(MAX_ROSTER_BYTES + 1)
    except OSError as error:
        raise RosterError([f"roster {name}: cannot be read ({error.strerror}); give the roster's path"]) from None
    return parse_roster(data, name)


def parse_roster(data, name="roster.csv"):
    """The :class:`Roster` in ``data`` (the file's bytes); :class:`RosterError` listing every problem."""
    text = _decoded(data, name)
    problems = []
    rows = _rows(text, name, problems)
    entries = _entries(rows, name, problems) if rows else []
    problems += _collisions(entries, name)
    if problems:
        extra = len(problems) - MAX_PROBLEM_LINES
        raise RosterError(problems[:MAX_PROBLEM_LINES] + ([f"roster {name}: {extra} more problem(s) not listed"]
                                                          if extra > 0 else []))
    return Roster(tuple(entry for _, entry in entries), name)


def _decoded(data, name):
    if len(data) > MAX_ROSTER_BYTES:
        raise RosterError([f"roster {name}: over {MAX_ROSTER_BYTES // 2**20} MiB; a roster is one short row "
                           "per student: check the file"])
    for bom, encoding in FOREIGN_BOMS.items():
        if data.startswith(bom):
            raise RosterError([f"roster {name}: save it as CSV in UTF-8, not {encoding} "
                               "(Excel: Save As, CSV UTF-8)"])
    try:
        return data.removeprefix(codecs.BOM_UTF8).decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise RosterError([f"roster {name} line {line}: not UTF-8; save the file as CSV UTF-8 "
                           "(Excel: Save As, CSV UTF-8)"]) from None


def _rows(text, name, problems):
    """``[(line number, cells)]`` of the header and every non-empty row; problems appended."""
    rows = []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        for cells in reader:
            if any(cells):
                rows.append((reader.line_num, cells))
            if len(rows) > MAX_ROWS + 1:
                problems.append(f"roster {name}: over {MAX_ROWS} students; split the class into several rosters")
                return []
    except csv.Error as error:
        problems.append(f"roster {name} line {reader.line_num}: not CSV ({error}); "
                        "quote a cell with a comma or a quote in it")
        return []
    if not rows:
        problems.append(f"roster {name}: empty; its first row names the columns, e.g. nbgrader_id,canvas_user_id")
    return rows


def _entries(rows, name, problems):
    """``[(line, RosterEntry)]`` of the rows under a valid header; problems appended."""
    header_line, header = rows[0]
    columns = _header(header, header_line, name, problems)
    if columns is None:
        return []
    entries = []
    for line, cells in rows[1:]:
        if len(cells) != len(columns):
            problems.append(f"roster {name} line {line}: {len(cells)} cells, but the header names {len(columns)}")
            continue
        found = [_cell_problem(column, cell) for column, cell in zip(columns, cells)]
        problems += [f"roster {name} line {line}, column {column}: {problem}"
                     for column, problem in zip(columns, found) if problem]
        if not any(found):
            entries.append((line, RosterEntry(**dict(zip(columns, cells)))))
    return entries


def _header(header, line, name, problems):
    """The header's column names, or None (with problems appended) when it is not a roster's."""
    unknown = [column for column in header if column not in COLUMNS]
    repeated = sorted({column for column in header if header.count(column) > 1})
    found = []
    if unknown:
        shown = ", ".join(repr(column[:40]) for column in unknown[:5])
        found.append(f"unknown column(s) {shown}; the columns are {', '.join(COLUMNS)}")
    if repeated:
        found.append(f"column(s) named twice: {', '.join(repeated)}")
    if "nbgrader_id" not in header:
        found.append("no nbgrader_id column; the first row names the columns")
    problems += [f"roster {name} line {line}: {problem}" for problem in found]
    return None if found else header


def _cell_problem(column, cell):
    """Why ``cell`` cannot be in ``column``, or ""."""
    if len(cell) > MAX_CELL_CHARACTERS:
        return f"over {MAX_CELL_CHARACTERS} characters"
    if not cell.isprintable():      # control, format, surrogate, unassigned, separators but the ASCII space
        odd = next(ch for ch in cell if not ch.isprintable())
        return f"holds the invisible or control character U+{ord(odd):04X}; retype the cell"
    if cell != cell.strip():
        return "starts or ends with a space; remove it"
    if column == "nbgrader_id" and not cell:
        return "empty; every student needs an nbgrader id"
    if cell.startswith(FORMULA_START):
        return f"starts with {cell[0]!r}, which a spreadsheet runs as a formula"
    form = FORMS.get(column)
    if cell and form is not None and not form.fullmatch(cell):
        return f"{cell[:40]!r} is not {FORM_NAMES[form]}"
    return ""


def _collisions(entries, name):
    """One problem for each value of a unique column that a row before it already holds (ignoring case)."""
    problems = []
    for column in UNIQUE:
        seen = {}
        for line, entry in entries:
            value = getattr(entry, column)
            key = value.casefold()
            if value and key in seen:
                problems.append(f"roster {name} line {line}, column {column}: {value[:40]!r} is already on line "
                                f"{seen[key]} (ignoring case); each student once")
            seen.setdefault(key, line)
    return problems
