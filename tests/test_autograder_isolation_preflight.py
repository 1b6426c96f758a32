"""Fail closed on the environment: the grade command first grades the instructor solutions in the sandbox.

One throw-away course: alice is graded once with a sound environment; a second run with
nothing changed skips the pre-flight, and a changed hidden check runs it again.  Then the
environment (or the course) is broken in three ways, bob submits, and each run must stop at
the pre-flight with one clear line, exit non-zero, record nothing and leave ``autograded/`` as
it was but for the record of the last pass, which a failed pre-flight removes.

The record of a pass (:mod:`autograder.preflight_record`) is tested without grading: its key
component by component, hostile record files, and :func:`~autograder.whole_class.preflight`
with a runner that only says what the solutions earned.
"""
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import pytest

import corpus
from autograder import preflight_record
from autograder.cluster import ClusterSpec
from autograder.isolation.claims import SCRATCH_PREFIX, STALE_AFTER_S
from autograder.isolation.student import TimeLimits
from autograder.nbgrader_io import cells, gradebook
from autograder.nbgrader_io.submission import SubmittedFolder
from autograder.one_submission import Job, Outcome
from autograder.preflight_record import (COMPONENTS, MAX_AGE_S, MAX_RECORD_BYTES, PreflightKey, digest_of,
                                         preflight_key, record_path, verdict, write_record)
from autograder.whole_class import PreflightFailed, preflight, preflight_record_path
from test_autograder_grading import gradebook_dump, tree_digest

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "numpy_cnn"
pytestmark = pytest.mark.skipif(not (REPO / "exercises" / ASSIGNMENT).is_dir(), reason="no release yet")
SKIPPED = re.compile(r"^pre-flight: unchanged since \d{4}-\d\d-\d\d \d\d:\d\d \(record [0-9a-f]{12}\), skipped$", re.M)
PASSED = re.compile(r"pre-flight: the instructor solutions earn full marks in the sandbox \((\d+\.\d) s\)")


def grade(course, pythonpath_first=None, *options):
    """``grade`` in ``course`` with one worker; the course package is the copy beside the course."""
    env = corpus.grader_environment(course, "preflight-test-secret")
    env["PYTHONPATH"] = f"{course.parent / 'installed'}:{env['PYTHONPATH']}"
    if pythonpath_first is not None:
        env["PYTHONPATH"] = f"{pythonpath_first}:{env['PYTHONPATH']}"
    return subprocess.run([sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--workers", "1", *options],
                          cwd=course, env=env, capture_output=True, text=True, timeout=900)


def timed_grade(course, *options):
    started = time.monotonic()
    done = grade(course, None, *options)
    return done, time.monotonic() - started


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    base = tmp_path_factory.mktemp("preflight")
    course = corpus.make_course(base / "course", REPO)
    # Its own copy of cnnbook, first on the path: the pass it records cannot be undone by an edit
    # of the repository's cnnbook while these tests run.
    shutil.copytree(REPO / "cnnbook", base / "installed" / "cnnbook", ignore=shutil.ignore_patterns("__pycache__"))
    world_readable(base / "installed")
    corpus.write_submission(course, "alice", ASSIGNMENT, corpus.solution_answers(course / "solutions" / ASSIGNMENT))
    stale = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX))     # as a killed run leaves it
    (stale / "worker.py").write_text("left behind")
    os.utime(stale, (time.time() - 2 * STALE_AFTER_S,) * 2)
    done, seconds = timed_grade(course)
    course.joinpath("stale_left.txt").write_text(str(stale.exists()))
    assert done.returncode == 0, done.stdout + done.stderr
    course.joinpath("first_run.txt").write_text(done.stdout)
    course.joinpath("first_run_seconds.txt").write_text(f"{seconds:.1f}")
    corpus.write_submission(course, "bob", ASSIGNMENT, corpus.solution_answers(course / "solutions" / ASSIGNMENT))
    return course


@pytest.mark.slow
def test_a_sound_course_passes_the_preflight_and_grades(course):
    first = course.joinpath("first_run.txt").read_text()
    assert "pre-flight: running it (no pass recorded)" in first
    assert PASSED.search(first)
    assert {student for student, _ in gradebook_dump(course)} == {"alice"}
    assert course.joinpath("stale_left.txt").read_text() == "False", "the stale sandbox folder should be swept"


