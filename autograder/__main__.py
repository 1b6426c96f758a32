"""Command line of the trusted grader.

    python -m autograder grade ASSIGNMENT [--workers N] [--student ID ...] [--isolation LEVEL]
    python -m autograder isolation

Run from the course root (where nbgrader_config.py is).  ``grade`` grades
every ``submitted/*/ASSIGNMENT/`` (or only the named students) and writes:

* the trusted scores into ``gradebook.db`` (formgrader, ``nbgrader export``,
  ``nbgrader generate_feedback`` show them);
* ``autograded/<student>/ASSIGNMENT/``: the autograded notebooks and
  ``autograder_feedback.txt`` (copied into the feedback by
  ``nbgrader generate_feedback``);
* ``grades.csv``: one row per student, one column per graded part, with
  tampering flags;
* ``autograded/.autograder/ASSIGNMENT/<student>.json`` and ``.log``: the
  instructor's record (flags, the student's printed output, grader errors).

``submitted/`` is only read.  Re-running gives the same gradebook.
``isolation`` starts one sandbox and reports what it can and cannot reach.
"""
import argparse
import concurrent.futures
import json
import multiprocessing
import os
import shutil
import sys
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from . import gradebook
from .grading import Job, grade_submission, reports_dir, write_summary
from .parts import assignment_parts
from .report import format_points, write_grades_csv
from .sandbox import ISOLATION_LEVELS, available_isolation, describe_isolation
from .secret import course_secret
from .student import TimeLimits
from .submission import ReleaseError, load_release


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    grade = commands.add_parser("grade", help="grade every submission of an assignment")
    grade.add_argument("assignment")
    grade.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                       help="submissions graded at the same time (default: every core)")
    grade.add_argument("--student", action="append", default=None,
                       help="grade only this student (repeatable)")
    grade.add_argument("--isolation", choices=("auto",) + ISOLATION_LEVELS, default="auto",
                       help="sandbox level (default: the strongest this machine supports)")
    grade.add_argument("--call-timeout", type=float, default=TimeLimits.call_s,
                       help=f"seconds one call of a student function may take (default {TimeLimits.call_s:g})")
    commands.add_parser("isolation", help="start one sandbox and report what it can reach")
    args = parser.parse_args(argv)
    try:
        if args.command == "grade":
            return grade_command(args)
        return isolation_command()
    except (gradebook.CourseError, ReleaseError, KeyError, ValueError) as error:
        print(f"error: {error.args[0] if error.args else error}", file=sys.stderr)
        return 2


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


def grade_command(args):
    root = Path.cwd()
    coursedir, config = gradebook.course_directory(root)
    assignment = args.assignment
    parts = assignment_parts(assignment)
    release_dir = gradebook.assignment_dir(coursedir, "release", assignment)
    load_release(release_dir, parts)
    students = _students(coursedir, assignment, args.student)
    if not students:
        print(f"no submissions under submitted/*/{assignment}/")
        return 0
    gradebook.ensure_assignment(coursedir, assignment)
    isolation = choose_isolation(args.isolation)
    secret = course_secret().decode("utf-8")
    jobs = [Job(str(root), assignment, student, str(release_dir),
                str(gradebook.assignment_dir(coursedir, "submitted", assignment, student)),
                str(gradebook.assignment_dir(coursedir, "autograded", assignment, student)),
                isolation, secret, TimeLimits(call_s=args.call_timeout)) for student in students]
    workers = max(1, min(args.workers, len(jobs)))
    print(f"grading {len(jobs)} submission(s) of {assignment} with {workers} worker(s)", flush=True)
    summaries = []
    for done, summary in enumerate(_run(jobs, workers), start=1):
        _record(coursedir, config, assignment, summary)
        write_summary(root, assignment, summary)
        summaries.append(summary)
        print(f"[{done}/{len(jobs)}] {_progress_line(summary)}", flush=True)
    all_students = _students(coursedir, assignment, None)
    write_grades_csv(root / "grades.csv", [p.name for p in parts],
                     _grade_rows(root, assignment, all_students))
    return _summarise(summaries)


def _students(coursedir, assignment, wanted):
    base = Path(coursedir.root) / coursedir.submitted_directory
    found = sorted(p.parent.name for p in base.glob(f"*/{assignment}")
                   if p.is_dir() and not p.parent.name.startswith("."))
    if wanted is None:
        return found
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise ValueError(f"no submission of {assignment} for: {', '.join(missing)}")
    return [s for s in found if s in wanted]


def _run(jobs, workers):
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


def isolation_command():
    from .probe import probe_sandbox
    level = choose_isolation("auto")
    for line in probe_sandbox(level, Path.cwd()):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
