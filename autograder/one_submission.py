"""Grade one submission: the trusted side of the grader, in two steps.

1. :func:`grade_submission` computes an :class:`Outcome` in memory from a
   :class:`Job`, on whichever machine runs it (a local pool process or a Dask
   worker).  A job carries everything grading needs and nothing else: the
   release notebooks, the student's submitted files, the isolation level,
   the time limits and the key the hidden checks seed their cases from
   (derived from the term secret for this student; never the secret itself);
   never a path of the course, the gradebook or another student's files.
   On that machine:

   a. :func:`~autograder.nbgrader_io.submission.read_submission` reads the
      submitted files against the release into one sandbox program per graded
      part (setup imports and the answer cells it needs) plus tampering flags
      and notes; the submission's one time budget starts here, and what each
      notebook's JSON may cost is bounded before it is parsed;
   b. :func:`~autograder.checks.runner.run_checks` runs the hidden checks, each
      part against a fresh :class:`~autograder.isolation.student.SandboxStudent`,
      none after the budget is spent;
   c. the results become autograded notebooks and a feedback text (their cost
      is bounded by what reading let through).

2. :func:`place_outcome`, on the client (the one process that also writes
   the gradebook), puts the outcome's files under
   ``autograded/<student>/<assignment>/`` all at once, and its log under
   ``autograded/.autograder/<assignment>/``.

Jobs and outcomes cross machines as plain data (:func:`job_to_wire`,
:func:`outcome_from_wire`): a Dask scheduler has no course code to unpickle
anything else with.  An outcome that comes back is checked against its job
before anything is written (:func:`outcome_from_wire`).
"""
import ctypes
import dataclasses
import errno
import json
import math
import os
import shutil
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .checks.feedback import submission_feedback
from .checks.parts import assignment_parts
from .checks.runner import CheckResult, PartResult, run_checks
from .isolation.student import SandboxStudent, TimeLimits
from .nbgrader_io import autograded
from .nbgrader_io.cells import MAX_NOTEBOOK_BYTES
from .nbgrader_io.feedback_page import FEEDBACK_FILE
from .nbgrader_io.plain_autograde import REPORTS_DIR
from .nbgrader_io.release import load_release
from .nbgrader_io.submission import SubmittedFolder, disagreement_flags, read_submission, read_submitted_folder

TIMESTAMP_FILE = "timestamp.txt"
_AT_FDCWD, _RENAME_EXCHANGE = -100, 2      # from <fcntl.h> and <linux/fs.h>
# The log holds the student's printed output; a class of thousands must not fill the client's disk.
LOG_LIMIT = 1024 * 1024


@dataclass(frozen=True)
class Job:
    assignment: str
    student: str
    release: dict                 # release notebook name -> its bytes (the trusted reference)
    submitted: SubmittedFolder    # read once from submitted/<student>/<assignment>/
    isolation: str
    case_key: str                 # checks.secret.submission_key: never the term secret itself
    time_limits: TimeLimits = TimeLimits()


@dataclass
class Outcome:
    """What grading one submission produced, before anything is written."""
    summary: dict                 # plain JSON data: status, points, flags, ...
    notebooks: dict = field(default_factory=dict)   # autograded notebook name -> nbformat JSON text
    feedback: str = ""
    timestamp: str = ""           # the submission's timestamp.txt, copied for nbgrader's late penalties
    log: list = field(default_factory=list)

    @property
    def student(self):
        return self.summary["student"]


def release_files(release_dir):
    """The release notebooks as a job carries them: name -> bytes."""
    return {path.stem: path.read_bytes() for path in sorted(Path(release_dir).glob("*.ipynb"))}


def submitted_files(folder, notebook_names):
    """What a job carries of ``submitted/<student>/<assignment>/``: its :class:`SubmittedFolder`, read once.

    Regular files only, never through a symbolic link, every size bounded
    (:func:`~autograder.nbgrader_io.submission.read_submitted_folder`).
    """
    return read_submitted_folder(folder, notebook_names)


def reports_dir(root, assignment):
    return Path(root) / "autograded" / REPORTS_DIR / assignment


# ---------------------------------------------------------------------------
# Step 1: the outcome, in memory
# ---------------------------------------------------------------------------

def grade_submission(job, course_root):
    """Grade one student into an :class:`Outcome`; never raises (a failure is status 'error').

    ``course_root`` is the course on the machine doing the grading: its sandboxes hide it.
    """
    started = time.monotonic()
    _one_thread_for_the_oracle()
    try:
        outcome = _grade(job, course_root)
    except Exception as error:
        outcome = Outcome(error_summary(job.student, f"{type(error).__name__}: {error}"),
                          log=["".join(traceback.format_exception(type(error), error, error.__traceback__))])
    outcome.summary["seconds"] = round(time.monotonic() - started, 2)
    outcome.log = bounded_log(outcome.log)
    return outcome