# Before the tests that break the environment: a failed pre-flight removes the record of the first run's pass.
@pytest.mark.slow
def test_a_second_grade_skips_the_preflight_until_a_hidden_check_changes(course):
    record = record_path(course / "autograded" / ".autograder", ASSIGNMENT)
    assert json.loads(record.read_text())["key"]
    second, second_s = timed_grade(course, "--student", "alice")
    assert second.returncode == 0, second.stdout + second.stderr
    assert SKIPPED.search(second.stdout) and not PASSED.search(second.stdout), second.stdout
    assert "[1/1] alice: 80 / 80 points" in second.stdout
    check = course / "autograder" / "checks" / "test_conv_forward_naive.py"
    original = check.read_bytes()
    check.write_bytes(original + b"\n# a hidden check changed after the last pass\n")
    try:
        third, third_s = timed_grade(course, "--student", "alice")
    finally:
        check.write_bytes(original)
    assert third.returncode == 0, third.stdout + third.stderr
    assert "pre-flight: running it (changed since it last passed: hidden checks)\n" in third.stdout
    assert PASSED.search(third.stdout) and not SKIPPED.search(third.stdout), third.stdout
    print(f"\ngrade of one student: first {course.joinpath('first_run_seconds.txt').read_text()} s, "
          f"unchanged {second_s:.1f} s, a hidden check changed {third_s:.1f} s")


def world_readable(folder):
    for path in (folder, *folder.rglob("*")):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return folder


