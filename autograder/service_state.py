"""What the grading service remembers across restarts, in one small file it alone writes.

``autograded/.autograder/.service/<assignment>.json`` holds, per student:

* ``seen_through``: the latest change time (the kernel's, seconds since the epoch) of an
  inbound folder of that student the service has handled: graded and released, or answered
  with a "received, not graded" page.  A folder changed later is new.  Work in flight when the
  service stopped was not handled, so a restart grades it, and whatever arrived meanwhile;
* ``graded_at``: when the student was graded, for the attempt limit
  (:mod:`autograder.submit_policy`);
* ``details``: the detail level of the last page released ("" after a "received" page), so
  that pages made before the due date are made again with the level that follows it.

The file is written whole to a new file, flushed to disk and renamed over the old one, so a
crash leaves the old state or the new, never half of one.  It is read as state anything with the
course's permissions may have written, and fails closed: whatever is not exactly this format
(too large, a link, not JSON, another assignment, a field of the wrong type or bounds) is not
used, the run says why, and the service starts from no state: every student's latest submission
is graded once more, and the attempt counts start again.  No state can make the service skip a
submission it has not handled: times only decide what is new and when the next attempt counts.
"""
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .nbgrader_io.feedback_details import DETAIL_LEVELS
from .nbgrader_io.gradebook import STUDENT_ID
from .state_files import read_bounded

STATE_FORMAT = "autograder-service-state/1"
STATE_FOLDER = ".service"        # a dot folder: never a student's report, never an assignment
# A class of thousands with a few dozen times each is under a megabyte.
MAX_STATE_BYTES = 8 * 1024 * 1024
MAX_STUDENTS = 100_000
MAX_TIMES = 1000                 # graded times kept per student (the window needs at most graded_attempts)


@dataclass
class StudentState:
    seen_through: float = 0.0
    graded_at: list = field(default_factory=list)
    details: str = ""


def state_path(root, assignment):
    return Path(root) / "autograded" / ".autograder" / STATE_FOLDER / f"{assignment}.json"


def load_state(path, assignment):
    """``({student: StudentState}, problem)``: ``problem`` is "" for a sound file, else why it was not used."""
    try:
        return _parse(read_bounded(path, MAX_STATE_BYTES), assignment), ""
    except FileNotFoundError:
        return {}, ""
    except (OSError, ValueError, RecursionError) as error:
        return {}, str(error) or type(error).__name__


def _parse(data, assignment):
    document = json.loads(data)
    if not isinstance(document, dict) or set(document) != {"format", "assignment", "students"}:
        raise ValueError("not a state file of the grading service")
    if document["format"] != STATE_FORMAT or document["assignment"] != assignment:
        raise ValueError(f"not this format ({STATE_FORMAT}) or not this assignment ({assignment})")
    students = document["students"]
    if not isinstance(students, dict) or len(students) > MAX_STUDENTS:
        raise ValueError(f"its students are not a mapping of at most {MAX_STUDENTS}")
    return {name: _student(name, entry) for name, entry in students.items()}


def _student(name, entry):
    if not STUDENT_ID.fullmatch(name):
        raise ValueError("a student name is not a plain folder name")
    if not isinstance(entry, dict) or set(entry) != {"seen_through", "graded_at", "details"}:
        raise ValueError(f"the entry of {name} is not one the service writes")
    times = entry["graded_at"]
    if not isinstance(times, list) or len(times) > MAX_TIMES or not all(map(_is_time, times)):
        raise ValueError(f"the graded times of {name} are not at most {MAX_TIMES} times")
    if not _is_time(entry["seen_through"]) or entry["details"] not in ("",) + DETAIL_LEVELS:
        raise ValueError(f"the entry of {name} has a field of the wrong type")
    return StudentState(float(entry["seen_through"]), [float(t) for t in times], entry["details"])


def _is_time(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def save_state(path, assignment, students):
    """Write the state whole to a new file, flush it to disk, then rename it over the old one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"format": STATE_FORMAT, "assignment": assignment,
                "students": {name: {"seen_through": entry.seen_through, "graded_at": entry.graded_at[-MAX_TIMES:],
                                    "details": entry.details} for name, entry in sorted(students.items())}}
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False,
                                     encoding="utf-8") as handle:
        json.dump(document, handle, indent=1)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(handle.name, path)
