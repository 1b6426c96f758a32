"""``nbgrader collect`` that takes a submission's owner and time from the kernel, not from the student.

nbgrader's exchange is one folder every user of the hub may write into, and what a
submission says of itself is written by the student's own process: its folder's name
(``<student>+<assignment>+<timestamp>+<random>``) and its ``timestamp.txt``.  nbgrader's
own collect believes both (a folder owned by somebody else than the student it names
earns a warning, and is collected), and copies with ``shutil.copytree``, which follows
symbolic links.  On a hub with real Unix users, one student could therefore submit in a
classmate's name (the latest claimed time wins, so the classmate's own work is dropped),
backdate a late submission, or put a link to any file the instructor can read (a
classmate's notebook in the exchange) into their own folder.

This collect, named in ``c.ExchangeFactory.collect`` of the course's ``nbgrader_config.py``:

* **identity**: takes a submission only from a real folder (not a link) owned by the
  Unix user it names, or by the user who collects (an instructor's own test
  submission); anything else is refused with an error line and stays in the exchange,
  so nothing is lost.  Where every student runs as one Unix user (containers sharing
  the exchange) the kernel cannot tell students apart: nbgrader's own
  ``c.ExchangeCollect.check_owner = False`` collects by name alone, and every run says that a student can then submit
  as another;
* **time**: dates the submission by the kernel's change time (``ctime``, which no user
  can set back) of its folder and of everything in it, the latest of them, and writes
  that time into the collected ``timestamp.txt``: a backdated claim gains nothing;
* **content**: copies regular files only, never through a link, at most
  :data:`MAX_DEPTH` folders deep and :data:`MAX_ENTRIES` entries, each file within
  nbgrader's ``max_file_size``; a student name must be a plain folder name.
"""
import datetime
import errno
import itertools
import os
import pwd
import stat

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.exchange.default.collect import ExchangeCollect, groupby
from nbgrader.utils import check_mode, parse_utc

from .gradebook import STUDENT_ID, TIMESTAMP_FORMAT

# nbgrader submit writes its time, then copies the files: a claim this much earlier than the kernel's
# time is not a clock's doing.
CLOCK_SLACK = datetime.timedelta(minutes=1)
# A submission holds the release's few notebooks; far more is not a submission.
MAX_ENTRIES = 200
MAX_DEPTH = 4
_OPEN_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class OwnerCheckedCollect(ExchangeCollect):
    """nbgrader's collect, with the owner, the time and the files of each submission checked."""

    def init_src(self):
        """nbgrader's checks of the course, then every submission of the assignment, refused ones named."""
        if self.coursedir.course_id == "":
            self.fail("No course id specified. Re-run with --course flag.")
        self.course_path = os.path.join(self.root, self.coursedir.course_id)
        self.inbound_path = os.path.join(self.course_path, "inbound")
        if not os.path.isdir(self.inbound_path):
            self.fail(f"Course not found: {self.inbound_path}")
        if not check_mode(self.inbound_path, read=True, execute=True):
            self.fail(f"You don't have read permissions for the directory: {self.inbound_path}")
        self.duedate = self._duedate()
        if not self.check_owner:
            self.log.warning("check_owner is off: the exchange cannot tell students apart, so a student can "
                             "submit in another student's name")
        self._kernel_times = {}        # path -> its time, for do_copy's timestamp.txt
        records = [self._record(name) for name in self._submission_names()]
        for record in records:
            if record["refused"]:
                self.log.error("refused %r: %s; it stays in the exchange", record["filename"], record["refused"])
        groups = groupby([r for r in records if not r["refused"]], lambda record: record["username"])
        self.src_records = [self._chosen(group) for group in groups.values()]

    def _duedate(self):
        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gradebook:
            try:
                return gradebook.find_assignment(self.coursedir.assignment_id).duedate
            except MissingEntry:
                return None

    def _submission_names(self):
        """Names in the inbound folder of this assignment's submissions (of ``--student``, if given)."""
        names = []
        for name in sorted(os.listdir(self.inbound_path)):
            fields = name.rsplit("+", 3)
            if len(fields) == 4 and fields[1] == self.coursedir.assignment_id \
                    and self.coursedir.student_id in ("", "*", fields[0]):
                names.append(name)
        return names

    def _record(self, name):
        """nbgrader's record of one submission, its time the kernel's; ``refused`` says why not, or ""."""
        path = os.path.join(self.inbound_path, name)
        username, _assignment, claimed, _random = name.rsplit("+", 3)
        record = {"username": username, "filename": name}
        try:
            record["refused"] = self._refusal(path, username)
            if not record["refused"]:
                record["timestamp"] = self._kernel_times[path] = kernel_time(path)
        except OSError as error:     # a folder its student made unreadable, or one gone since it was listed
            record["refused"] = f"it could not be read ({errno.errorcode.get(error.errno, 'error')})"
        if record["refused"]:
            return record
        try:
            backdated = parse_utc(claimed) < record["timestamp"] - CLOCK_SLACK
        except (ValueError, OverflowError, TypeError):
            backdated = False     # an unreadable claim is simply not used
        if backdated:
            self.log.warning("%r claims an earlier time than the exchange recorded; collected with %s",
                             name, record["timestamp"])
        return record

    def _chosen(self, records):
        """The latest submission, or with ``--before-duedate`` the latest on time (as nbgrader chooses)."""
        records = self._sort_by_timestamp(records)
        if self.duedate is not None and self.before_duedate:
            on_time = [record for record in records if record["timestamp"] <= self.duedate]
            return (on_time or records)[0]
        return records[0]

    def _refusal(self, path, username):
        """Why the submission at ``path`` may not be collected for ``username``, or ""."""
        if not STUDENT_ID.fullmatch(username):
            return "its student name is not a plain folder name"
        info = os.lstat(path)
        if not stat.S_ISDIR(info.st_mode):
            return "it is not a folder (a link or a file)"
        if self.check_owner and info.st_uid not in (_uid_of(username), os.geteuid()):
            return f"it names {username} but its owner is {_user_name(info.st_uid)}"
        return ""

    def do_copy(self, src, dest, log=None):
        """Regular files only, never through a link, bounded; then the kernel's time as ``timestamp.txt``."""
        os.makedirs(dest)
        owner = os.lstat(src).st_uid
        skipped = copy_regular_files(src, dest, owner if self.check_owner else None,
                                     self.coursedir.max_file_size * 1000)
        for name, why in skipped:
            self.log.warning("%s: left out %s (%s)", os.path.basename(src), name, why)
        with open(os.path.join(dest, "timestamp.txt"), "w", encoding="utf-8") as stamp:
            stamp.write(self._kernel_times[src].strftime(TIMESTAMP_FORMAT))