def broken_package(folder, exercise_checks):
    """A cnnbook first on the grader's path: another checkout, say, with this exercise_checks.py (None: none)."""
    package = folder / "cnnbook"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""Another checkout."""\n')
    if exercise_checks is not None:
        (package / "exercise_checks.py").write_text(exercise_checks)
    return world_readable(folder)


def refused_with_nothing_written(course, run):
    """Run ``run()``: it must be refused at the pre-flight, with ``autograded/`` as it was but for the pass record."""
    record = record_path(course / "autograded" / ".autograder", ASSIGNMENT)
    before = {name: digest for name, digest in tree_digest(course / "autograded").items()
              if not name.startswith(".autograder/.preflight/")}
    done = run()
    assert not record.exists(), "a failed pre-flight leaves no pass recorded"
    assert done.returncode != 0, done.stdout
    lines = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and lines[0].startswith("error: pre-flight failed: "), done.stderr
    assert "Traceback" not in done.stderr and "bob" not in done.stdout
    assert {student for student, _ in gradebook_dump(course)} == {"alice"}
    assert tree_digest(course / "autograded") == before
    return lines[0]


@pytest.mark.slow
def test_a_cnnbook_without_the_modules_a_part_needs_stops_the_run(course, tmp_path):
    line = refused_with_nothing_written(course, lambda: grade(course, broken_package(tmp_path / "other", None)))
    assert "the instructor solutions in " in line and "has no module exercise_checks, which a graded part needs" in line


@pytest.mark.slow
def test_a_cnnbook_whose_setup_imports_fail_stops_the_run(course, tmp_path):
    line = refused_with_nothing_written(course, lambda: grade(course, broken_package(tmp_path / "other", "X = 1\n")))
    assert "SetupFailed" in line and "before any student code ran" in line and "check_close" in line


@pytest.mark.slow
def test_solutions_that_do_not_earn_full_marks_stop_the_run(course):
    path = course / "solutions" / ASSIGNMENT / "convolution.ipynb"
    original = path.read_bytes()
    notebook = cells.read_notebook(path)
    cell = cells.find_cell(notebook, "conv_forward_naive")
    cell.source = cells.cell_source(cell).replace("return out, cache", "return out * 0, cache")
    assert "out * 0" in cell.source
    nbformat.write(notebook, str(path))
    try:
        line = refused_with_nothing_written(course, lambda: grade(course))
    finally:
        path.write_bytes(original)
    assert "first failing check: conv_forward_naive: " in line and "[FAIL]" not in line


@pytest.mark.slow
def test_a_course_without_its_solutions_is_refused_before_anything(course, tmp_path):
    solutions = course / "solutions"
    solutions.rename(tmp_path / "solutions")
    try:
        line = refused_with_nothing_written(course, lambda: grade(course))
    finally:
        (tmp_path / "solutions").rename(solutions)
    assert "no instructor solutions in" in line


# ---------------------------------------------------------------------------
# The key: one component for each thing that decides the pre-flight
# ---------------------------------------------------------------------------

def a_job(**changes):
    solutions = SubmittedFolder("instructor-solutions", {"convolution": b'{"cells": ["solution"]}'}, "", {})
    job = Job(ASSIGNMENT, "instructor-solutions", {"convolution": b'{"cells": ["release"]}'}, solutions,
              "namespaces", "ab" * 32, TimeLimits())
    return dataclasses.replace(job, **changes)


@pytest.fixture
def installed(tmp_path):
    """Copies of the grader and of the course package, to change: ``(grader folder, cnnbook folder)``."""
    caches = shutil.ignore_patterns("__pycache__", ".secret")
    return (shutil.copytree(REPO / "autograder", tmp_path / "autograder", ignore=caches),
            shutil.copytree(REPO / "cnnbook", tmp_path / "cnnbook", ignore=caches))


def key_of(job, installed):
    return preflight_key(job, *installed)


def append(path, text):
    path.write_bytes(path.read_bytes() + text.encode())


def test_the_same_job_and_installation_give_the_same_key(installed):
    first = key_of(a_job(), installed)
    again = key_of(a_job(release={"convolution": bytes(b'{"cells": ["release"]}')}), installed)
    assert again == first and re.fullmatch(r"[0-9a-f]{64}", first.digest)
    assert sorted(first.components) == sorted(COMPONENTS)


def test_caches_and_the_course_secret_do_not_change_the_key(installed):
    grader, package = installed
    before = key_of(a_job(), installed)
    for folder in (grader / "__pycache__", grader / "checks" / "__pycache__", package / "__pycache__"):
        folder.mkdir()
        (folder / "parts.cpython-311.pyc").write_bytes(b"bytecode, written by the first import")
    (grader / ".secret").write_text("the term's secret\n")
    assert key_of(a_job(), installed) == before


JOB_CHANGES = {
    "release": {"release": {"convolution": b'{"cells": ["release!"]}'}},
    "instructor solutions": {"submitted": SubmittedFolder("instructor-solutions", {"convolution": b"{}"}, "", {})},
    "assignment": {"assignment": "another_assignment"},
    "isolation level": {"isolation": "userns"},
    "time limits": {"time_limits": TimeLimits(call_s=5.0)},
    "hidden cases": {"case_key": "cd" * 32},
}


@pytest.mark.parametrize("component", JOB_CHANGES)
def test_a_change_of_the_job_changes_the_key_and_is_named(installed, component):
    before = key_of(a_job(), installed)
    after = key_of(a_job(**JOB_CHANGES[component]), installed)
    assert after.digest != before.digest
    assert after.changed_since(before) == [component]


INSTALLATION_CHANGES = {
    "hidden checks": lambda grader, package: append(grader / "checks" / "test_conv_forward_naive.py", "\n# new\n"),
    "grader code": lambda grader, package: append(grader / "in_sandbox" / "worker.py", "\n# new\n"),
    "course package": lambda grader, package: append(package / "layers.py", "\n# new\n"),
}


@pytest.mark.parametrize("component", INSTALLATION_CHANGES)
def test_a_changed_file_of_the_grader_or_the_course_package_changes_the_key(installed, component):
    before = key_of(a_job(), installed)
    INSTALLATION_CHANGES[component](*installed)
    after = key_of(a_job(), installed)
    assert after.digest != before.digest and after.changed_since(before) == [component]


def test_a_course_package_elsewhere_or_missing_changes_the_key(installed, tmp_path):
    grader, package = installed
    before = key_of(a_job(), installed)
    moved = shutil.copytree(package, tmp_path / "elsewhere" / "cnnbook")
    assert key_of(a_job(), (grader, moved)).changed_since(before) == ["course package"]
    assert preflight_record.course_package_dir() == (REPO / "cnnbook").resolve()


def test_another_interpreter_changes_the_key(installed, monkeypatch):
    before = key_of(a_job(), installed)
    monkeypatch.setattr(sys, "executable", "/opt/another/python3.11")
    assert key_of(a_job(), installed).changed_since(before) == ["interpreter"]


@pytest.mark.parametrize("package", ["numpy", "torch"])
def test_another_installed_version_of_numpy_or_torch_changes_the_key(installed, monkeypatch, package):
    before = key_of(a_job(), installed)
    installed_version = preflight_record.metadata.version
    monkeypatch.setattr(preflight_record.metadata, "version",
                        lambda name: "0.0.1" if name == package else installed_version(name))
    assert key_of(a_job(), installed).changed_since(before) == ["installed packages"]


def test_computing_the_key_imports_neither_torch_nor_the_course_package():
    done = subprocess.run([sys.executable, "-c", "import sys; from autograder import preflight_record as r; "
                           "r.environment_components(); print(sorted({'torch', 'cnnbook', 'numpy'} & set(sys.modules)))"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


# ---------------------------------------------------------------------------
# The record: only a sound record of the same key skips the pre-flight
# ---------------------------------------------------------------------------

NOW = 1_780_000_000.0
KEY = PreflightKey({name: digest_of(name) for name in COMPONENTS})


@pytest.fixture
def record(tmp_path):
    path = record_path(tmp_path / ".autograder", ASSIGNMENT)
    write_record(path, KEY, ASSIGNMENT, 31.4, now=NOW)
    return path


def test_a_pass_of_the_same_key_is_skipped_and_the_line_says_since_when(record):
    decided = verdict(record, KEY, ASSIGNMENT, now=NOW + 3600)
    assert decided.skip and SKIPPED.match(f"pre-flight: {decided.reason}"), decided.reason
    assert KEY.digest[:12] in decided.reason


def test_a_pass_of_another_key_runs_it_and_names_what_changed(record):
    changed = PreflightKey({**KEY.components, "release": digest_of("a new release"),
                            "hidden checks": digest_of("a new check")})
    decided = verdict(record, changed, ASSIGNMENT, now=NOW + 60)
    assert not decided.skip and decided.reason == "changed since it last passed: release, hidden checks"


def test_no_record_runs_it(tmp_path):
    decided = verdict(record_path(tmp_path, ASSIGNMENT), KEY, ASSIGNMENT, now=NOW)
    assert not decided.skip and decided.reason == "no pass recorded"


def edited(change):
    """A hostile record: the sound one's JSON, changed by ``change(data)``."""
    def write(path):
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data))
    return write


