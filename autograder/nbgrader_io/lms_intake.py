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

* Canvas: ``<name>_[LATE_]<user id>_<submission id>_<file>``;
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
"""
import dataclasses
import datetime
import io
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nbgrader.utils import parse_utc

from .cells import MAX_NOTEBOOK_BYTES

# A student's upload is a few notebooks; a file this large is refused rather than read into memory.
MAX_UPLOAD_BYTES = 4 * MAX_NOTEBOOK_BYTES
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f UTC"      # what nbgrader itself writes in timestamp.txt
# A student id becomes a folder name under submitted/: never "..", a slash or anything a shell would mangle.
STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,99}")

LAYOUTS = {
    "canvas": re.compile(r"(?P<name>[^_/]+)_(?:LATE_)?(?P<student>\d+)_\d+_(?P<file>[^/]+)"),
    "blackboard": re.compile(r"(?P<assignment>[^/]+)_(?P<student>[^_/]+)_attempt_"
                             r"(?P<attempt>\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d)(?:_(?P<file>[^/]+)|\.txt)"),
    "moodle": re.compile(r"(?P<name>[^/]+)_(?P<student>\d+)_assignsubmission_(?:file|onlinetext)_/?(?P<file>.*)"),
}


class IntakeError(Exception):
    """The download or the options cannot be read as asked."""


@dataclass(frozen=True)
class StoredFile:
    """One file of the download (or of a zip a student uploaded), read into memory."""
    path: str                        # inside the download, "/"-separated
    data: bytes
    modified: datetime.datetime      # naive: the LMS's local time
    uploaded_as: str = ""            # the name the student gave it, where the LMS prefixed it

    @property
    def name(self):
        return self.uploaded_as or PurePosixPath(self.path).name


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

    @property
    def complete(self):
        return not self.missing


def intake(course_submitted, assignment, download, lms, zone_name, release_names, update=False):
    """Collect ``download`` into ``course_submitted/<student>/<assignment>/``; one :class:`StudentIntake` each."""
    zone, layout = _zone(zone_name), _layout(lms)
    results = []
    for student, files in sorted(_by_student(read_download(download), layout).items()):
        result, chosen = _latest_attempt(student, files, layout, zone)
        _match_notebooks(result, expand_uploads(chosen, result), release_names)
        if result.found:
            result.written = _write(Path(course_submitted) / student / assignment, result, update)
        else:
            result.written = "nothing written: no notebook of the release in the upload"
        results.append(result)
    return results


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


def read_download(download):
    """Every regular file of the bulk download (a zip or a folder), as :class:`StoredFile`."""
    download = Path(download)
    if download.is_dir():
        return [_stored_file(path, download) for path in sorted(download.rglob("*"))
                if path.is_file() and not path.is_symlink()]
    if zipfile.is_zipfile(download):
        with zipfile.ZipFile(download) as archive:
            return list(_zip_entries(archive, ""))
    raise IntakeError(f"{download} is neither a folder nor a zip file: give the LMS's bulk download")


def _stored_file(path, base):
    if path.stat().st_size > MAX_UPLOAD_BYTES:
        return StoredFile(path.relative_to(base).as_posix(), b"", datetime.datetime.min)
    modified = datetime.datetime.fromtimestamp(path.stat().st_mtime).replace(microsecond=0)
    return StoredFile(path.relative_to(base).as_posix(), path.read_bytes(), modified)


def _zip_entries(archive, prefix):
    for info in archive.infolist():
        if info.is_dir():
            continue
        data = archive.read(info) if info.file_size <= MAX_UPLOAD_BYTES else b""
        yield StoredFile(prefix + info.filename, data, datetime.datetime(*info.date_time))


def _by_student(files, layout):
    """``{student: [StoredFile]}``; a file no student's name pattern fits goes under ``""``."""
    students = {}
    for stored in files:
        match = layout.fullmatch(stored.path)
        student = match.group("student") if match else ""
        students.setdefault(student if STUDENT_ID.fullmatch(student) else "", []).append(stored)
    if "" in students and len(students) == 1:
        raise IntakeError("no file of the download is named the way this LMS names submissions; "
                          f"check --lms (first file: {files[0].path if files else 'none'})")
    return students


