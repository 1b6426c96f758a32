"""A passed pre-flight, remembered: the grade command pays for it once, not on every run.

The pre-flight (:func:`~autograder.whole_class.preflight`) grades the instructor solutions in
the sandbox before any student, and costs half a minute, mostly a fresh process importing
PyTorch.  Its verdict depends only on what it is given and where it runs, so a pass is kept in
``autograded/.autograder/.preflight/<assignment>.json`` under a key, and a later run skips the
pre-flight while its key is the same.  The key is one SHA-256 over these components, each a
SHA-256 of its own:

* the job the pre-flight grades: the release notebooks (bytes), the instructor solutions as
  the job carries them, the assignment, the isolation level, the time limits, and the key its
  hidden cases are drawn from (which follows the course secret);
* the grader's code: every file of this package but its ``checks/`` folder, and that folder
  (the hidden checks) apart, so that a run can say which of the two changed;
* the course package: every file of the ``cnnbook`` this interpreter would import, found
  without importing it, and its place (a sandbox gets a view of exactly that package);
* the interpreter and the machine (``sys.version``, ``sys.executable``, the platform with its
  kernel, the host name) and the installed versions of numpy, torch, pytest, nbformat and
  nbgrader, read from their metadata, so that computing the key never imports torch.

Only a pass is written; a failed pre-flight removes the record.  A pass older than
:data:`MAX_AGE_S` is run again: the key cannot see the system's libraries or its settings
(user namespaces, limits).

The record is state on disk that anything with the course's permissions may have written, so
reading it fails closed: the only outcome of a doubtful record is a pre-flight.  It is no
proof: whoever can write the course's files can also write a record that matches, or change
the grader itself.  The pre-flight guards against faults of the environment, not against the
course's staff; at the namespaces and userns levels student code cannot reach ``autograded/``
(the sandbox hides the course), at the process level it can, as it can reach the grader.

=================================  ===========================================================
what the record file may be        what reading it does
=================================  ===========================================================
missing                            runs the pre-flight
larger than MAX_RECORD_BYTES       reads at most that many bytes, then runs the pre-flight
a link, a FIFO, a folder           never followed, never waited on; runs the pre-flight
not JSON, or nested too deep       runs the pre-flight
JSON of another shape, format,     runs the pre-flight
assignment or grader version
a key that is not its components'  runs the pre-flight (a hand-edited key is no pass)
a pass from the future, or older   runs the pre-flight
than MAX_AGE_S
=================================  ===========================================================
"""
import hashlib
import importlib.util
import itertools
import json
import math
import os
import platform
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from .isolation.installed_packages import COURSE_PACKAGE
from .state_files import read_bounded

RECORD_FORMAT = "autograder-preflight-record/1"
RECORD_FOLDER = ".preflight"        # a dot folder: never a student's report, never an assignment
# An honest record is under 2 KiB; anything larger is not one, and is not read further.
MAX_RECORD_BYTES = 64 * 1024
# A day covers a deadline night; past it, what the key cannot see (system libraries, the kernel)
# has had time to change, and half a minute once a day is cheap.
MAX_AGE_S = 24 * 3600.0
GRADER_DIR = Path(__file__).resolve().parent
CHECKS_FOLDER = "checks"
# The installed packages that decide how the solutions are read, run and checked.
PACKAGES = ("numpy", "torch", "pytest", "nbformat", "nbgrader")
COMPONENTS = ("release", "instructor solutions", "assignment", "isolation level", "time limits",
              "hidden cases", "grader code", "hidden checks", "course package", "interpreter",
              "installed packages")
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
_FIELDS = {"format", "assignment", "key", "components", "passed_at", "seconds"}


@dataclass(frozen=True)
class PreflightKey:
    components: dict              # component name (one of COMPONENTS) -> SHA-256 hex of what decides it

    @property
    def digest(self):
        return digest_of(*itertools.chain.from_iterable(sorted(self.components.items())))

    def changed_since(self, earlier):
        """The components whose digest differs from ``earlier``'s, in the order of COMPONENTS."""
        return [name for name in COMPONENTS if self.components.get(name) != earlier.components.get(name)]


@dataclass(frozen=True)
class Record:
    key: PreflightKey
    passed_at: float              # time.time() when the pre-flight passed
    seconds: float                # what it cost then


@dataclass(frozen=True)
class Verdict:
    skip: bool
    reason: str                   # for the run's "pre-flight: ..." line


def preflight_key(job, grader_dir=GRADER_DIR, course_package=None):
    """The key of the pre-flight that grades ``job`` here (``course_package``: default, the one found)."""
    return PreflightKey({**job_components(job), **environment_components(grader_dir, course_package)})


def job_components(job):
    """What the :class:`~autograder.one_submission.Job` of the pre-flight carries, component by component."""
    solutions = job.submitted
    return {"release": mapping_digest(job.release),
            "instructor solutions": digest_of(mapping_digest(solutions.files), solutions.timestamp,
                                              mapping_digest(solutions.refused)),
            "assignment": digest_of(job.assignment),
            "isolation level": digest_of(job.isolation),
            "time limits": digest_of(repr(job.time_limits)),
            "hidden cases": digest_of("cases", job.case_key)}


