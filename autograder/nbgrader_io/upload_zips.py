"""A bulk download and the uploads in it, read with every byte and entry counted before it is read.

Nothing is unpacked to disk and nothing is read ahead: each file of the download, or of a zip a
student uploaded, is a :class:`StoredFile` that knows its declared size and how to open itself.
The intake reads only what it uses (a notebook it takes, a zip it opens), through
:func:`read_bounded`, so an earlier Blackboard attempt or a 150 MiB data set in a student's zip
costs nothing but its name.

The budgets, each checked from the zip's central directory before anything is read (the entry
count and directory size in its end record before the directory is parsed, then each entry's
``file_size`` before the entry is opened), and again while reading, since a directory can lie
(zipfile stops at the declared size and then fails the checksum; a stream is read to at most its
limit plus one byte, and more is a refusal):

* one notebook: ``MAX_NOTEBOOK_BYTES``, the limit the grader itself reads notebooks with;
* one student's upload, every level of it together (their files of the download, their zips, the
  zips inside those; two levels are opened, no deeper): :class:`Budget`, ``MAX_UPLOAD_BYTES`` read
  and ``MAX_UPLOAD_ENTRIES`` zip entries listed;
* the bulk download: ``MAX_DOWNLOAD_ENTRIES`` files and ``MAX_DOWNLOAD_BYTES`` declared; over
  either, or unreadable, it is an :class:`IntakeError` before any student is read.

:class:`Upload` expands one student's files, each in a guarded step: anything one file does
(encrypted, compressed with a method zipfile lacks such as Deflate64, damaged, over a budget, an
entry named as another student's upload) leaves that file out with a reason from
:func:`reason_for`, which names the failure and never quotes what the file holds.
"""
import contextlib
import datetime
import io
import os
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Callable

from .cells import MAX_NOTEBOOK_BYTES
from .lms_names import names_another, shown

# A student's upload is a few notebooks, perhaps zipped twice: four notebooks at their limit.
MAX_UPLOAD_BYTES = 4 * MAX_NOTEBOOK_BYTES
# A whole project folder zipped with its .git still fits; a million tiny entries (a memory bomb
# through the central directory alone) does not.
MAX_UPLOAD_ENTRIES = 10_000
# The central directory zipfile parses before the entries can be counted: 10,000 entries of 200
# bytes (a long name and the extra fields archivers write).  Whatever the end record claims,
# parsing it builds at most this / 46 bytes (the smallest entry) = 45,000 ZipInfos (~1 s, ~25 MB).
MAX_ZIP_DIRECTORY_BYTES = 2 * 2**20
MAX_ZIP_DEPTH = 2                  # the upload's zip, and one zip inside it
# A class of 2,000 uploading 25 files each; the download's central directory at 500 bytes an entry.
MAX_DOWNLOAD_ENTRIES = 50_000
MAX_DOWNLOAD_DIRECTORY_BYTES = MAX_DOWNLOAD_ENTRIES * 500
# Declared bytes of the files the intake may read (a file over MAX_UPLOAD_BYTES is refused unread
# and not counted): 2,000 students at 32 MiB.  Beyond it, collect the class in parts.
MAX_DOWNLOAD_BYTES = 64 * 2**30
# Stored and Deflate, what every zip tool writes by default, are the methods zipfile decompresses
# in bounded steps (ZipExtFile.read(n) inflates at most n bytes).  It feeds bzip2 (12) whole
# chunks with no output limit (a 4 KiB chunk of a bzip2 bomb inflates to gigabytes), and LZMA's
# (14) dictionary size, up to 4 GiB, is the archive's to choose; it cannot read Deflate64 (9),
# PPMd (98) or AES (99) at all.  Those are refused before opening, with what to do instead.
READABLE_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}
METHOD_NAMES = {9: "Deflate64", 12: "bzip2", 14: "LZMA", 98: "PPMd", 99: "AES encryption"}
ENCRYPTED_FLAG = 0x1               # bit 0 of a zip entry's general purpose flags
# The times a zip can store.  A time outside them (a DOS date of month 0, a file touched to year
# 9999) is taken as the earliest: datetime.min in the LMS's zone does not survive conversion to UTC.
EARLIEST, LATEST = datetime.datetime(1980, 1, 1), datetime.datetime(2107, 12, 31, 23, 59, 58)


class IntakeError(Exception):
    """The download or the options cannot be read as asked."""


class Refused(Exception):
    """One file of an upload is left out; the message is the reason the report shows."""


def size_text(size):
    if size >= 2**30:
        return f"{size / 2**30:.1f} GiB"
    return f"{size} bytes" if size < 2**20 else f"{size / 2**20:.0f} MiB"


@dataclass(frozen=True)
class StoredFile:
    """One file of the download, or of a zip a student uploaded: its name, size and how to open it."""
    path: str                        # inside the download, "/"-separated
    size: int                        # as declared (zip central directory) or found (folder)
    modified: datetime.datetime      # naive: the LMS's local time (a student's zip: the student's clock)
    opener: Callable = field(repr=False, compare=False)
    uploaded_as: str = ""            # the name the student gave it, where the LMS prefixed it
    data: bytes = field(default=b"", repr=False, compare=False)   # once read, for a notebook taken

    @property
    def name(self):
        return self.uploaded_as or PurePosixPath(self.path).name


