"""Grade a whole class: every submission of an assignment, then the class-wide table.

:func:`grade_class` finds the submissions, runs
:func:`~autograder.one_submission.grade_submission` on each through a runner
(today :func:`local_pool`: one spawned process per worker on this machine),
records each result in the gradebook as it arrives (this process is the only
writer of ``gradebook.db``), and writes ``grades.csv``.  Another way of running
the same per-submission function (a cluster) is one more runner with the same
signature: ``runner(jobs) -> iterator of summaries``.
"""
import concurrent.futures
import csv
import json
import multiprocessing
import shutil
import sys
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from .checks.feedback import format_points
from .checks.parts import assignment_parts
from .checks.secret import course_secret
from .isolation.sandbox import ISOLATION_LEVELS, available_isolation, describe_isolation
from .nbgrader_io import gradebook
from .nbgrader_io.release import load_release
from .one_submission import Job, grade_submission, reports_dir, write_summary


def grade_class(root, assignment, wanted, requested_isolation, time_limits, workers):
    """Grade the submissions of ``assignment`` (or only the students in ``wanted``); the exit status."""
    coursedir, config = gradebook.course_directory(root)
    parts = assignment_parts(assignment)
    release_dir = gradebook.assignment_dir(coursedir, "release", assignment)
    load_release(release_dir, parts)
    students = submitted_students(coursedir, assignment, wanted)
    if not students:
        print(f"no submissions under submitted/*/{assignment}/")
        return 0
    gradebook.ensure_assignment(coursedir, assignment)
    isolation = choose_isolation(requested_isolation)
    secret = course_secret().decode("utf-8")
    jobs = [Job(str(root), assignment, student, str(release_dir),
                str(gradebook.assignment_dir(coursedir, "submitted", assignment, student)),
                str(gradebook.assignment_dir(coursedir, "autograded", assignment, student)),
                isolation, secret, time_limits) for student in students]
    workers = max(1, min(workers, len(jobs)))
    print(f"grading {len(jobs)} submission(s) of {assignment} with {workers} worker(s)", flush=True)
    summaries = []
    for done, summary in enumerate(local_pool(jobs, workers), start=1):
        _record(coursedir, config, assignment, summary)
        write_summary(root, assignment, summary)
        summaries.append(summary)
        print(f"[{done}/{len(jobs)}] {_progress_line(summary)}", flush=True)
    all_students = submitted_students(coursedir, assignment, None)
    write_grades_csv(Path(root) / "grades.csv", [p.name for p in parts],
                     _grade_rows(root, assignment, all_students))
    return _summarise(summaries)


def choose_isolation(requested):
    """The level to use (ISOLATION_LEVELS runs strongest first); it is always announced, loudly if degraded."""
    level, reason = available_isolation()
    if requested == "auto":
        requested = level
    elif ISOLATION_LEVELS.index(requested) < ISOLATION_LEVELS.index(level):
        raise ValueError(f"{requested} isolation is not available here ({reason})")
    print(f"isolation: {describe_isolation(requested)}", flush=True)
    if requested != "namespaces":
        print(f"WARNING: student code runs with {'DEGRADED' if requested == 'process' else 'PARTLY DEGRADED'} "
              f"isolation ({reason or 'as requested'}); run the grader as root for full isolation",
              file=sys.stderr, flush=True)
    return requested


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


def local_pool(jobs, workers):
    """Yield each job's summary as it finishes; a broken pool is replaced once."""
    pending = list(jobs)
    for attempt in range(2):
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = {pool.submit(grade_submission, job): job for job in pending}
            pending = []
            for future in concurrent.futures.as_completed(futures):
                try:
                    yield future.result()
                except BrokenProcessPool:
                    pending.append(futures[future])
        if not pending:
            return
    for job in pending:
        yield {"student": job.student, "status": "error", "points": {}, "flags": [],
               "error": "the grading process crashed twice on this submission", "seconds": 0}


def _record(coursedir, config, assignment, summary):
    autograded = gradebook.assignment_dir(coursedir, "autograded", assignment, summary["student"])
    if summary["status"] == "graded":
        try:
            gradebook.record(coursedir, config, assignment, summary["student"], autograded)
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


def _grade_rows(root, assignment, students):
    rows = []
    for student in students:
        path = reports_dir(root, assignment) / f"{student}.json"
        if not path.is_file():
            continue
        summary = json.loads(path.read_text(encoding="utf-8"))
        points = summary.get("points", {})
        rows.append((student, points, round(sum(points.values()), 4), summary.get("status", "?"),
                     summary.get("flags", [])))
    return rows


def write_grades_csv(path, parts, rows):
    """``rows``: ``[(student, {part: points}, total, status, flags)]``, one per student."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", *parts, "total", "status", "flags"])
        for student, points, total, status, flags in rows:
            writer.writerow([student, *(format_points(points.get(part, 0.0)) for part in parts),
                             format_points(total), status, " | ".join(flags)])


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