def environment_components(grader_dir=GRADER_DIR, course_package=None):
    """The grader's code, its hidden checks, the course package, the interpreter and the package versions."""
    grader_dir = Path(grader_dir)
    package = course_package_dir() if course_package is None else Path(course_package)
    return {"grader code": folder_digest(grader_dir, leave_out=CHECKS_FOLDER),
            "hidden checks": folder_digest(grader_dir / CHECKS_FOLDER),
            "course package": folder_digest(package) if package else digest_of("not found"),
            "interpreter": digest_of(sys.version, sys.executable, platform.platform(), platform.node()),
            "installed packages": digest_of(*(f"{name}=={installed_version(name)}" for name in PACKAGES))}


def course_package_dir():
    """The folder of the ``cnnbook`` this interpreter would import (found, not imported), or None."""
    try:
        spec = importlib.util.find_spec(COURSE_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(spec.origin).resolve().parent if spec.origin else Path(next(iter(spec.submodule_search_locations)))


def installed_version(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


def folder_digest(folder, leave_out=None):
    """Its place, and every file under it (relative path and bytes) but caches and the course secret."""
    folder = Path(folder).resolve()
    fields = [str(folder)]
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if (relative.parts[0] != leave_out and "__pycache__" not in relative.parts and path.name != ".secret"
                and path.is_file()):
            fields += [relative.as_posix(), path.read_bytes()]
    return digest_of(*fields)


def mapping_digest(mapping):
    return digest_of(*itertools.chain.from_iterable(sorted(mapping.items())))


def digest_of(*fields):
    """SHA-256 hex of ``fields`` (text or bytes), each prefixed by its length, so none can run into the next."""
    digest = hashlib.sha256()
    for field in fields:
        data = field if isinstance(field, bytes) else str(field).encode("utf-8")
        digest.update(b"%d:" % len(data))
        digest.update(data)
    return digest.hexdigest()


# ---------------------------------------------------------------------------
# The record on disk
# ---------------------------------------------------------------------------

def record_path(records_dir, assignment):
    """Where a pass of ``assignment`` is kept: ``records_dir`` is the grader's ``autograded/.autograder``."""
    return Path(records_dir) / RECORD_FOLDER / f"{assignment}.json"


def verdict(path, key, assignment, now=None):
    """Whether the pre-flight keyed ``key`` may be skipped: only for a sound record of the same key."""
    now = time.time() if now is None else now
    try:
        record = read_record(path, assignment)
    except FileNotFoundError:
        return Verdict(False, "no pass recorded")
    except OSError as error:     # its reason, not its path: the line stays one short line
        return Verdict(False, f"the record is not one this grader wrote ({error.strerror or type(error).__name__})")
    except (ValueError, RecursionError) as error:
        return Verdict(False, f"the record is not one this grader wrote ({error})")
    if record.key.digest != key.digest:
        return Verdict(False, f"changed since it last passed: {', '.join(key.changed_since(record.key))}")
    if not 0 <= now - record.passed_at <= MAX_AGE_S:
        return Verdict(False, f"the last pass is not from the last {MAX_AGE_S / 3600:g} h")
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(record.passed_at))
    return Verdict(True, f"unchanged since {when} (record {key.digest[:12]}), skipped")


def read_record(path, assignment):
    """The :class:`Record` at ``path``; ValueError (or OSError) for anything a pass did not write."""
    data = json.loads(read_bounded(path, MAX_RECORD_BYTES))
    if not isinstance(data, dict) or set(data) != _FIELDS or data["format"] != RECORD_FORMAT:
        raise ValueError("not a pre-flight record of this format")
    if data["assignment"] != assignment:
        raise ValueError(f"a record of another assignment, {str(data['assignment'])[:40]!r}")
    components = data["components"]
    if (not isinstance(components, dict) or sorted(components) != sorted(COMPONENTS)
            or not all(isinstance(value, str) and _HEX_DIGEST.fullmatch(value) for value in components.values())):
        raise ValueError("its components are not the ones this grader keys a pre-flight by")
    key = PreflightKey(components)
    if data["key"] != key.digest:
        raise ValueError("its key is not the digest of its components")
    if not all(_is_number(data[name]) for name in ("passed_at", "seconds")):
        raise ValueError("its times are not numbers")
    return Record(key, float(data["passed_at"]), float(data["seconds"]))


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def write_record(path, key, assignment, seconds, now=None):
    """Keep a pass: written whole to a new file, then renamed over the old one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"format": RECORD_FORMAT, "assignment": assignment, "key": key.digest,
                       "components": key.components, "passed_at": time.time() if now is None else now,
                       "seconds": round(seconds, 1)}, indent=1, sort_keys=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False,
                                     encoding="utf-8") as handle:
        handle.write(text + "\n")
    os.replace(handle.name, path)


def forget_record(path):
    """Remove the record of an earlier pass (a failed pre-flight must not leave one that a later run trusts)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
