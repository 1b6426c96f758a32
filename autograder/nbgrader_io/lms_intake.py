"""A learning management system's bulk download into ``submitted/``, with nothing lost in silence.

``python -m autograder intake ASSIGNMENT DOWNLOAD --lms canvas|blackboard|moodle --timezone ZONE``
reads the bulk download (the zip the LMS gives, or the folder it unpacks to), never
unpacking anything to disk under the names inside it.  Each stored file's name gives
the student and, for Blackboard, the attempt's time; what a student uploaded may be
loose notebooks or a zip of them, with the notebooks at any depth inside.  Each
release notebook is found by its name (ignoring case, a browser's `` (1)`` and
Canvas's ``-1`` suffixes), and the student's folder ``submitted/<student>/<assignment>/``
gets exactly the release's notebook names plus ``timestamp.txt`` in UTC, as
``nbgrader collect`` writes them.  One line per student says what was taken from
where, what is missing and what was left out, so that a notebook in the wrong
place is reported by name, never graded 0 in silence.

The file names each system uses (the bulk "Download submissions"):

* Canvas: ``<name>_[LATE_]<user id>_<attachment id>_<file>``;
* Blackboard: ``<assignment>_<username>_attempt_<YYYY-MM-DD-HH-MM-SS>_<file>`` (and a
  ``.txt`` receipt per attempt), every attempt of a student in the same download;
* Moodle: ``<full name>_<participant id>_assignsubmission_file_/<file>`` (a folder per
  student), or the same prefix glued to the file's name.

The submission time, to the second: Blackboard's from the file name; Canvas's and
Moodle's from the time the download stores with each file (a zip stores even
seconds only, so that time may be one second early).  Both are the LMS's local
time, hence ``--timezone``.  Of several attempts the latest is taken.  A
student already collected is kept as is, unless ``--update`` is given and this
download is newer.

What is trusted, and what is not (students choose their files' names and contents, and some
choose their display names):

* Whose upload a file is, and its attempt's time, come only from the part of its name the LMS
  writes, read left to right and anchored to the layout (:mod:`.lms_names`): a student's own
  file name, whatever separators or other students' ids it holds, is opaque.  A name that reads
  as two students' uploads, or a file inside an upload (a Moodle subfolder, a zip entry) named as
  another student's, is left out with a line saying so: for the student whose upload it is when
  the LMS's part says so for certain, else under "(no student)".  Two ids that differ only in
  case are both refused (they would share a folder on a case-insensitive disk).
* Each student's upload is read in a guarded step within one budget (:mod:`.upload_zips`):
  200 MiB expanded and 10,000 zip entries for all its levels together, 50 MiB per notebook,
  zips opened two levels deep, every size checked from the zip's directory before a byte is
  read and every read bounded; stored and Deflate entries only (zipfile inflates bzip2 with no
  output limit).  An encrypted, Deflate64, damaged or bomb-shaped upload, or
  anything else that fails, is "left out (why)" for that student alone; every classmate is
  collected and reported.  The bulk download has a budget of its own (50,000 files, 64 GiB
  declared); over it, or unreadable, the intake stops before any student with what to do.
* Names are printed through :func:`.lms_names.shown` (control characters escaped, cut at 160
  characters), so a file name cannot forge a report line; reasons name a failure, never content.
* A time a zip cannot hold (a DOS date of month 0) is taken as 1980-01-01, never a crash.
* Only the newest file for each release notebook is read (each at most once), and nothing is
  kept in memory past its student's folder.

With ``--roster FILE`` (:mod:`.roster`), each student's folder is named by their nbgrader id:
the roster maps the id the LMS's file names carry (Canvas's user id, Moodle's participant id,
Blackboard's username, matched exactly) to it, so an LMS class and a hub class share one
gradebook.  An upload whose id the roster lacks is never given an id of its own: it is reported
as "not in the roster", nothing of it is written, and the exit status says to look.  Without a
roster the LMS's id is the folder's name, as before (an LMS-only course needs no roster).
"""
import dataclasses
import datetime
import os
import re
import shutil
import tempfile
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nbgrader.utils import parse_utc

from .gradebook import TIMESTAMP_FORMAT
from .lms_names import ATTEMPT_FORMAT, LAYOUTS, name_reader, shown
from .roster import DOWNLOAD_ID_COLUMN
from .upload_zips import MAX_UPLOAD_BYTES, IntakeError, Upload, opened_download, reason_for  # noqa: F401

# A browser's " (1)" and Canvas's "-1" on a file uploaded again.
COPY_SUFFIX = re.compile(r"(?: \([0-9]+\)|-[0-9]+)$")


