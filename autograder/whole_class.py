"""Grade a whole class: every submission of an assignment, then the class-wide table.

:func:`grade_class` finds the submissions, runs
:func:`~autograder.one_submission.grade_submission` on each through a runner
(:mod:`autograder.runners`: :class:`~autograder.runners.LocalRunner`, one spawned process per
worker on this machine; or :class:`~autograder.cluster.DaskRunner`: a Dask cluster), places each
outcome under ``autograded/`` and records it in the gradebook as it arrives (this
process writes ``gradebook.db``, one record at a time under the lock the grading service also
takes: :func:`record_outcome`), and writes ``grades.csv``.  Fresh submissions
are given to the runner first.
"""
import contextlib
import csv
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .checks.feedback import format_points, read_feedback
from .checks.parts import assignment_parts
from .checks.secret import course_secret, submission_key
from .cluster import DaskRunner
from .course_locks import gradebook_lock
from .isolation.claims import sweep_stale_scratch
from .nbgrader_io import gradebook
from .nbgrader_io.release import load_release
from .one_submission import Job, place_outcome, release_files, reports_dir, submitted_files, write_summary
from .preflight_record import Verdict, forget_record, preflight_key, record_path, verdict, write_record
from .runners import LocalRunner


def grade_class(root, assignment, wanted, requested_isolation, time_limits, workers, cluster=None,
                preflight_policy="auto"):
    """Grade the submissions of ``assignment`` (or only the students in ``wanted``); the exit status.

    ``cluster``: None for the local pool of ``workers`` processes, else a
    :class:`~autograder.cluster.ClusterSpec` saying which Dask cluster grades.
    ``preflight_policy``: ``auto`` skips a pre-flight that passed with nothing changed since,
    ``always`` runs it (see :func:`preflight`).
    """
    coursedir, config = gradebook.course_directory(root)
    parts = assignment_parts(assignment)
    release_dir = gradebook.assignment_dir(coursedir, "release", assignment)
    load_release(release_dir, parts)
    students = submitted_students(coursedir, assignment, wanted)
    if not students:
        print(f"no submissions under submitted/*/{assignment}/")
        return 0
    with contextlib.ExitStack() as stack:
        runner = _choose_runner(stack, root, cluster, workers, len(students))
        isolation = runner.choose_isolation(requested_isolation)
        preflight(coursedir, assignment, release_dir, isolation, time_limits, runner,
                  preflight_record_path(root, assignment, cluster), force=preflight_policy == "always")
        gradebook.ensure_assignment(coursedir, assignment)
        jobs = _jobs(coursedir, assignment, fresh_first(root, assignment, students), release_dir,
                     isolation, time_limits)
        print(f"grading {len(students)} submission(s) of {assignment} {runner.where}", flush=True)
        summaries = _grade_all(root, coursedir, config, assignment, runner.run(jobs), len(students))
        runner.report()
    write_class_grades(root, assignment)
    return _summarise(summaries)


class PreflightFailed(Exception):
    """The instructor solutions do not earn full marks in the class's sandbox (nothing was graded)."""


# The name the instructor solutions are graded under in the pre-flight (never recorded anywhere).
PREFLIGHT_STUDENT = "instructor-solutions"
# --preflight: auto skips it while a pass is remembered with nothing changed since; always runs it.
PREFLIGHT_POLICIES = ("auto", "always")


def preflight(coursedir, assignment, release_dir, isolation, time_limits, runner, record=None, force=False):
    """Grade the instructor solutions (``solutions/<assignment>/``) as the class will be graded; the seconds.

    Same runner, isolation level, time limits and course package as every student, so a fault of
    the environment (a ``cnnbook`` the sandbox cannot import, a broken release, a missing module)
    stops the run here with :class:`PreflightFailed` instead of becoming every student's zero.
    The outcome stays in memory.  Stale sandbox folders of a killed run are swept first.

    ``record``: where a pass is remembered (:mod:`autograder.preflight_record`), or None to
    neither read nor write one.  While a pass there has the key of this pre-flight, it is skipped
    (0 seconds) unless ``force``; a pass is written there, a failure of any kind removes it.
    """
    sweep_stale_scratch()
    try:
        return _preflight(coursedir, assignment, release_dir, isolation, time_limits, runner, record, force)
    except PreflightFailed:
        if record is not None:
            _forget(record)
        raise


def _preflight(coursedir, assignment, release_dir, isolation, time_limits, runner, record, force):
    started = time.monotonic()
    solutions = gradebook.assignment_dir(coursedir, "source", assignment)
    job = _preflight_job(solutions, assignment, release_dir, isolation, time_limits)
    key = preflight_key(job) if record is not None else None
    if key is not None and _skipped(record, key, assignment, force):
        return 0.0
    outcome = next(iter(runner.run([job])))
    summary = outcome.summary
    if summary["status"] != "graded" or summary["points"] != summary["max_points"]:
        raise PreflightFailed(_preflight_failure(solutions, isolation, outcome))
    seconds = time.monotonic() - started
    print(f"pre-flight: the instructor solutions earn full marks in the sandbox ({seconds:.1f} s)", flush=True)
    if key is not None:
        _remember(record, key, assignment, seconds)
    return seconds


