"""Where one submission's grading time goes: its steps, each timed on its own.

Grades the instructor solutions (a submission that passes every check, so every check runs
to its end) ``--repeat`` times in this process, as a grading worker does, with a timer
around each step, and prints the median wall time of each step per submission:

* reading: the release and the submitted notebooks, into one sandbox program per part;
* sandbox start: namespaces, filesystem view, limits, the worker's Python and numpy;
* loading the answer cells: the release's setup imports and the student's cells;
* student calls: the checks' requests to the student's code, there and back;
* oracle: PyTorch computing the expected values;
* comparisons: the verifier comparing results with the oracle's;
* sandbox end: stopping it and collecting its log;
* check runner: what is left inside the hidden checks' run (the runner itself, fixtures,
  the checks' own code, drawing the cases);
* autograded notebooks, and the feedback text;
* recording: on the client, placing the outcome and saving its scores in the gradebook.

Each step's time is its own (a step inside another is not counted twice).  The first
submission, which pays the worker's one-time imports, is left out of the medians.

Usage:  .venv/bin/python benchmarks/profile_submission.py [--repeat 7] [--isolation LEVEL]
"""
import argparse
import contextlib
import functools
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))   # the synthetic class is test data

import corpus  # noqa: E402
from autograder import one_submission  # noqa: E402
from autograder.checks import checking, oracle  # noqa: E402
from autograder.isolation import sandbox, student  # noqa: E402
from autograder.nbgrader_io import gradebook  # noqa: E402

ASSIGNMENT = "numpy_cnn"
STEPS = ("reading", "sandbox start", "loading the answer cells", "student calls", "oracle", "comparisons",
         "sandbox end", "check runner", "autograded notebooks", "feedback text", "recording", "rest")


class StepClock:
    """Exclusive time per step: a step's time leaves the step it ran inside."""

    def __init__(self):
        self.totals = dict.fromkeys(STEPS, 0.0)
        self._stack = []

    def wrap(self, step, function):
        @functools.wraps(function)
        def timed(*args, **kwargs):
            started = time.perf_counter()
            self._stack.append(step)
            try:
                return function(*args, **kwargs)
            finally:
                self._stack.pop()
                elapsed = time.perf_counter() - started
                self.totals[step] += elapsed
                if self._stack:
                    self.totals[self._stack[-1]] -= elapsed
        return timed

    def reset(self):
        self.totals = dict.fromkeys(STEPS, 0.0)


def instrument(clock, stack):
    """Put the clock around each step (undone when ``stack`` closes)."""
    def patch(owner, name, step):
        original = getattr(owner, name, None)
        if original is None:      # an older revision's grader (--tree) may lack a step
            return
        setattr(owner, name, clock.wrap(step, original))
        stack.callback(setattr, owner, name, original)

    patch(one_submission, "load_release", "reading")
    patch(one_submission, "read_submission", "reading")
    patch(one_submission, "run_checks", "check runner")
    patch(one_submission, "_autograded_notebooks", "autograded notebooks")
    patch(one_submission, "submission_feedback", "feedback text")
    patch(sandbox.Sandbox, "start", "sandbox start")
    patch(sandbox.Sandbox, "close", "sandbox end")
    patch(student.SandboxStudent, "_load", "loading the answer cells")
    patch(student.SandboxStudent, "_exchange", "student calls")
    for name in ("conv_forward", "conv_backward", "max_pool_forward", "max_pool_backward", "batchnorm_train",
                 "batchnorm_test", "batchnorm_backward", "convnet"):
        patch(oracle, name, "oracle")
    for name in ("result", "array", "close", "inputs_unchanged", "unchanged"):
        patch(checking.Verifier, name, "comparisons")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--isolation", default=sandbox.available_isolation()[0])
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="profile-submission-") as base, contextlib.ExitStack() as stack:
        course = corpus.make_course(Path(base) / "course", REPO)
        folder = corpus.write_submission(course, "alice", ASSIGNMENT, corpus.REFERENCE)
        release_dir = REPO / "exercises" / ASSIGNMENT
        release = one_submission.release_files(release_dir)
        job = one_submission.Job(ASSIGNMENT, "alice", release, one_submission.submitted_files(folder, list(release)),
                                 options.isolation, "profile-key")
        with contextlib.chdir(course):
            coursedir, config = gradebook.course_directory(course)
            gradebook.ensure_assignment(coursedir, ASSIGNMENT, log=lambda _line: None)
        clock = StepClock()
        instrument(clock, stack)
        record = clock.wrap("recording", functools.partial(place_and_record, course, coursedir, config))
        rows, walls = [], []
        for index in range(options.repeat + 1):
            clock.reset()
            started = time.perf_counter()
            outcome = clock.wrap("rest", one_submission.grade_submission)(job, course)
            record(outcome)
            if outcome.summary["status"] != "graded" or outcome.summary["points"] != outcome.summary["max_points"]:
                sys.exit(f"the instructor solutions did not earn full marks: {outcome.summary}")
            if index:   # the first pays the worker's one-time imports
                walls.append(time.perf_counter() - started)
                rows.append(dict(clock.totals))
    print(f"one submission (the instructor solutions, {options.isolation} isolation), median of "
          f"{options.repeat} after a first one; load average {sys_load():.1f}")
    wall = statistics.median(walls)
    for step in STEPS:
        seconds = statistics.median(row[step] for row in rows)
        print(f"  {step:<26} {seconds * 1000:7.0f} ms  {seconds / wall:6.1%}")
    print(f"  {'whole submission':<26} {wall * 1000:7.0f} ms")


def place_and_record(course, coursedir, config, outcome):
    target = gradebook.assignment_dir(coursedir, "autograded", ASSIGNMENT, outcome.student)
    one_submission.place_outcome(course, target, ASSIGNMENT, outcome)
    with contextlib.chdir(course):
        gradebook.record(coursedir, config, ASSIGNMENT, outcome.student, target, outcome.summary["flags"])


def sys_load():
    import os
    return os.getloadavg()[0]


if __name__ == "__main__":
    main()