def kernel_time(folder):
    """The latest change time of ``folder`` and everything in it (UTC, aware): when it was last written."""
    latest = os.lstat(folder).st_ctime
    for entry, _depth in itertools.islice(_walk(folder), MAX_ENTRIES):     # what copy_regular_files copies
        latest = max(latest, entry.stat(follow_symlinks=False).st_ctime)
    return parse_utc(datetime.datetime.fromtimestamp(latest, datetime.timezone.utc).strftime(TIMESTAMP_FORMAT))


def copy_regular_files(src, dest, owner, max_bytes):
    """Copy ``src`` into ``dest``; ``[(name, why)]`` of what was left out."""
    skipped = []
    for count, (entry, depth) in enumerate(_walk(src)):
        name = os.path.relpath(entry.path, src)
        if count >= MAX_ENTRIES:
            return skipped + [(name, f"more than {MAX_ENTRIES} entries; the rest was not read")]
        info = entry.stat(follow_symlinks=False)
        if owner is not None and info.st_uid != owner:
            skipped.append((name, "owned by another user"))
        elif stat.S_ISDIR(info.st_mode):
            os.makedirs(os.path.join(dest, name), exist_ok=True)
        elif not stat.S_ISREG(info.st_mode):
            skipped.append((name, "a link or not a regular file"))
        else:
            why = _copy_file(entry.path, os.path.join(dest, name), max_bytes)
            skipped += [(name, why)] if why else []
    return skipped


def _walk(folder, depth=0):
    """Every entry under ``folder``, never through a link, at most MAX_DEPTH folders deep."""
    with os.scandir(folder) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            yield entry, depth
            if entry.is_dir(follow_symlinks=False) and depth + 1 < MAX_DEPTH:
                yield from _walk(entry.path, depth + 1)


def _copy_file(source, target, max_bytes):
    """Copy one regular file without following a link; "" or why it was not copied."""
    try:
        fd = os.open(source, _OPEN_FILE)
    except OSError as error:
        return f"not read ({errno.errorcode.get(error.errno, 'error')})"
    with os.fdopen(fd, "rb") as reader:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "not a regular file"
        data = reader.read(max_bytes + 1)
    if len(data) > max_bytes:
        return f"over {max_bytes} bytes"
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "wb") as writer:
        writer.write(data)
    return ""


def _uid_of(username):
    try:
        return pwd.getpwnam(username).pw_uid
    except KeyError:
        return None


def _user_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"user id {uid}"
