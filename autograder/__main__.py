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
import os
import sys
from pathlib import Path

from .isolation.sandbox import ISOLATION_LEVELS
from .isolation.student import TimeLimits
from .nbgrader_io.gradebook import CourseError
from .nbgrader_io.release import ReleaseError
from .whole_class import choose_isolation, grade_class


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
            return grade_class(Path.cwd(), args.assignment, args.student, args.isolation,
                               TimeLimits(call_s=args.call_timeout), args.workers)
        return isolation_command()
    except (CourseError, ReleaseError, KeyError, ValueError) as error:
        print(f"error: {error.args[0] if error.args else error}", file=sys.stderr)
        return 2


def isolation_command():
    from .isolation.probe import probe_sandbox
    level = choose_isolation("auto")
    for line in probe_sandbox(level, Path.cwd()):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
