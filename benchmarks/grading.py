"""How fast the trusted grader grades a class, next to plain `nbgrader autograde`.

Builds a throw-away course with a synthetic class (by default 50 submissions:
the instructor solutions, a second correct implementation and the typical bugs
of tests/corpus.py, in turn), then times, on the same class:

* one reference-quality submission alone (`--student`, one worker, start-up
  included): the issue's target is at most 20 s;
* `python -m autograder grade numpy_cnn` with 1 and with 2 workers;
* plain `nbgrader autograde numpy_cnn` (which executes every notebook in a
  kernel) on a sample of the class, by default 3 submissions, because it takes
  about a minute per submission here; the per-submission time is measured on
  the sample and the class total extrapolated (pass --nbgrader-sample 50 to
  time it on the whole class).

Usage:  .venv/bin/python benchmarks/grading.py [--size 50] [--nbgrader-sample 3] [--keep]
The machine's load average is printed: on a shared machine, compare runs taken
under similar load.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
# The synthetic class is test data: it lives with the tests, outside the deployed grader.
sys.path.insert(0, str(REPO / "tests"))

import corpus  # noqa: E402
from autograder.isolation.sandbox import available_isolation  # noqa: E402
from autograder.one_submission import reports_dir  # noqa: E402

ASSIGNMENT = "numpy_cnn"
TARGET_SINGLE_S = 20.0


def timed(command, course):
    started = time.perf_counter()
    done = subprocess.run(command, cwd=course, env=corpus.grader_environment(course, "benchmark-secret"), capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return seconds


def reset_grades(course):
    for path in (course / "autograded", course / "gradebook.db", course / "grades.csv"):
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def trusted(course, workers, students=()):
    command = [sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--workers", str(workers)]
    for student in students:
        command += ["--student", student]
    return timed(command, course)


def plain_nbgrader(course, students):
    """Total wall time of `nbgrader autograde`, one student at a time (it takes one --student)."""
    return sum(timed([sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT, "--force", "--student", student],
                     course) for student in students)


def row(label, workers, graded, seconds, note=""):
    per = seconds / graded
    return f"{label:<30} {workers:>7} {graded:>11} {seconds:>9.1f} {per:>14.2f} {60 / per:>16.1f}  {note}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=50, help="submissions in the synthetic class")
    parser.add_argument("--nbgrader-sample", type=int, default=3,
                        help="submissions timed with plain nbgrader autograde")
    parser.add_argument("--keep", action="store_true", help="keep the temporary course and print its path")
    args = parser.parse_args()

    course = Path(tempfile.mkdtemp(prefix="grading-benchmark-"))
    try:
        corpus.make_course(course, REPO)
        students = corpus.synthetic_class(course, args.size, REPO / "solutions" / ASSIGNMENT)
        level, reason = available_isolation()
        print(f"class of {len(students)} synthetic submissions; isolation: {level}"
              + (f" ({reason})" if reason else ""))
        print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

        # Registers the assignment in the gradebook once, so no timing below includes it.
        trusted(course, 1, [students[0]])
        single = trusted(course, 1, [students[0]])
        report = json.loads((reports_dir(course, ASSIGNMENT) / f"{students[0]}.json").read_text())

        print(f"one reference-quality submission alone (1 worker, start-up included): {single:.1f} s wall; "
              f"grading inside the worker {report['seconds']:.1f} s; target <= {TARGET_SINGLE_S:.0f} s: "
              f"{'met' if single <= TARGET_SINGLE_S else 'NOT met'}")
        print()
        print(f"{'grader':<30} {'workers':>7} {'submissions':>11} {'wall s':>9} {'s/submission':>14} "
              f"{'submissions/min':>16}", flush=True)
        times = {}
        for workers in (1, 2):
            reset_grades(course)
            trusted(course, 1, [students[0]])  # gradebook registration again, untimed
            times[workers] = trusted(course, workers)
            print(row("python -m autograder grade", workers, len(students), times[workers]), flush=True)
        sample = students[:max(1, min(args.nbgrader_sample, len(students)))]
        plain = plain_nbgrader(course, sample)
        projected = plain / len(sample) * len(students)
        print(row("nbgrader autograde (plain)", 1, len(sample), plain,
                  f"measured on {len(sample)} of {len(students)}; whole class about {projected / 60:.1f} min"))
        print()
        print(f"speed-up with 2 workers: {times[1] / times[2]:.2f}x; plain nbgrader per submission / trusted "
              f"per submission (1 worker): {(plain / len(sample)) / (times[1] / len(students)):.1f}x")
        print(f"load average at end: {os.getloadavg()[0]:.1f}")
    finally:
        if args.keep:
            print(f"course kept in {course}")
        else:
            shutil.rmtree(course, ignore_errors=True)


if __name__ == "__main__":
    main()
