"""Fail closed on the environment: the grade command first grades the instructor solutions in the sandbox.

One throw-away course: alice is graded once with a sound environment; then the environment
(or the course) is broken in three ways, bob submits, and each run must stop at the
pre-flight with one clear line, exit non-zero, record nothing and leave ``autograded/`` as it was.
"""
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

import corpus
from autograder.isolation.claims import SCRATCH_PREFIX, STALE_AFTER_S
from autograder.nbgrader_io import cells
from test_autograder_grading import gradebook_dump, tree_digest

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "numpy_cnn"
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (REPO / "exercises" / ASSIGNMENT).is_dir(), reason="no release yet")]


def grade(course, pythonpath_first=None):
    env = corpus.grader_environment(course, "preflight-test-secret")
    if pythonpath_first is not None:
        env["PYTHONPATH"] = f"{pythonpath_first}:{env['PYTHONPATH']}"
    return subprocess.run([sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--workers", "1"], cwd=course,
                          env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = corpus.make_course(tmp_path_factory.mktemp("preflight") / "course", REPO)
    corpus.write_submission(course, "alice", ASSIGNMENT, corpus.solution_answers(course / "solutions" / ASSIGNMENT))
    stale = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX))     # as a killed run leaves it
    (stale / "worker.py").write_text("left behind")
    os.utime(stale, (time.time() - 2 * STALE_AFTER_S,) * 2)
    done = grade(course)
    course.joinpath("stale_left.txt").write_text(str(stale.exists()))
    assert done.returncode == 0, done.stdout + done.stderr
    course.joinpath("first_run.txt").write_text(done.stdout)
    corpus.write_submission(course, "bob", ASSIGNMENT, corpus.solution_answers(course / "solutions" / ASSIGNMENT))
    return course


def test_a_sound_course_passes_the_preflight_and_grades(course):
    first = course.joinpath("first_run.txt").read_text()
    assert re.search(r"pre-flight: the instructor solutions earn full marks in the sandbox \(\d+\.\d s\)", first)
    assert {student for student, _ in gradebook_dump(course)} == {"alice"}
    assert course.joinpath("stale_left.txt").read_text() == "False", "the stale sandbox folder should be swept"


def broken_package(folder, exercise_checks):
    """A cnnbook first on the grader's path: another checkout, say, with this exercise_checks.py (None: none)."""
    package = folder / "cnnbook"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""Another checkout."""\n')
    if exercise_checks is not None:
        (package / "exercise_checks.py").write_text(exercise_checks)
    for path in (folder, package, *package.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return folder


def refused_with_nothing_written(course, done):
    before = tree_digest(course / "autograded")
    assert done.returncode != 0, done.stdout
    lines = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and lines[0].startswith("error: pre-flight failed: "), done.stderr
    assert "Traceback" not in done.stderr and "bob" not in done.stdout
    assert {student for student, _ in gradebook_dump(course)} == {"alice"}
    assert tree_digest(course / "autograded") == before
    return lines[0]


def test_a_cnnbook_without_the_modules_a_part_needs_stops_the_run(course, tmp_path):
    line = refused_with_nothing_written(course, grade(course, broken_package(tmp_path / "other", None)))
    assert "the instructor solutions in " in line and "has no module exercise_checks, which a graded part needs" in line


def test_a_cnnbook_whose_setup_imports_fail_stops_the_run(course, tmp_path):
    line = refused_with_nothing_written(course, grade(course, broken_package(tmp_path / "other", "X = 1\n")))
    assert "SetupFailed" in line and "before any student code ran" in line and "check_close" in line


def test_solutions_that_do_not_earn_full_marks_stop_the_run(course):
    path = course / "solutions" / ASSIGNMENT / "convolution.ipynb"
    original = path.read_bytes()
    notebook = cells.read_notebook(path)
    cell = cells.find_cell(notebook, "conv_forward_naive")
    cell.source = cells.cell_source(cell).replace("return out, cache", "return out * 0, cache")
    assert "out * 0" in cell.source
    nbformat.write(notebook, str(path))
    try:
        line = refused_with_nothing_written(course, grade(course))
    finally:
        path.write_bytes(original)
    assert "first failing check: conv_forward_naive: " in line and "[FAIL]" not in line


def test_a_course_without_its_solutions_is_refused_before_anything(course, tmp_path):
    solutions = course / "solutions"
    solutions.rename(tmp_path / "solutions")
    try:
        line = refused_with_nothing_written(course, grade(course))
    finally:
        (tmp_path / "solutions").rename(solutions)
    assert "no instructor solutions in" in line
