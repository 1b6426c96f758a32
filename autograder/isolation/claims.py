"""What one sandbox holds on the host for its whole life: a user id and a scratch folder.

Both are claimed with ``flock(2)``, and a claim ends with the open file that holds it: when
the sandbox closes, or when its grader dies, even by SIGKILL.  So no two sandboxes, in one
grading process or in several, ever share a user id (which would let one student's
processes, keys or files meet another's), and a scratch folder nobody holds any more is
stale and may be swept.
"""
import fcntl
import os
import random
import shutil
import stat
import tempfile
import time
from dataclasses import dataclass

# Sandbox user ids lie in [BASE_UID, BASE_UID + UID_SLOTS): above every real account.
BASE_UID = 2_000_000
UID_SLOTS = 4096
CLAIMS_FOLDER = "autograder-uid-claims"
SCRATCH_PREFIX = "autograder-sandbox-"
# A folder younger than this may belong to a sandbox that has not locked it yet.
STALE_AFTER_S = 60


class ClaimError(Exception):
    """No user id or scratch folder could be claimed (a problem of the grading machine)."""


@dataclass
class Claim:
    """A held lock: ``uid`` (for a user id claim) or ``path`` (for a scratch folder)."""
    fd: int
    uid: int = -1
    path: str = ""

    def release(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def claim_uid():
    """A sandbox user id no other live sandbox holds."""
    folder = _private_folder(os.path.join(tempfile.gettempdir(), CLAIMS_FOLDER))
    for uid in _candidate_uids():
        fd = os.open(os.path.join(folder, str(uid)), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW,
                     0o600)
        if _try_lock(fd, fcntl.LOCK_EX):
            return Claim(fd, uid=uid)
        os.close(fd)
    raise ClaimError(f"no free sandbox user id among {UID_SLOTS}: are that many sandboxes running?")


def _candidate_uids(tries=256):
    return [BASE_UID + random.randrange(UID_SLOTS) for _ in range(tries)]


def claim_scratch():
    """A new private scratch folder in the temporary directory, held until released."""
    path = tempfile.mkdtemp(prefix=SCRATCH_PREFIX)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    fcntl.flock(fd, fcntl.LOCK_SH)
    return Claim(fd, path=path)


def sweep_stale_scratch(now=None):
    """Remove the scratch folders of sandboxes that are gone (a killed run); the paths removed."""
    now = time.time() if now is None else now
    swept = []
    base = tempfile.gettempdir()
    for name in sorted(os.listdir(base)):
        path = os.path.join(base, name)
        if name.startswith(SCRATCH_PREFIX) and _stale(path, now):
            shutil.rmtree(path, ignore_errors=True)
            swept.append(path)
    return swept


def _stale(path, now):
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or now - info.st_mtime < STALE_AFTER_S:
        return False
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NOFOLLOW)
    try:
        return _try_lock(fd, fcntl.LOCK_EX)
    finally:
        os.close(fd)


def _try_lock(fd, kind):
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _private_folder(path):
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
        raise ClaimError(f"{path} should be a folder only this user can open; remove it and grade again")
    return path