def set_field(name, value):
    return edited(lambda data: data.__setitem__(name, value))


def symlink_to_a_sound_copy(path):
    copy = path.with_name("sound.json")
    path.rename(copy)
    path.symlink_to(copy)


def replaced_by(make):
    def write(path):
        path.unlink()
        make(path)
    return write


HOSTILE_RECORDS = {
    "empty": lambda path: path.write_bytes(b""),
    "not JSON": lambda path: path.write_bytes(b'{"format": '),
    "not UTF-8": lambda path: path.write_bytes(b"\xff\xfe\x00{\x00}"),
    "a list": lambda path: path.write_text("[]"),
    "nested too deep": lambda path: path.write_bytes(b"[" * 60000),
    "a sound record padded past the size bound": lambda path: append(path, " " * MAX_RECORD_BYTES),
    "another format": set_field("format", "autograder-preflight-record/0"),
    "another assignment": set_field("assignment", "another_assignment"),
    "an extra field": set_field("trusted", True),
    "a component missing": edited(lambda data: data["components"].pop("hidden checks")),
    "a component that is not a digest": edited(lambda data: data["components"].__setitem__("release", "x" * 64)),
    "a key that is not its components' digest": set_field("key", digest_of("anything")),
    "a component changed, its key kept": edited(lambda data: data["components"].__setitem__(
        "course package", digest_of("another package"))),
    "a time that is text": set_field("passed_at", "yesterday"),
    "a time that is true": set_field("passed_at", True),
    "a time of NaN": set_field("seconds", float("nan")),
    "a pass from the future": set_field("passed_at", NOW + 3600),
    "a pass older than the bound": set_field("passed_at", NOW - MAX_AGE_S - 1),
    "a link to a sound record": symlink_to_a_sound_copy,
    "a folder": replaced_by(lambda path: path.mkdir()),
    "a FIFO": replaced_by(os.mkfifo),
}


