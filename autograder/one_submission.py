"""Grade one submission: the trusted side of the grader, run in a pool process.

The path of one submission, in order:

1. :func:`~autograder.nbgrader_io.submission.read_submission` reads the
   student's folder once, against the release, into one sandbox program per
   graded part (setup imports and the answer cells it needs) plus tampering
   flags and notes;
2. :func:`~autograder.checks.runner.run_checks` runs the hidden checks, each
   part against a fresh :class:`~autograder.isolation.student.SandboxStudent`;
3. the results go into autograded notebooks and a feedback file under
   ``autograded/<student>/<assignment>/``.

The summary returned to the main process (which alone writes the gradebook)
is plain JSON-able data.  :func:`grade_submission` is the one per-submission
function: every way of running a class (the local pool today) calls it.
"""
import json
import shutil
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .checks.feedback import submission_feedback
from .checks.parts import assignment_parts
from .checks.runner import CheckResult, PartResult, run_checks
from .isolation.student import SandboxStudent, TimeLimits
from .nbgrader_io import autograded
from .nbgrader_io.release import load_release
from .nbgrader_io.submission import disagreement_flags, read_submission

FEEDBACK_FILE = "autograder_feedback.txt"
REPORTS_DIR = ".autograder"       # under autograded/: instructor-only records, ignored by nbgrader's globs


@dataclass(frozen=True)
class Job:
    root: str
    assignment: str
    student: str
    release_dir: str
    submitted_dir: str            # submitted/<student>/<assignment>
    autograded_dir: str           # autograded/<student>/<assignment>
    isolation: str
    secret: str
    time_limits: TimeLimits = TimeLimits()


def reports_dir(root, assignment):
    return Path(root) / "autograded" / REPORTS_DIR / assignment


def grade_submission(job):
    """Grade one student; never raises (a failure comes back as status 'error')."""
    started = time.monotonic()
    try:
        summary = _grade(job)
    except Exception as error:
        summary = {"student": job.student, "status": "error", "points": {}, "flags": [],
                   "error": f"{type(error).__name__}: {error}",
                   "log": ["".join(traceback.format_exception(type(error), error, error.__traceback__))]}
    summary["seconds"] = round(time.monotonic() - started, 2)
    _write_log(job, summary.pop("log", []))
    return summary


def _grade(job):
    parts = assignment_parts(job.assignment)
    release = load_release(job.release_dir, parts)
    submission = read_submission(job.submitted_dir, release)
    log = []

    def student_for(part_name):
        return SandboxStudent(submission.programs[part_name], job.isolation, job.root, job.time_limits, log)

    graded = {part.name: release.points[part.name] for part in parts if part.name in submission.programs}
    results = run_checks(graded, student_for, job.secret.encode("utf-8"), log) if graded else {}
    for part_name, reason in submission.missing.items():
        results[part_name] = PartResult(part_name, release.points[part_name], [
            CheckResult("submission", "notebook submitted", 1.0, False, reason)])
    ordered = [results[part.name] for part in parts]
    flags = submission.flags + disagreement_flags(parts, submission, release, results)
    _write_outputs(job, release, submission, results, ordered)
    internal = [f"{r.part}/{c.name}" for r in ordered for c in r.internal_errors]
    return {"student": job.student, "status": "error" if internal else "graded",
            "error": f"internal grader errors in {', '.join(internal)}" if internal else "",
            "points": {r.part: r.points for r in ordered}, "max_points": {r.part: r.max_points for r in ordered},
            "flags": flags, "log": log,
            "notebooks": {name: name in submission.notebooks for name in release.notebooks}}


def _write_outputs(job, release, submission, results, ordered):
    out = Path(job.autograded_dir)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name, notebook in submission.notebooks.items():
        release_nb = release.notebooks[name]
        part_results = {p.name: results[p.name] for p in release_nb.parts}
        graded = autograded.build(release_nb, notebook, submission.located[name], part_results)
        nbformat.write(graded, str(out / f"{name}.ipynb"))
    timestamp = Path(job.submitted_dir) / "timestamp.txt"
    if timestamp.is_file():
        shutil.copyfile(timestamp, out / "timestamp.txt")
    text = submission_feedback(job.student, job.assignment, ordered, submission.notes)
    (out / FEEDBACK_FILE).write_text(text, encoding="utf-8")


def _write_log(job, log):
    directory = reports_dir(job.root, job.assignment)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{job.student}.log").write_text("\n\n".join(log) + "\n", encoding="utf-8")


def write_summary(root, assignment, summary):
    """The instructor's record of one student's grading (read back for grades.csv)."""
    directory = reports_dir(root, assignment)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{summary['student']}.json").write_text(
        json.dumps(summary, indent=1, sort_keys=True) + "\n", encoding="utf-8")