@dataclass
class Budget:
    """What one student's upload may still cost: bytes expanded and zip entries listed, all levels."""
    bytes_left: int = MAX_UPLOAD_BYTES
    entries_left: int = MAX_UPLOAD_ENTRIES

    def take_entries(self, count):
        if count > self.entries_left:
            raise Refused(f"a zip of {count} entries, over the {self.entries_left} left of the upload's "
                          f"{MAX_UPLOAD_ENTRIES}: zip only the notebooks")
        self.entries_left -= count


def read_bounded(stored, limit, budget, over):
    """``stored``'s bytes: its declared size checked against ``limit`` and ``budget`` first, then at
    most that size read, plus one byte to catch a lie; ``over`` says which limit, for the reason.

    Asking for the declared size, not the limit, matters: ZipExtFile.read(n) inflates up to n bytes
    before it cuts at the declared size, so a directory that declares 1000 bytes of a 50 MiB entry
    would otherwise cost 50 MiB (twice, for a moment) to find the lie."""
    if stored.size > limit:
        raise Refused(f"{size_text(stored.size)} expanded, over {over}")
    if stored.size > budget.bytes_left:
        raise Refused(f"{size_text(stored.size)} expanded, over the {size_text(budget.bytes_left)} left of "
                      f"the upload's {size_text(MAX_UPLOAD_BYTES)}: send the notebooks only")
    with stored.opener() as stream:
        data = stream.read(stored.size + 1)
    if len(data) > stored.size:
        raise Refused(f"expands past the {size_text(stored.size)} it declares")
    budget.bytes_left -= len(data)
    return data


def reason_for(error):
    """What the report says of a file that could not be read: the kind of failure, never its content."""
    if isinstance(error, Refused):
        return str(error)
    if isinstance(error, zipfile.BadZipFile):
        return "damaged: not a readable zip, or its data fails the zip's checksum; zip it again"
    if isinstance(error, (zlib.error, EOFError)):
        return "damaged: its compressed data does not decompress; zip it again"
    if isinstance(error, NotImplementedError):
        return "compressed with a method Python's zipfile cannot read: zip it again with ordinary Deflate"
    if isinstance(error, MemoryError):
        return "too large to read into memory"
    return f"could not be read ({type(error).__name__})"


def zip_entries(archive, prefix):
    """The files of an open zip, unread, their paths under ``prefix``."""
    return [StoredFile(prefix + info.filename, info.file_size, _entry_time(info), partial(_open_entry, archive, info))
            for info in archive.infolist() if not info.is_dir()]


def _entry_time(info):
    try:
        return datetime.datetime(*info.date_time)
    except ValueError:               # a DOS date with month 0 or day 0
        return EARLIEST


def _open_entry(archive, info):
    """A stream of one entry, refused before opening when zipfile could not read it anyway."""
    if info.flag_bits & ENCRYPTED_FLAG:
        raise Refused("encrypted with a password: upload it without one")
    if info.compress_type not in READABLE_METHODS:
        method = METHOD_NAMES.get(info.compress_type, f"method {info.compress_type}")
        raise Refused(f"compressed with {method}, which the intake does not read: "
                      "zip it again with ordinary Deflate (every zip tool's default)")
    return archive.open(info)


def _directory_size(file):
    """``(entries, bytes)`` of a zip's central directory, from its end record, before zipfile parses it.

    zipfile._EndRecData is private, but it is the very function ZipFile uses to find the
    directory, so the count checked here and the directory parsed there cannot disagree."""
    end = zipfile._EndRecData(file)
    if end is None:
        raise zipfile.BadZipFile("no end of central directory record")
    return end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE]


def open_upload_zip(data, budget):
    """A student's zip (bytes in memory), opened only after its directory fits ``budget``."""
    entries, directory_bytes = _directory_size(io.BytesIO(data))
    if directory_bytes > MAX_ZIP_DIRECTORY_BYTES:
        raise Refused(f"a zip whose directory alone is {size_text(directory_bytes)}, over "
                      f"{size_text(MAX_ZIP_DIRECTORY_BYTES)}: zip only the notebooks")
    budget.take_entries(entries)
    archive = zipfile.ZipFile(io.BytesIO(data))
    budget.take_entries(max(0, len(archive.infolist()) - entries))   # an end record that under-counts
    return archive