@pytest.mark.parametrize("hostile", HOSTILE_RECORDS)
def test_a_malformed_foreign_or_huge_record_runs_the_preflight(record, hostile):
    HOSTILE_RECORDS[hostile](record)
    decided = []
    reader = threading.Thread(target=lambda: decided.append(verdict(record, KEY, ASSIGNMENT, now=NOW + 60)),
                              daemon=True)
    reader.start()
    reader.join(timeout=10)
    assert decided, "reading the record waited (on a FIFO?)"
    assert not decided[0].skip, decided[0].reason
    assert len(decided[0].reason) < 200, decided[0].reason


def test_the_sound_record_beside_the_hostile_ones_is_skipped(record):
    """The hostile records above fail for what was done to them, not for a fault of the sound one."""
    assert verdict(record, KEY, ASSIGNMENT, now=NOW + 60).skip


# ---------------------------------------------------------------------------
# preflight() with a runner that only says what the solutions earned
# ---------------------------------------------------------------------------

class ScoreRunner:
    """A runner whose every job earns ``points`` of 80; it keeps the jobs it was given."""

    def __init__(self, points=80.0):
        self.points, self.jobs = points, []

    def run(self, jobs):
        self.jobs += list(jobs)
        return [Outcome({"student": job.student, "status": "graded", "points": {"conv_forward": self.points},
                         "max_points": {"conv_forward": 80.0}, "flags": []}) for job in self.jobs[-1:]]


@pytest.fixture
def small_course(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOGRADER_SECRET", "preflight-unit-secret")
    course = corpus.make_course(tmp_path / "course", REPO)
    coursedir, _config = gradebook.course_directory(course)
    release = gradebook.assignment_dir(coursedir, "release", ASSIGNMENT)
    record = preflight_record_path(course, ASSIGNMENT, None)

    def run(runner, force=False):
        return preflight(coursedir, ASSIGNMENT, release, "process", TimeLimits(), runner, record, force)
    return course, record, run


def test_a_pass_is_recorded_and_the_next_preflight_skipped(small_course, capsys):
    course, record, run = small_course
    runner = ScoreRunner()
    assert run(runner) > 0 and len(runner.jobs) == 1 and record.is_file()
    assert record == course / "autograded" / ".autograder" / ".preflight" / f"{ASSIGNMENT}.json"
    assert run(runner) == 0.0 and len(runner.jobs) == 1
    assert SKIPPED.search(capsys.readouterr().out)


def test_preflight_always_runs_it_while_nothing_changed(small_course, capsys):
    _course, record, run = small_course
    runner = ScoreRunner()
    run(runner)
    run(runner, force=True)
    assert len(runner.jobs) == 2 and "pre-flight: running it (--preflight always)\n" in capsys.readouterr().out


def test_changed_solutions_run_it_again_and_the_line_says_so(small_course, capsys):
    course, _record, run = small_course
    runner = ScoreRunner()
    run(runner)
    append(course / "solutions" / ASSIGNMENT / "convolution.ipynb", "\n")
    run(runner)
    assert len(runner.jobs) == 2
    assert "pre-flight: running it (changed since it last passed: instructor solutions)\n" in capsys.readouterr().out


def test_a_failed_preflight_is_never_recorded_and_removes_the_last_pass(small_course):
    course, record, run = small_course
    with pytest.raises(PreflightFailed):
        run(ScoreRunner(points=79.0))
    assert not record.exists()
    run(ScoreRunner())
    assert record.is_file()
    with pytest.raises(PreflightFailed):
        run(ScoreRunner(points=0.0), force=True)
    assert not record.exists(), "the pass recorded before must not outlive a failure"
    runner = ScoreRunner()
    run(runner)
    shutil.rmtree(course / "solutions")
    with pytest.raises(PreflightFailed, match="no instructor solutions"):
        run(runner)
    assert not record.exists() and len(runner.jobs) == 1


def test_a_pass_on_a_remote_cluster_is_never_recorded(tmp_path, capsys):
    assert preflight_record_path(tmp_path, ASSIGNMENT, ClusterSpec(scheduler="tls://grading.example.org:8786")) is None
    assert "runs on every grade on a remote cluster" in capsys.readouterr().out
    local = preflight_record_path(tmp_path, ASSIGNMENT, ClusterSpec(local_workers=2))
    assert local == preflight_record_path(tmp_path, ASSIGNMENT, None) == record_path(
        tmp_path / "autograded" / ".autograder", ASSIGNMENT)