def _one_thread_for_the_oracle():
    """The oracle's tensors hold a few hundred numbers: PyTorch's pool of threads only costs there, and
    with a grading process per core each pool spins against the others (a 2x3x7x7 convolution took
    17 to 40 ms with two threads on a busy 2-core machine, 0.3 ms with one; the checks of a correct
    submission 0.6 to 1 s of oracle, 20 ms).  The grading process computes nothing else with PyTorch."""
    import torch
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)


def error_summary(student, error):
    """The summary of a submission that could not be graded (it records no grade)."""
    return {"student": student, "status": "error", "points": {}, "flags": [], "error": error}


def _grade(job, course_root):
    parts = assignment_parts(job.assignment)
    with tempfile.TemporaryDirectory(prefix="autograder-job-") as scratch:
        release = load_release(_materialise(Path(scratch) / "release", job.release, ".ipynb"), parts)
    # One budget for the whole submission, from reading its notebooks to its last check, however
    # many parts and restarts it takes.
    reading = time.monotonic()
    deadline = reading + job.time_limits.submission_s
    submission = read_submission(job.submitted, release, deadline)
    _note_a_spent_budget(submission, time.monotonic() - reading, deadline, job.time_limits)
    log = []

    def student_for(part_name):
        return SandboxStudent(submission.programs[part_name], job.isolation, str(course_root),
                              job.time_limits, log, submission_deadline=deadline)

    graded = {part.name: release.points[part.name] for part in parts if part.name in submission.programs}
    results = run_checks(graded, student_for, job.case_key.encode("utf-8"), log) if graded else {}
    for part_name, reason in submission.missing.items():
        results[part_name] = PartResult(part_name, release.points[part_name], [
            CheckResult("submission", "notebook submitted", 1.0, False, reason)])
    ordered = [results[part.name] for part in parts]
    flags = submission.flags + disagreement_flags(parts, submission, release, results)
    internal = [f"{r.part}/{c.name}" for r in ordered for c in r.internal_errors]
    summary = {"student": job.student, "status": "error" if internal else "graded",
               "error": f"internal grader errors in {', '.join(internal)}" if internal else "",
               "points": {r.part: r.points for r in ordered}, "max_points": {r.part: r.max_points for r in ordered},
               "flags": flags, "notebooks": {name: name in submission.notebooks for name in release.notebooks}}
    return Outcome(summary, _autograded_notebooks(release, submission, results),
                   submission_feedback(job.student, job.assignment, ordered, submission.notes),
                   submission.timestamp, log)


def _note_a_spent_budget(submission, reading_s, deadline, time_limits):
    """Say so, to the student and the instructor, when reading the notebooks left no time for any check.

    Reading is bounded (:func:`~autograder.nbgrader_io.cells.json_problem`: a few seconds at
    most), so this takes a budget far below the default or a machine far slower than ours.
    """
    if time.monotonic() < deadline:
        return
    why = (f"reading the submitted notebooks took {reading_s:.1f} s, all of this submission's time "
           f"budget ({time_limits.submission_s:g} s); no check could run")
    submission.notes.append(why)
    submission.flags.append(why)


def _materialise(folder, files, suffix):
    """Write ``files`` (name -> bytes) into a fresh private ``folder``; the readers take a folder."""
    folder.mkdir(mode=0o700)
    for name, data in files.items():
        if "/" in name or name.startswith("."):
            raise ValueError(f"a job's file name must be a plain name, got {name!r}")
        (folder / f"{name}{suffix}").write_bytes(data)
    return folder


def _autograded_notebooks(release, submission, results):
    """Every release notebook: graded from the student's file, or a stand-in saying why not."""
    notebooks = {}
    for name, release_nb in release.notebooks.items():
        part_results = {p.name: results[p.name] for p in release_nb.parts}
        if name in submission.notebooks:
            graded = autograded.build(release_nb, submission.notebooks[name], submission.located[name],
                                      part_results)
        else:
            graded = autograded.build_missing(release_nb, part_results)
        # Each text whole, not split into a list of its lines as Jupyter saves it: 40 MB of newlines
        # in one code cell became 20 million strings, 190 MB of JSON and 1.8 GiB more in this process.
        notebooks[name] = nbformat.writes(graded, split_lines=False)
    return notebooks


def bounded_log(log):
    """``log`` cut to :data:`LOG_LIMIT` characters in all, saying so."""
    kept, room = [], LOG_LIMIT
    for entry in log:
        if len(entry) > room:
            kept.append(entry[:room] + f"\n[log cut at {LOG_LIMIT} characters]")
            break
        kept.append(entry)
        room -= len(entry)
    return kept


# ---------------------------------------------------------------------------
# Step 2: placing the outcome, on the client
# ---------------------------------------------------------------------------