def _preflight_job(solutions, assignment, release_dir, isolation, time_limits):
    if not solutions.is_dir():
        raise PreflightFailed(f"pre-flight failed: no instructor solutions in {solutions}; the grade command "
                              "grades them first, to check that the sandbox grades right answers right")
    release = release_files(release_dir)
    return Job(assignment=assignment, student=PREFLIGHT_STUDENT, release=release,
               submitted=submitted_files(solutions, list(release)), isolation=isolation,
               case_key=submission_key(course_secret(), assignment, PREFLIGHT_STUDENT), time_limits=time_limits)


def _skipped(record, key, assignment, force):
    """Whether the record holds a pass of this very pre-flight; one line says why it runs or not."""
    decided = Verdict(False, "--preflight always") if force else verdict(record, key, assignment)
    print(f"pre-flight: {decided.reason}" if decided.skip else f"pre-flight: running it ({decided.reason})",
          flush=True)
    return decided.skip


def preflight_record_path(root, assignment, cluster):
    """Where a pass is kept: none for ``--scheduler`` runs (what the workers have installed is not known here)."""
    if cluster is not None and cluster.scheduler:
        print("pre-flight: runs on every grade on a remote cluster (its workers' environment is not known here)",
              flush=True)
        return None
    return record_path(reports_dir(root, assignment).parent, assignment)


def _remember(record, key, assignment, seconds):
    try:
        write_record(record, key, assignment, seconds)
    except OSError as error:
        print(f"WARNING: pre-flight: the pass could not be recorded ({error}); the next grade runs it again",
              file=sys.stderr, flush=True)


def _forget(record):
    try:
        forget_record(record)
    except OSError as error:
        print(f"WARNING: pre-flight: the record of an earlier pass could not be removed ({error}); remove "
              f"{record}", file=sys.stderr, flush=True)


def _preflight_failure(solutions, isolation, outcome):
    """One line: what the solutions earned, the first failing check, and its cause in the grader's log."""
    summary = outcome.summary
    earned = f"{format_points(round(sum(summary['points'].values()), 4))} / " \
             f"{format_points(sum(summary.get('max_points', {}).values()))} points"
    failing = _first_failing_check(outcome.feedback or "")
    cause = _first_internal_error(outcome.log) or summary.get("error", "")
    return (f"pre-flight failed: the instructor solutions in {solutions} earn {earned} at the {isolation} "
            f"isolation level, so every student would be graded wrong; first failing check: {failing or 'none'}"
            + (f"; cause: {cause}" if cause else "") + "; nothing was graded or recorded. Fix the course "
            "(python -m autograder isolation shows whether cnnbook imports in the sandbox) and grade again")


def _first_failing_check(feedback):
    """``part: check (weight): reason`` of the first failing check of a feedback text, or ""."""
    failing = [check for check in read_feedback(feedback).checks if not check.passed]
    if not failing:
        return ""
    check = failing[0]
    line = f"{check.title} ({check.weight})" + (f": {check.detail}" if check.detail else "")
    return f"{check.part}: {line[:300]}"


def _first_internal_error(log):
    """The exception line of the first internal error the checks logged (a traceback's last line)."""
    for entry in log:
        if entry.startswith("internal error in"):
            return entry.strip().splitlines()[-1][:300]
    return ""


def write_class_grades(root, assignment):
    """Write ``grades.csv`` from the gradebook (again after manual grading in formgrader); its path."""
    coursedir, _config = gradebook.course_directory(root)
    students = submitted_students(coursedir, assignment, None)
    path = Path(root) / "grades.csv"
    with gradebook_lock(root):      # the grading service writes it too
        write_grades_csv(path, assignment_parts(assignment), _grade_rows(root, coursedir, assignment, students))
    return path


def _choose_runner(stack, root, cluster, workers, count):
    if cluster is None:
        return LocalRunner(root, max(1, min(workers, count)))
    return stack.enter_context(DaskRunner(cluster, root))


def fresh_first(root, assignment, students):
    """Students never graded before come first: on a deadline night, their feedback matters most."""
    done = {path.stem for path in reports_dir(root, assignment).glob("*.json")}
    return sorted(students, key=lambda student: student in done)


def _jobs(coursedir, assignment, students, release_dir, isolation, time_limits):
    """One :class:`Job` per student, read when the runner asks for it (a class can be large)."""
    release = release_files(release_dir)
    secret = course_secret()
    for student in students:
        folder = gradebook.assignment_dir(coursedir, "submitted", assignment, student)
        yield Job(assignment, student, release, submitted_files(folder, list(release)), isolation,
                  submission_key(secret, assignment, student), time_limits)


def _grade_all(root, coursedir, config, assignment, outcomes, total):
    """Place and record each outcome as it arrives; a second outcome for a student is dropped."""
    summaries, seen = [], set()
    for outcome in outcomes:
        if outcome.student in seen:
            continue
        seen.add(outcome.student)
        record_outcome(root, coursedir, config, assignment, outcome)
        summaries.append(outcome.summary)
        print(f"[{len(summaries)}/{total}] {_progress_line(outcome.summary)}", flush=True)
    return summaries