@dataclass
class StudentIntake:
    """What one student's upload gave, and what became of it."""
    student: str
    submitted_at: datetime.datetime = None     # aware
    time_source: str = ""
    found: dict = field(default_factory=dict)  # release notebook name -> the StoredFile taken
    missing: list = field(default_factory=list)
    left_out: list = field(default_factory=list)   # "path (why)"
    written: str = ""                # what happened to submitted/<student>/<assignment>/
    lms_id: str = ""                 # the LMS's id of the student, where a roster mapped it to another

    @property
    def complete(self):
        return not self.missing


def intake(course_submitted, assignment, download, lms, zone_name, release_names, update=False, roster=None):
    """Collect ``download`` into ``course_submitted/<student>/<assignment>/``; one :class:`StudentIntake` each.

    ``roster``: a :class:`.roster.Roster` naming each folder by the nbgrader id of the LMS's id, or
    None for the LMS's id itself."""
    zone = _zone(zone_name)
    _layout(lms)
    with opened_download(download) as files:
        reader = name_reader(lms, [stored.path for stored in files])
        students = _by_student(files, reader, lms)
        return [_collect(student, pairs, reader, zone, release_names,
                         _target(roster, lms, student, Path(course_submitted), assignment), update)
                for student, pairs in sorted(students.items())]


@dataclass(frozen=True)
class Target:
    """Where one LMS id's upload goes: the nbgrader id and folder, or why it goes nowhere."""
    owner: str              # the folder's student id; "" when the roster does not map the LMS's id
    folder: Path = None
    unmapped: str = ""      # the left-out reason when unmapped


def _target(roster, lms, lms_id, submitted, assignment):
    """The LMS's id itself without a roster; else the roster's nbgrader id for it, or an unmapped target."""
    if roster is None or not lms_id:
        return Target(lms_id, submitted / lms_id / assignment if lms_id else None)
    entry = roster.for_download_id(lms, lms_id)
    if entry is None:
        return Target("", unmapped=f"{roster.source} has no {DOWNLOAD_ID_COLUMN[lms]} {shown(lms_id)}: "
                                   "add the student's row to it and run intake again")
    return Target(entry.nbgrader_id, submitted / entry.nbgrader_id / assignment)


def _collect(student, pairs, reader, zone, release_names, target, update):
    """One student's intake, in one guarded step: whatever their upload does shows on their line only."""
    result, chosen = _latest_attempt(student, pairs, zone)
    if not student:
        return result
    if target.owner != student:
        result.student, result.lms_id = target.owner or "(not in the roster)", student
    if target.unmapped:
        # Each file is named, as every file of the download is: nothing of it is read or written.
        result.left_out.append(f"{', '.join(shown(stored.path) for stored in chosen) or 'its files'} ({target.unmapped})")
        result.written = "nothing written"
        return result
    try:
        upload = Upload(chosen, partial(reader.other_student, owner=student))
        _match_notebooks(result, upload, release_names)
    except Exception as error:      # a failure no file's own guard caught is still this student's alone
        result.found.clear()
        result.missing = list(release_names)
        result.left_out.append(f"the whole upload ({reason_for(error)})")
    if not result.found:
        result.written = "nothing written: no notebook of the release in the upload"
        return result
    result.written = _write(target.folder, result, update)
    result.found = {name: dataclasses.replace(stored, data=b"") for name, stored in result.found.items()}
    return result


def _zone(name):
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise IntakeError(f"--timezone {name!r} is not a time zone name; give the LMS's zone, "
                          "e.g. Europe/Berlin or America/New_York") from None


def _layout(lms):
    if lms not in LAYOUTS:
        raise IntakeError(f"--lms must be one of {', '.join(LAYOUTS)}, got {lms!r}")
    return LAYOUTS[lms]


def _by_student(files, reader, lms):
    """``{student: [(StoredFile, NameReading)]}``; a file no student can be named for goes under ``""``."""
    students = {}
    for stored in files:
        reading = reader.read(stored.path)
        students.setdefault(reading.student, []).append((stored, reading))
    if set(students) <= {""}:
        first = f"{shown(files[0].path)}: {students[''][0][1].refused}" if files else "the download holds no file"
        raise IntakeError(f"no file of the download names a student the way {lms} does; check --lms ({first})")
    return _refuse_case_collisions(students)


def _refuse_case_collisions(students):
    """Ids that differ only in case would share one folder on a case-insensitive disk: refuse each."""
    folded = Counter(student.casefold() for student in students if student)
    for student, pairs in students.items():
        if student and folded[student.casefold()] > 1:
            reason = "another student's id differs from this one only in case: collect both by hand"
            students[student] = [(stored, dataclasses.replace(reading, refused=reason)) for stored, reading in pairs]
    return students