class Upload:
    """One student's files expanded within one :class:`Budget`: the notebooks found, unread, and
    every file left out with its reason.  ``other_student(name)`` says whose upload a name inside
    this one reads as, when it reads as someone else's."""

    def __init__(self, files, other_student):
        self.budget, self.left_out, self.other_student = Budget(), [], other_student
        self.notebooks = [notebook for stored in files for notebook in self._guarded(stored, 0)]

    def leave_out(self, stored, reason):
        self.left_out.append(f"{shown(stored.path)} ({reason})")

    def read_notebook(self, stored):
        """The notebook's bytes, or None with the reason left out."""
        try:
            data = read_bounded(stored, MAX_NOTEBOOK_BYTES, self.budget,
                                f"the notebook limit of {size_text(MAX_NOTEBOOK_BYTES)}: clear its outputs")
            if not data:
                raise Refused("empty")
            return data
        except Exception as error:      # one file's failure is that file's alone (reason_for names it)
            self.leave_out(stored, reason_for(error))
            return None

    def _guarded(self, stored, depth):
        try:
            return self._notebooks_in(stored, depth)
        except Exception as error:      # one file's failure is that file's alone (reason_for names it)
            self.leave_out(stored, reason_for(error))
            return []

    def _notebooks_in(self, stored, depth):
        name = stored.name.lower()
        if depth and ("__MACOSX" in stored.path.split("/") or name.startswith(".")):
            return []                   # an archiver's metadata in a zip, not the student's work
        if name.endswith(".ipynb"):
            return [stored]
        if not name.endswith(".zip"):
            self.leave_out(stored, "not a notebook")
        elif depth >= MAX_ZIP_DEPTH:
            self.leave_out(stored, f"a zip nested more than {MAX_ZIP_DEPTH} deep, not opened: zip the notebooks once")
        else:
            return self._zip_notebooks(stored, depth)
        return []

    def _zip_notebooks(self, stored, depth):
        data = read_bounded(stored, MAX_UPLOAD_BYTES, self.budget, f"the upload limit of {size_text(MAX_UPLOAD_BYTES)}")
        notebooks, reported = [], len(self.left_out)
        for inner in zip_entries(open_upload_zip(data, self.budget), stored.path + "/"):
            other = self.other_student(inner.path[len(stored.path) + 1:])
            if other:
                self.leave_out(inner, names_another(other))
            else:
                notebooks += self._guarded(inner, depth + 1)
        if not notebooks and len(self.left_out) == reported:
            self.leave_out(stored, "a zip with no file in it but an archiver's metadata")
        return notebooks


@contextlib.contextmanager
def opened_download(download):
    """Every regular file of the bulk download (a zip or a folder), unread, the download's budget checked."""
    download = Path(download)
    if download.is_dir():
        yield _folder_files(download)
    elif zipfile.is_zipfile(download):
        with _bulk_zip(download) as archive:
            yield zip_entries(archive, "")
    else:
        raise IntakeError(f"{download} is neither a folder nor a zip file: give the LMS's bulk download")


def _bulk_zip(path):
    try:
        with open(path, "rb") as file:
            entries, directory_bytes = _directory_size(file)
        _check_download(path, entries, directory_bytes > MAX_DOWNLOAD_DIRECTORY_BYTES, 0)
        archive = zipfile.ZipFile(path)
    except IntakeError:
        raise
    except Exception as error:          # whatever zipfile fails with, the download as a whole is unreadable
        raise IntakeError(f"{path} is not a readable zip ({type(error).__name__}): download it from the LMS "
                          "again, or give the folder it unpacks to") from None
    infos = archive.infolist()
    _check_download(path, len(infos), False, sum(_countable(info.file_size) for info in infos))
    return archive


def _countable(size):
    return size if size <= MAX_UPLOAD_BYTES else 0     # refused unread, so it costs no time


def _check_download(download, entries, directory_too_large, declared_bytes):
    if entries > MAX_DOWNLOAD_ENTRIES or directory_too_large:
        raise IntakeError(f"{download} holds {entries} files (or a directory over "
                          f"{size_text(MAX_DOWNLOAD_DIRECTORY_BYTES)}), over the {MAX_DOWNLOAD_ENTRIES} one "
                          "intake reads: download the submissions in parts (by section) and collect each")
    if declared_bytes > MAX_DOWNLOAD_BYTES:
        raise IntakeError(f"{download} declares {size_text(declared_bytes)} of uploads, over the "
                          f"{size_text(MAX_DOWNLOAD_BYTES)} one intake reads: download the submissions in parts")


def _folder_files(folder):
    """The regular files under ``folder`` (links never followed), within the download's budget."""
    files = []
    for path in folder.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        files.append(_folder_file(path, folder))
        _check_download(folder, len(files), False, 0)
    _check_download(folder, len(files), False, sum(_countable(f.size) for f in files))
    return sorted(files, key=lambda f: f.path)


def _folder_file(path, base):
    status = path.lstat()
    try:
        modified = datetime.datetime.fromtimestamp(status.st_mtime).replace(microsecond=0)
    except (OverflowError, OSError, ValueError):
        modified = EARLIEST
    modified = modified if EARLIEST <= modified <= LATEST else EARLIEST
    return StoredFile(path.relative_to(base).as_posix(), status.st_size, modified, partial(_open_regular, path))


def _open_regular(path):
    """The file itself, never what a link put there since the listing points to."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise Refused("not a regular file")
    return os.fdopen(descriptor, "rb")
