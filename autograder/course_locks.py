"""The course's two locks: one grading service per course, and one writer of the gradebook at a time.

Both are ``flock`` locks on files under ``autograded/.autograder/`` (the grader's own folder):
the kernel releases them when their process ends, however it ends, so a killed service or
``grade`` never leaves a stale lock behind.

* :func:`service_lock`, held for the service's whole life: a second ``serve`` in the same
  course stops at once, saying which process serves (the holder writes its process id and
  assignment into the file).
* :func:`gradebook_lock`, held only while one outcome is placed under ``autograded/`` and
  recorded in ``gradebook.db``, and while ``grades.csv`` is written.  ``grade`` by hand and the
  service both take it, so neither waits longer than one record (a fraction of a second) and
  ``autograded/``, the gradebook and the instructor's record always come from the same run.
  The service's own lock could not serve here: the service holds it for its life, so ``grade``
  beside it could never take it.

A lock file is opened without following a link (``O_NOFOLLOW``), so a link planted in its place
is refused instead of being created elsewhere.
"""
import contextlib
import errno
import fcntl
import os
from pathlib import Path

LOCK_FOLDER = Path("autograded") / ".autograder"
SERVICE_LOCK = ".service.lock"
GRADEBOOK_LOCK = ".gradebook.lock"


class ServiceRunning(Exception):
    """Another grading service holds this course's lock."""


def _open_lock(root, name):
    folder = Path(root) / LOCK_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    return os.open(folder / name, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)


@contextlib.contextmanager
def service_lock(root, assignment):
    """Hold the course's service lock, or raise :class:`ServiceRunning` naming the process that holds it."""
    fd = _open_lock(root, SERVICE_LOCK)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "a process"
            raise ServiceRunning(f"a grading service already runs for this course ({holder}); one course has one "
                                 "service: stop it first (it exits on SIGTERM)") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()}, serving {assignment}\n".encode("utf-8"), 0)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def gradebook_lock(root):
    """Hold the gradebook's lock (waiting for it) while one outcome is placed and recorded."""
    fd = _open_lock(root, GRADEBOOK_LOCK)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