def place_outcome(root, autograded_dir, assignment, outcome):
    """Write the outcome's log, and its files into ``autograded_dir`` in one rename.

    A reader (formgrader, ``generate_feedback``) sees the old folder or the new one, never a
    half-written one.  An outcome without files (grading failed) leaves no folder.
    """
    _write_log(root, assignment, outcome)
    target = Path(autograded_dir)
    if not outcome.notebooks and not outcome.feedback:
        shutil.rmtree(target, ignore_errors=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    incoming = Path(tempfile.mkdtemp(prefix=f".{target.name}.incoming-", dir=target.parent))
    try:
        _write_files(incoming, outcome)
        _swap_into_place(incoming, target)
    finally:
        shutil.rmtree(incoming, ignore_errors=True)


def _write_files(folder, outcome):
    folder.chmod(0o755)
    for name, text in outcome.notebooks.items():
        (folder / f"{name}.ipynb").write_text(text, encoding="utf-8")
    if outcome.timestamp:
        (folder / TIMESTAMP_FILE).write_text(outcome.timestamp, encoding="utf-8")
    (folder / FEEDBACK_FILE).write_text(outcome.feedback, encoding="utf-8")


def _swap_into_place(incoming, target):
    """Move ``incoming`` to ``target``; an old ``target`` ends up at ``incoming`` (then deleted)."""
    if not target.exists():
        os.rename(incoming, target)
    elif not _exchange(incoming, target):
        # Without renameat2 the old folder is gone for an instant; it is never half-written.
        os.rename(target, f"{incoming}-old")
        os.rename(incoming, target)
        os.rename(f"{incoming}-old", incoming)


def _exchange(first, second):
    """Swap two paths atomically with Linux's renameat2(RENAME_EXCHANGE); False where unsupported."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.ENOSYS, errno.EINVAL):
        return False
    raise OSError(error, os.strerror(error), str(second))


def _write_log(root, assignment, outcome):
    directory = reports_dir(root, assignment)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{outcome.student}.log").write_text("\n\n".join(outcome.log) + "\n", encoding="utf-8")


def write_summary(root, assignment, summary):
    """The instructor's record of one student's grading (read back for grades.csv)."""
    directory = reports_dir(root, assignment)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{summary['student']}.json").write_text(
        json.dumps(summary, indent=1, sort_keys=True) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------
# Plain data for the wire (Dask)
# ---------------------------------------------------------------------------

def job_to_wire(job):
    return dataclasses.asdict(job)


def job_from_wire(data):
    return Job(**{**data, "time_limits": TimeLimits(**data["time_limits"]),
                  "submitted": SubmittedFolder(**data["submitted"])})


def outcome_to_wire(outcome):
    return dataclasses.asdict(outcome)


class WireError(ValueError):
    """A worker's reply that does not fit the job it answers."""


# An autograded notebook is the release plus the student's cells: far below this.  A reply over it
# would fill the client's memory and disk, whatever sent it.
MAX_WIRE_TEXT = 4 * MAX_NOTEBOOK_BYTES
_OUTCOME_FIELDS = {field.name for field in dataclasses.fields(Outcome)}


def outcome_from_wire(data, job):
    """The :class:`Outcome` a worker sent for ``job``; :class:`WireError` if it does not fit that job.

    The worker runs this grader, but its reply crossed a scheduler and a network, so the client
    checks it like any untrusted message before anything is written: its shape and sizes, and
    above all its identity: the student it names is the job's, the notebooks it would write are
    the release's, and its timestamp is the one the job carried (never another student's folder,
    file or time).
    """
    if type(data) is not dict or set(data) != _OUTCOME_FIELDS:
        raise WireError("the reply is not an outcome")
    summary = data["summary"]
    if type(summary) is not dict or summary.get("student") != job.student:
        raise WireError("the reply names another student than the job's")
    if summary.get("status") not in ("graded", "error") or not _points_fit(summary.get("points")):
        raise WireError("the reply's status or points are malformed")
    notebooks = data["notebooks"]
    if type(notebooks) is not dict or not set(notebooks) <= set(job.release):
        raise WireError("the reply holds a notebook the release does not have")
    if not all(_bounded_text(text) for text in (*notebooks.values(), data["feedback"])):
        raise WireError(f"the reply holds a text that is not a string of at most {MAX_WIRE_TEXT} characters")
    if data["timestamp"] not in ("", job.submitted.timestamp):
        raise WireError("the reply's timestamp is not the submission's")
    if type(data["log"]) is not list or not all(type(entry) is str for entry in data["log"]):
        raise WireError("the reply's log is not a list of strings")
    return Outcome(**data)


def _points_fit(points):
    return type(points) is dict and all(type(part) is str and type(value) in (int, float)
                                        and math.isfinite(value) and value >= 0 for part, value in points.items())


def _bounded_text(text):
    return type(text) is str and len(text) <= MAX_WIRE_TEXT