def _latest_attempt(student, pairs, zone):
    """The student's usable files of the latest attempt (Blackboard keeps every attempt), and its time.

    A refused file still belongs to its attempt: refusing the latest one's files never brings an
    earlier attempt back."""
    result = StudentIntake(student or "(no student)")
    attempts = {}
    for stored, reading in pairs:
        attempts.setdefault(reading.attempt, []).append((stored, reading))
    latest = max(attempts)
    for attempt, files in sorted(attempts.items()):
        result.left_out += [f"{shown(stored.path)} ({reading.refused or 'an earlier attempt'})"
                            for stored, reading in files if reading.refused or attempt != latest]
    if not student:
        return result, []
    if latest:
        local, result.time_source = datetime.datetime.strptime(latest, ATTEMPT_FORMAT), "the file name"
    else:
        local, result.time_source = max(stored.modified for stored, _ in attempts[latest]), "the download's file time"
    result.submitted_at = local.replace(tzinfo=zone)
    return result, [dataclasses.replace(stored, uploaded_as=reading.uploaded_as)
                    for stored, reading in attempts[latest] if reading.uploaded_as and not reading.refused]


def release_name(file_name, release_names):
    """The release notebook ``file_name`` stands for, or "": case, Unicode form and the suffixes
    of a copy uploaded again (`` (1)``, ``-1``) ignored."""
    if not file_name.lower().endswith(".ipynb"):
        return ""
    stem = _folded(PurePosixPath(file_name).name[:-len(".ipynb")])
    wanted = {_folded(name): name for name in release_names}
    return wanted.get(stem) or wanted.get(_folded(COPY_SUFFIX.sub("", stem))) or ""


def _folded(text):
    return unicodedata.normalize("NFKC", text).strip().casefold()


def _match_notebooks(result, upload, release_names):
    """Fill ``found`` (the newest readable file for each release name), ``missing`` and ``left_out``."""
    candidates = {}
    for stored in upload.notebooks:
        name = release_name(stored.name, release_names)
        if name:
            candidates.setdefault(name, []).append(stored)
        else:
            upload.leave_out(stored, "not a notebook of the release")
    for name, found in sorted(candidates.items()):
        found.sort(key=lambda f: (f.modified, f.path), reverse=True)
        for stored in found:
            if name in result.found:
                upload.leave_out(stored, f"another {name}.ipynb, older")
            elif (data := upload.read_notebook(stored)) is not None:
                result.found[name] = dataclasses.replace(stored, data=data)
    result.left_out += upload.left_out
    result.missing = [name for name in release_names if name not in result.found]


def _write(folder, result, update):
    """Write the student's folder in one rename; keep an existing one unless ``update`` and this is newer."""
    stamp = result.submitted_at.astimezone(datetime.timezone.utc).strftime(TIMESTAMP_FORMAT)
    existed = folder.exists()
    if existed and not update:
        return "kept the folder already collected (--update replaces it when this download is newer)"
    previous = _existing_timestamp(folder) if existed else None
    if previous is not None and previous >= parse_utc(stamp):
        return f"kept the folder already collected ({previous} UTC is not older than this download)"
    folder.parent.mkdir(parents=True, exist_ok=True)
    incoming = _filled_folder(folder, result, stamp)
    replaced = folder.with_name(f".{folder.name}.replaced")
    if existed:
        os.rename(folder, replaced)
    os.rename(incoming, folder)
    shutil.rmtree(replaced, ignore_errors=True)
    return "replaced the earlier collection (this download is newer)" if existed else "written"


def _filled_folder(folder, result, stamp):
    """A hidden folder beside ``folder`` holding what it will; removed again if writing fails (a full
    disk), so that a failed intake leaves nothing behind."""
    incoming = Path(tempfile.mkdtemp(prefix=f".{folder.name}.intake-", dir=folder.parent))
    try:
        for name, stored in result.found.items():
            (incoming / f"{name}.ipynb").write_bytes(stored.data)
        (incoming / "timestamp.txt").write_text(stamp + "\n", encoding="utf-8")
        incoming.chmod(0o755)
    except BaseException:
        shutil.rmtree(incoming, ignore_errors=True)
        raise
    return incoming


def _existing_timestamp(folder):
    try:
        return parse_utc((folder / "timestamp.txt").read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None


def report_line(result):
    """One line per student: where each notebook came from, what is missing and what was left out."""
    when = (f", submitted {result.submitted_at:%Y-%m-%d %H:%M:%S %Z} (from {result.time_source})"
            if result.submitted_at else "")
    found = ", ".join(f"{name}.ipynb <- {shown(stored.path)}" for name, stored in sorted(result.found.items()))
    who = f"{result.student} ({result.lms_id} in the LMS)" if result.lms_id else result.student
    line = f"{who}{when}: {found or 'no notebook'}"
    if result.missing:
        line += f"; MISSING {', '.join(f'{name}.ipynb' for name in result.missing)} (its parts score 0, and its feedback says why)"
    if result.left_out:
        line += f"; left out: {'; '.join(result.left_out)}"
    return line + f"; {result.written}" if result.written else line