def _latest_attempt(student, files, layout, zone):
    """The student's files of the latest attempt (Blackboard keeps every attempt), and its time."""
    result = StudentIntake(student or "(no student)")
    if not student:
        result.left_out = [f"{f.path} (not named like a submission of this LMS, or no usable student id)"
                           for f in files]
        return result, []
    attempts = {}
    for stored in files:
        attempt = layout.fullmatch(stored.path).groupdict().get("attempt")
        attempts.setdefault(attempt, []).append(stored)
    latest = max(attempts, key=lambda a: a or "")
    chosen = attempts[latest]
    for older in sorted(set(attempts) - {latest}, key=lambda a: a or ""):
        result.left_out += [f"{f.path} (an earlier attempt)" for f in attempts[older]]
    if latest:
        local, result.time_source = datetime.datetime.strptime(latest, "%Y-%m-%d-%H-%M-%S"), "the file name"
    else:
        local, result.time_source = max(f.modified for f in chosen), "the download's file time"
    result.submitted_at = local.replace(tzinfo=zone)
    uploaded = [(f, layout.fullmatch(f.path).group("file")) for f in chosen]
    return result, [dataclasses.replace(f, uploaded_as=PurePosixPath(name).name) for f, name in uploaded if name]


def expand_uploads(files, result):
    """The notebooks among a student's uploaded files, zips opened (one zip inside another too)."""
    notebooks = []
    for stored in files:
        notebooks += _notebooks_in(stored, result, depth=0)
    return notebooks


def _notebooks_in(stored, result, depth):
    name = stored.name
    if "__MACOSX" in stored.path.split("/") or name.startswith("."):
        return []                     # an archiver's metadata, not the student's work
    if not stored.data:
        result.left_out.append(f"{stored.path} (empty, or over {MAX_UPLOAD_BYTES // 2**20} MiB)")
        return []
    if name.lower().endswith(".ipynb"):
        return [stored]
    if name.lower().endswith(".zip") and depth < 2:
        try:
            with zipfile.ZipFile(io.BytesIO(stored.data)) as archive:
                return [nb for inner in _zip_entries(archive, stored.path + "/")
                        for nb in _notebooks_in(inner, result, depth + 1)]
        except zipfile.BadZipFile:
            result.left_out.append(f"{stored.path} (not a readable zip)")
            return []
    result.left_out.append(f"{stored.path} (not a notebook)")
    return []


def notebook_key(file_name):
    """The release name a file name stands for: case, `` (1)`` and ``-1`` copies' suffixes ignored."""
    stem = PurePosixPath(file_name).name[:-len(".ipynb")]
    return re.sub(r"(?: \(\d+\)|-\d+)$", "", stem).strip().lower()


def _match_notebooks(result, notebooks, release_names):
    """Fill ``result.found`` (the newest file for each release name), ``missing`` and ``left_out``."""
    wanted = {name.lower(): name for name in release_names}
    candidates = {}
    for stored in notebooks:
        key = notebook_key(stored.name)
        if key in wanted:
            candidates.setdefault(wanted[key], []).append(stored)
        else:
            result.left_out.append(f"{stored.path} (not a notebook of the release)")
    for name, found in candidates.items():
        found.sort(key=lambda f: (f.modified, f.path), reverse=True)
        result.found[name] = found[0]
        result.left_out += [f"{f.path} (another {name}.ipynb, older)" for f in found[1:]]
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
    incoming = Path(tempfile.mkdtemp(prefix=f".{folder.name}.intake-", dir=folder.parent))
    for name, stored in result.found.items():
        (incoming / f"{name}.ipynb").write_bytes(stored.data)
    (incoming / "timestamp.txt").write_text(stamp + "\n", encoding="utf-8")
    incoming.chmod(0o755)
    replaced = folder.with_name(f".{folder.name}.replaced")
    if existed:
        os.rename(folder, replaced)
    os.rename(incoming, folder)
    shutil.rmtree(replaced, ignore_errors=True)
    return "replaced the earlier collection (this download is newer)" if existed else "written"


def _existing_timestamp(folder):
    try:
        return parse_utc((folder / "timestamp.txt").read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None


def report_line(result):
    """One line per student: where each notebook came from, what is missing and what was left out."""
    when = (f", submitted {result.submitted_at:%Y-%m-%d %H:%M:%S %Z} (from {result.time_source})"
            if result.submitted_at else "")
    found = ", ".join(f"{name}.ipynb <- {stored.path}" for name, stored in sorted(result.found.items()))
    line = f"{result.student}{when}: {found or 'no notebook'}"
    if result.missing:
        line += f"; MISSING {', '.join(f'{name}.ipynb' for name in result.missing)} (its parts score 0, and its feedback says why)"
    if result.left_out:
        line += f"; left out: {'; '.join(result.left_out)}"
    return line + f"; {result.written}" if result.written else line