def record_outcome(root, coursedir, config, assignment, outcome):
    """Place one outcome under ``autograded/``, record it in the gradebook and keep the instructor's record.

    Under the gradebook's lock (:mod:`autograder.course_locks`), which the grading service takes
    too: the three always come from the same run, whichever of ``grade`` and the service wrote last.
    """
    with gradebook_lock(root):
        autograded = gradebook.assignment_dir(coursedir, "autograded", assignment, outcome.student)
        place_outcome(root, autograded, assignment, outcome)
        _record(coursedir, config, assignment, outcome.summary)
        write_summary(root, assignment, outcome.summary)


def submitted_students(coursedir, assignment, wanted):
    base = Path(coursedir.root) / coursedir.submitted_directory
    found = sorted(p.parent.name for p in base.glob(f"*/{assignment}")
                   if p.is_dir() and not p.parent.name.startswith("."))
    if wanted is None:
        return found
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise ValueError(f"no submission of {assignment} for: {', '.join(missing)}")
    return [s for s in found if s in wanted]


def _record(coursedir, config, assignment, summary):
    autograded = gradebook.assignment_dir(coursedir, "autograded", assignment, summary["student"])
    if summary["status"] == "graded":
        try:
            gradebook.record(coursedir, config, assignment, summary["student"], autograded, summary["flags"])
            summary["recorded"] = True
            return
        except Exception as error:
            summary.update(status="error", error=f"gradebook: {type(error).__name__}: {error}")
    # Nothing half-graded is left where formgrader and generate_feedback would pick it up.
    summary["recorded"] = False
    shutil.rmtree(autograded, ignore_errors=True)


def _progress_line(summary):
    line = f"{summary['student']}: "
    if summary["points"]:
        total = sum(summary["points"].values())
        possible = sum(summary.get("max_points", {}).values())
        line += f"{format_points(round(total, 4))} / {format_points(possible)} points"
    if summary["flags"]:
        line += f", {len(summary['flags'])} flag(s)"
    if summary["status"] != "graded":
        line += f", ERROR ({summary.get('error', '')}), not recorded in the gradebook"
    return line + f" ({summary.get('seconds', 0):.1f} s)"


def _grade_rows(root, coursedir, assignment, students):
    """One :class:`GradeRow` per student graded at least once, its numbers read from the gradebook."""
    totals = gradebook.class_totals(coursedir, assignment, students)
    rows = []
    for student in students:
        path = reports_dir(root, assignment) / f"{student}.json"
        if path.is_file():
            summary = json.loads(path.read_text(encoding="utf-8"))
            rows.append(GradeRow(student, summary.get("status", "?"), summary.get("flags", []),
                                 totals.get(student)))
    return rows


@dataclass(frozen=True)
class GradeRow:
    student: str
    status: str                  # of the latest grading run: graded, or error (then nothing new was recorded)
    flags: list
    totals: object               # gradebook.SubmissionTotals, or None when the gradebook has no grade


# The header of grades.csv, after one column per graded part (its trusted points): what each column is.
GRADE_COLUMNS = ("autograded", "manual_adjustment", "late_penalty", "total", "max_score",
                 "needs_manual_grading", "status", "flags")


def write_grades_csv(path, parts, rows):
    """``grades.csv``: per student the gradebook's numbers (so formgrader's edits and late penalties count).

    Columns: ``student``; per part, its trusted points; ``autograded``, their sum;
    ``manual_adjustment``, what formgrader's manual scores add or take away; ``late_penalty``;
    ``total``, the final score (autograded + manual adjustment - late penalty, at least 0, as
    ``nbgrader export`` counts it); ``max_score``; ``needs_manual_grading`` (yes/no);
    ``status`` of the latest run; ``flags``.  Numbers are empty when the gradebook has no grade.
    """
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", *(part.name for part in parts), *GRADE_COLUMNS])
        for row in rows:
            writer.writerow([row.student, *_numbers(parts, row.totals), row.status, " | ".join(row.flags)])


def _numbers(parts, totals):
    if totals is None:
        return [""] * (len(parts) + len(GRADE_COLUMNS) - 2)
    points = [format_points(totals.cell_points.get(part.test_cell, 0.0)) for part in parts]
    return [*points, *(format_points(value) for value in (
        totals.autograded, totals.manual_adjustment, totals.late_penalty, totals.final, totals.max_score)),
        "yes" if totals.needs_manual_grading else "no"]


def _summarise(summaries):
    errors = [s for s in summaries if s["status"] != "graded"]
    flagged = [s for s in summaries if s["flags"]]
    print(f"done: {len(summaries) - len(errors)} graded, {len(errors)} error(s), {len(flagged)} flagged; "
          "see grades.csv")
    for summary in flagged:
        for flag in summary["flags"]:
            print(f"  flag {summary['student']}: {flag}")
    for summary in errors:
        print(f"  error {summary['student']}: {summary.get('error', '')}", file=sys.stderr)
    return 1 if errors else 0
