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

With ``--distributed``, it times instead, on the same class, side by side:

* the local pool with 2 workers (``--workers 2``);
* a two-worker Dask cluster started for the run (``--cluster local:2``);
* a plain ``dask scheduler`` with ``python -m autograder worker --nworkers 2``
  started from a second copy of the course (``--scheduler tcp://127.0.0.1:PORT``);

and the per-task overhead of the distributed path (what a task costs beyond its
grading: scheduling, transfers, the worker's checks), as the client reports it.

With ``--against REV``, it grades the same class (one worker) with this tree's
grader, with a second copy of it, and with the grader of the git revision REV
(checked out in a temporary worktree), all three in every round, each going
first in turn, and prints per tree the median over the rounds of the mean
grading time per submission inside the worker (each submission's ``seconds``)
and of the CPU seconds per submission.  The A/A line (this tree against its
copy) must read within 10% of 1; only then is the ratio against REV printed.

Usage:  .venv/bin/python benchmarks/grading.py [--size 50] [--nbgrader-sample 3] [--distributed]
        [--against REV [--rounds 6]] [--keep]
The machine's load average is printed: on a shared machine, compare runs taken
under similar load.
"""
import argparse
import contextlib
import json
import os
import re
import resource
import shutil
import socket
import statistics
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
from autograder.nbgrader_io import gradebook  # noqa: E402
from autograder.one_submission import reports_dir  # noqa: E402

ASSIGNMENT = "numpy_cnn"
TARGET_SINGLE_S = 20.0


def timed(command, course):
    return timed_run(command, course)[0]


def timed_run(command, course):
    """``(wall seconds, stdout)`` of ``command`` run in ``course``; exits on failure."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=course, env=corpus.grader_environment(course, "benchmark-secret"), capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return seconds, done.stdout


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
    """Total wall time of `nbgrader autograde`, one student at a time (it takes one --student).

    Plain autograde refuses a student the trusted grader has graded (it would replace the
    trusted scores), so it runs on a fresh gradebook that only has the assignment registered.
    """
    reset_grades(course)
    with contextlib.chdir(course):
        coursedir, _config = gradebook.course_directory(course)
        gradebook.ensure_assignment(coursedir, ASSIGNMENT, log=lambda _line: None)
    return sum(timed([sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT, "--force", "--student", student],
                     course) for student in students)


def print_header():
    print()
    print(f"{'grader':<30} {'workers':>7} {'submissions':>11} {'wall s':>9} {'s/submission':>14} "
          f"{'submissions/min':>16}", flush=True)


def row(label, workers, graded, seconds, note=""):
    per = seconds / graded
    return f"{label:<30} {workers:>7} {graded:>11} {seconds:>9.1f} {per:>14.2f} {60 / per:>16.1f}  {note}"


PREFLIGHT = re.compile(r"pre-flight: .*\(([0-9.]+) s\)")
OVERHEAD = re.compile(r"per-task overhead of the cluster: ([0-9.]+) s median, ([0-9.]+) s at most")


def dask_cluster(base, workers):
    """A plain `dask scheduler` (empty folder, no course code) and `python -m autograder worker`
    from a second copy of the course; ``(address, processes)``, once the workers have joined."""
    from distributed import Client
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (base / "scheduler").mkdir()
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    scheduler = subprocess.Popen([str(Path(sys.executable).parent / "dask"), "scheduler", "--host", "127.0.0.1",
                                  "--port", str(port), "--no-dashboard"], cwd=base / "scheduler", env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    grading_copy = corpus.make_course(base / "grading_machine", REPO)
    worker = subprocess.Popen([sys.executable, "-m", "autograder", "worker", f"tcp://127.0.0.1:{port}",
                               "--nworkers", str(workers)], cwd=grading_copy,
                              env=corpus.grader_environment(grading_copy, "no-secret-here"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with Client(f"tcp://127.0.0.1:{port}", timeout=30) as client:
        client.wait_for_workers(workers, timeout=120)
    return f"tcp://127.0.0.1:{port}", [worker, scheduler]


def distributed_rows(course, students):
    """Time the local pool and two Dask clusters, 2 workers each, on the same class; print the rows."""
    base = Path(tempfile.mkdtemp(prefix="grading-benchmark-cluster-"))
    address, processes = dask_cluster(base, 2)
    try:
        runs = {"local pool (--workers 2)": ["--workers", "2"], "Dask --cluster local:2": ["--cluster", "local:2"],
                "dask scheduler + 2 workers": ["--scheduler", address]}
        results = {}
        for label, options in runs.items():
            reset_grades(course)
            trusted(course, 1, [students[0]])  # gradebook registration again, untimed
            load = os.getloadavg()[0]
            wall, out = timed_run([sys.executable, "-m", "autograder", "grade", ASSIGNMENT, *options], course)
            preflight = float(PREFLIGHT.search(out).group(1)) if PREFLIGHT.search(out) else 0.0
            seconds = wall - preflight
            overhead = OVERHEAD.search(out)
            note = f"load {load:.1f}; pre-flight {preflight:.1f} s not counted" + (
                f"; per-task overhead {overhead.group(1)} s median, {overhead.group(2)} s max" if overhead else "")
            results[label] = seconds
            print(row(label, 2, len(students), seconds, note), flush=True)
        pool = results["local pool (--workers 2)"]
        for label in list(runs)[1:]:
            print(f"{label}: throughput {pool / results[label]:.2f}x the local pool's (goal: at least 0.9x)")
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
        shutil.rmtree(base, ignore_errors=True)


def against(rev, size, rounds):
    """Per-submission grading time of this tree, of a second copy of it and of REV, interleaved; print the rows.

    The same class is graded (one worker) in three courses: this tree's grader twice (the A/A
    pair: identical code, so its ratio shows what the machine's noise alone does) and REV's.
    Every round grades all three, each going first in turn, and the rows report medians over
    the rounds.  The ratio against REV is printed only when the A/A ratio is within 10% of 1.
    """
    base = Path(tempfile.mkdtemp(prefix="grading-benchmark-against-"))
    baseline = base / "baseline-tree"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(baseline), rev], check=True,
                   capture_output=True)
    try:
        trees = {"this tree": REPO, "this tree, again": REPO, rev: baseline}
        courses = {label: corpus.make_course(base / f"course-{index}", tree)
                   for index, (label, tree) in enumerate(trees.items())}
        for course in courses.values():
            students = corpus.synthetic_class(course, size, REPO / "solutions" / ASSIGNMENT)
        wall, cpu = {label: [] for label in courses}, {label: [] for label in courses}
        labels = list(courses)
        for index in range(rounds):
            for label in labels[index % 3:] + labels[:index % 3]:
                wall[label].append(graded_seconds(courses[label], students, cpu[label]))
                print(f"round {index + 1}, {label:<16} {wall[label][-1]:.2f} s per submission in the worker, "
                      f"{cpu[label][-1]:.2f} s CPU per submission; load {os.getloadavg()[0]:.1f}", flush=True)
        print_against(rev, wall, cpu, rounds)
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(baseline)], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def graded_seconds(course, students, cpu):
    """Grade ``course`` afresh with one worker: the mean seconds per submission inside the worker.

    Appends to ``cpu`` the CPU seconds per submission of the whole command and every process it waited
    for (its pool worker and their sandboxes), start-up and pre-flight included.
    """
    reset_grades(course)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    trusted(course, 1)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu.append((after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / len(students))
    seconds = [json.loads((reports_dir(course, ASSIGNMENT) / f"{student}.json").read_text())["seconds"]
               for student in students]
    return sum(seconds) / len(seconds)


def print_against(rev, wall, cpu, rounds):
    median = {label: statistics.median(values) for label, values in wall.items()}
    print(f"\nmedians over {rounds} rounds, per submission:")
    for label in wall:
        print(f"  {label:<16} {median[label]:.2f} s in the worker, {statistics.median(cpu[label]):.2f} s CPU "
              "(whole command, start-up and pre-flight included)")
    same = median["this tree, again"] / median["this tree"]
    print(f"A/A: this tree, again / this tree = {same:.2f}")
    if abs(same - 1) > 0.10:
        print("the A/A ratio is not within 10% of 1: the machine is too noisy for a ratio; none reported")
        return
    print(f"this tree / {rev} = {median['this tree'] / median[rev]:.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=50, help="submissions in the synthetic class")
    parser.add_argument("--nbgrader-sample", type=int, default=3,
                        help="submissions timed with plain nbgrader autograde")
    parser.add_argument("--distributed", action="store_true",
                        help="time the local pool and two Dask clusters (2 workers each) instead")
    parser.add_argument("--against", metavar="REV", help="compare per-submission grading time with git revision REV")
    parser.add_argument("--rounds", type=int, default=6, help="rounds for --against (each tree goes first in turn)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary course and print its path")
    args = parser.parse_args()
    if args.against:
        print(f"class of {args.size} synthetic submissions, 1 worker; load average at start: "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        against(args.against, args.size, args.rounds)
        return

    course = Path(tempfile.mkdtemp(prefix="grading-benchmark-"))
    try:
        corpus.make_course(course, REPO)
        students = corpus.synthetic_class(course, args.size, REPO / "solutions" / ASSIGNMENT)
        level, reason = available_isolation()
        print(f"class of {len(students)} synthetic submissions; isolation: {level}"
              + (f" ({reason})" if reason else ""))
        print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

        if args.distributed:
            print_header()
            distributed_rows(course, students)
            print(f"load average at end: {os.getloadavg()[0]:.1f}")
            return
        # Registers the assignment in the gradebook once, so no timing below includes it.
        trusted(course, 1, [students[0]])
        single = trusted(course, 1, [students[0]])
        report = json.loads((reports_dir(course, ASSIGNMENT) / f"{students[0]}.json").read_text())

        print(f"one reference-quality submission alone (1 worker, start-up included): {single:.1f} s wall; "
              f"grading inside the worker {report['seconds']:.1f} s; target <= {TARGET_SINGLE_S:.0f} s: "
              f"{'met' if single <= TARGET_SINGLE_S else 'NOT met'}")
        print_header()
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
