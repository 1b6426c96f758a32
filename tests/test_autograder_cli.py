"""The grading command's errors, and a whole grading run at the degraded (process) level.

The degraded level is what an instructor without root gets, and what CI without root tests:
in-process tricks, exits, loops and memory must score exactly as with namespaces.  File
attacks and detached processes are left out here: at this level they are not contained
(the grader says so), and this test must never damage the working tree.
"""
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]

import corpus  # noqa: E402
from autograder.nbgrader_io import cells  # noqa: E402
from test_autograder_units import POINTS  # noqa: E402

ASSIGNMENT = "numpy_cnn"
needs_release = pytest.mark.skipif(not (REPO / "exercises" / ASSIGNMENT).is_dir(), reason="no release yet")


def run_grader(course, *args):
    return subprocess.run([sys.executable, "-m", "autograder", *args], cwd=course,
                          env=corpus.grader_environment(course, "cli-test-secret"), capture_output=True, text=True)


@pytest.fixture
def course(tmp_path):
    return corpus.make_course(tmp_path / "course", REPO)


def test_outside_a_course_the_command_says_where_to_run_it(tmp_path):
    (tmp_path / "autograder").symlink_to(REPO / "autograder")
    done = run_grader(tmp_path, "grade", ASSIGNMENT)
    assert done.returncode == 2
    assert "no nbgrader_config.py" in done.stderr and "course's root directory" in done.stderr
    assert "Traceback" not in done.stderr


@needs_release
def test_unknown_assignment_and_student_get_one_clear_line(course):
    done = run_grader(course, "grade", "homework9")
    assert done.returncode == 2 and "no hidden checks for the assignment 'homework9'" in done.stderr
    corpus.write_submission(course, "alice", ASSIGNMENT, {})
    done = run_grader(course, "grade", ASSIGNMENT, "--student", "zoe")
    assert done.returncode == 2 and "no submission of numpy_cnn for: zoe" in done.stderr
    assert "Traceback" not in done.stderr


def test_isolation_command_reports_what_a_sandbox_reaches(course):
    done = run_grader(course, "isolation")
    assert done.returncode == 0, done.stderr
    for question in ("network:", "course directory:", "autograder:", "gradebook.db:", "write to cnnbook/:"):
        assert question in done.stdout


@needs_release
def test_no_submissions_is_not_an_error(course):
    done = run_grader(course, "grade", ASSIGNMENT)
    assert done.returncode == 0 and "no submissions" in done.stdout


@needs_release
def test_a_release_test_cell_without_hidden_checks_is_refused(course):
    path = course / "exercises" / ASSIGNMENT / "convolution.ipynb"
    notebook = cells.read_notebook(path)
    extra = nbformat.v4.new_code_cell("assert True")
    extra.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": 3,
                                  "grade_id": "test_bonus", "schema_version": 3}
    notebook.cells.append(extra)
    nbformat.write(notebook, str(path))
    corpus.write_submission(course, "alice", ASSIGNMENT, {})
    done = run_grader(course, "grade", ASSIGNMENT)
    assert done.returncode == 2
    assert "test cells without hidden checks: ['test_bonus']" in done.stderr


# ---------------------------------------------------------------------------
# A whole run at the degraded level
# ---------------------------------------------------------------------------

CONTAINED_AT_PROCESS_LEVEL = ("monkeypatch_numpy_builtins", "fake_modules", "silence_and_fake_scores",
                              "sys_exit_in_call", "endless_loop", "huge_allocation")


def test_the_degraded_corpus_excludes_what_that_level_cannot_contain():
    assert set(CONTAINED_AT_PROCESS_LEVEL) <= set(corpus.HOSTILE)
    assert not {"file_attacks", "background_processes"} & set(CONTAINED_AT_PROCESS_LEVEL)


@pytest.mark.slow
@needs_release
def test_degraded_level_still_gives_honest_scores_and_says_it_is_degraded(course):
    solutions = corpus.solution_answers(course / "solutions" / ASSIGNMENT)
    hostile = dict(solutions)
    for name in CONTAINED_AT_PROCESS_LEVEL:
        part, source = corpus.hostile_source(name, "unused", "unused", "unused")
        hostile[part] = source
    corpus.write_submission(course, "alice", ASSIGNMENT, solutions)
    corpus.write_submission(course, "mallory", ASSIGNMENT, hostile)
    done = run_grader(course, "grade", ASSIGNMENT, "--isolation", "process", "--call-timeout", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "DEGRADED" in done.stderr and "isolation: process (DEGRADED)" in done.stdout
    rows = {}
    for line in (course / "grades.csv").read_text().splitlines()[1:]:
        fields = line.split(",")
        rows[fields[0]] = dict(zip(POINTS, map(float, fields[1:1 + len(POINTS)])))
    assert rows["alice"] == POINTS
    # monkeypatched zeros earn nothing, not even "inputs unmodified" (that needs right results on a
    # second call); the parts that need a hostile forward pass score with it; every part with an
    # exit, a loop or a hoard scores 0.
    assert rows["mallory"] == {**POINTS, "conv_forward_naive": 0, "conv_backward_naive": 0,
                               "max_pool_forward_naive": 0, "max_pool_backward_naive": 0,
                               "spatial_batchnorm_backward": 0, "three_layer_convnet": 0}


@pytest.mark.slow
@needs_release
def test_a_failed_regeneration_keeps_the_release_and_prints_nbgraders_error(course):
    from test_autograder_grading import tree_digest
    before = tree_digest(course / "exercises")
    (course / "solutions" / ASSIGNMENT / "convnet.ipynb").write_text("{ not a notebook", encoding="utf-8")
    done = run_grader(course, "generate", ASSIGNMENT)
    assert done.returncode == 2 and "nbgrader generate_assignment numpy_cnn failed" in done.stderr
    assert tree_digest(course / "exercises") == before
    assert not list(course.glob(".autograder-generate-*"))


@pytest.mark.slow
@needs_release
def test_a_regeneration_replaces_the_release_with_what_nbgrader_generates(course):
    (course / "exercises" / ASSIGNMENT / "convnet.ipynb").write_text("stale", encoding="utf-8")
    done = run_grader(course, "generate", ASSIGNMENT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert cells.read_notebook(course / "exercises" / ASSIGNMENT / "convnet.ipynb").cells
    assert sorted(p.name for p in (course / "exercises" / ASSIGNMENT).iterdir()) == sorted(
        p.name for p in (REPO / "exercises" / ASSIGNMENT).iterdir())


@needs_release
def test_a_submission_budget_too_short_for_the_solutions_stops_at_the_pre_flight(course):
    corpus.write_submission(course, "alice", ASSIGNMENT, corpus.solution_answers(course / "solutions" / ASSIGNMENT))
    done = run_grader(course, "grade", ASSIGNMENT, "--submission-timeout", "0.5")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "this submission's time budget (0.5 s) is used up" in done.stderr
    assert not (course / "grades.csv").exists() and not (course / "autograded").exists()
    refused = run_grader(course, "grade", ASSIGNMENT, "--submission-timeout", "0")
    assert refused.returncode == 2 and "a number of seconds above 0, not '0'" in refused.stderr
