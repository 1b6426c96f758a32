"""The grading service's runner: grading processes that last between submissions, handed back at a stop.

``autograder/lasting_runner.py`` keeps spawned grading processes for its life.  A process that
dies while grading is replaced and the job tried again on the new one; closing the runner kills
every process and gives the job in flight back (``HandedBack``), so the service records nothing of
it and grades it again at its next start.  Real processes and real sandboxes; slow (each process
imports PyTorch).
"""
import threading
import time
from pathlib import Path

import pytest

import corpus
from autograder.isolation.sandbox import available_isolation
from autograder.isolation.student import TimeLimits
from autograder.lasting_runner import HandedBack, LastingLocalRunner
from autograder.one_submission import Job, release_files, submitted_files

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "numpy_cnn"
ENDLESS = "def conv_forward_naive(x, w, b, conv_param):\n    while True:\n        pass\n"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (REPO / "exercises" / ASSIGNMENT).is_dir(), reason="no release yet")]


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    return corpus.make_course(tmp_path_factory.mktemp("lasting") / "course", REPO)


def job(course, student, answers, call_s):
    folder = corpus.write_submission(course, student, ASSIGNMENT, answers)
    release = release_files(course / "exercises" / ASSIGNMENT)
    return Job(ASSIGNMENT, student, release, submitted_files(folder, list(release)), available_isolation()[0],
               "lasting-runner-key", TimeLimits(call_s=call_s, part_s=call_s * 4))


def grade_in_thread(runner, the_job):
    results = []

    def grade():
        try:
            results.append(runner.grade(the_job))
        except HandedBack:
            results.append("handed back")
    thread = threading.Thread(target=grade)
    thread.start()
    return thread, results


def test_a_grading_process_that_dies_is_replaced_and_the_job_graded_on_the_new_one(course):
    solutions = corpus.solution_answers(course / "solutions" / ASSIGNMENT)
    with LastingLocalRunner(course, 1) as runner:
        [first] = list(runner._every)
        thread, results = grade_in_thread(runner, job(course, "bob", solutions, 10.0))
        time.sleep(2.0)
        first.process.kill()
        thread.join(timeout=300)
        [second] = list(runner._every)
        assert second is not first and second.process.is_alive()
        [outcome] = results
        assert outcome.summary["status"] == "graded", outcome.summary
        assert sum(outcome.summary["points"].values()) == sum(outcome.summary["max_points"].values())
        again = runner.grade(job(course, "carol", solutions, 10.0))       # the same process, kept
        assert again.summary["status"] == "graded" and list(runner._every) == [second]
    assert not second.process.is_alive()


def test_closing_the_runner_hands_back_the_job_in_flight_and_kills_every_grading_process(course):
    solutions = corpus.solution_answers(course / "solutions" / ASSIGNMENT)
    runner = LastingLocalRunner(course, 2).__enter__()
    processes = [process.process for process in runner._every]
    endless, results = grade_in_thread(runner, job(course, "mallory", {**solutions, "conv_forward_naive": ENDLESS}, 300.0))
    time.sleep(8.0)                                   # the endless call is running in its sandbox
    started = time.monotonic()
    runner.close()
    endless.join(timeout=60)
    assert time.monotonic() - started < 30
    assert results == ["handed back"]
    assert not any(process.is_alive() for process in processes)
    with pytest.raises(HandedBack):
        runner.grade(job(course, "late", solutions, 10.0))                # nothing is graded after a close
