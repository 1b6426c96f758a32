"""``python -m autograder export``: the grades in Canvas's, Moodle's and Blackboard's own import formats.

A small real class is built once through nbgrader's own ``Gradebook`` API in a throw-away course
(the release registered by ``nbgrader generate_assignment``): alice on time with full marks, bob
late (a late penalty), carol with a manual score in formgrader, dave in the roster with no
submission, and erin graded but not in the roster.  Each file is read back as its LMS documents
its import (the module docstring of ``autograder/nbgrader_io/lms_export.py`` cites the pages),
and every score is compared with what the real ``nbgrader export`` writes for the same gradebook.
"""
import contextlib
import csv
import io
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from nbgrader.api import Gradebook
from sqlalchemy.exc import SAWarning

import corpus
from autograder.__main__ import main
from autograder.nbgrader_io.gradebook import course_directory, ensure_assignment

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "numpy_cnn"
MAX_SCORE = 80
ROSTER = """nbgrader_id,name,canvas_user_id,canvas_sis_user_id,canvas_sis_login_id,canvas_section,\
moodle_idnumber,moodle_email,blackboard_username
alice,"Smith, Alice",101,S-0101,asmith,Section A,M0101,alice@example.edu,asmith
bob,"Jones, Bob",102,S-0102,bjones,Section A,M0102,bob@example.edu,bjones
carol,"Lee, Carol",103,S-0103,clee,Section B,M0103,carol@example.edu,clee
dave,"Davies, Dave",104,S-0104,ddavies,Section B,M0104,dave@example.edu,ddavies
"""
ERIN = 'erin,"Evans, Erin",105,S-0105,eevans,Section B,M0105,erin@example.edu,eevans\n'
# What each graded student's final score is, by construction below.
EXPECTED = {"alice": "80", "bob": "67.5", "carol": "77.5", "erin": "40"}

pytestmark = pytest.mark.skipif(not (REPO / "exercises" / ASSIGNMENT).is_dir(), reason="no release yet")


def build_class(course):
    """Register the release and record the class's grades as the trusted grader and formgrader would."""
    coursedir, _config = course_directory(course)
    ensure_assignment(coursedir, ASSIGNMENT, log=lambda *_: None)
    # nbgrader's own API triggers SQLAlchemy autoflush warnings here, as in `nbgrader autograde`.
    with warnings.catch_warnings(), Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        warnings.simplefilter("ignore", SAWarning)
        for student in ("alice", "bob", "carol", "erin"):
            gb.update_or_create_student(student)
            submission = gb.update_or_create_submission(ASSIGNMENT, student)
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    full = student != "erin" or notebook.name in ("convnet", "spatial_batchnorm")
                    grade.auto_score, grade.needs_manual_grade = (grade.max_score if full else 0.0), False
        gb.find_submission_notebook("convolution", ASSIGNMENT, "bob").late_submission_penalty = 12.5
        gb.find_grade("test_conv_forward_naive", "convolution", ASSIGNMENT, "carol").manual_score = 7.5
        gb.db.commit()
    return course


@pytest.fixture(scope="session")
def graded_class(tmp_path_factory):
    """The class's course, built once; tests that change it work on :func:`copy_of` it."""
    return build_class(corpus.make_course(tmp_path_factory.mktemp("lms-export") / "course", REPO))


def copy_of(course, target):
    shutil.copytree(course, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


@contextlib.contextmanager
def in_folder(folder):
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def export(course, lms, *extra, roster=ROSTER + ERIN, out=None):
    """``python -m autograder export`` in this process, from the course root: ``(status, stdout, stderr, path)``."""
    (course / "roster.csv").write_text(roster, encoding="utf-8")
    path = out or course / f"grades-{lms}.csv"
    stdout, stderr = io.StringIO(), io.StringIO()
    with in_folder(course), contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = main(["export", ASSIGNMENT, "--lms", lms, "--roster", "roster.csv", "--out", str(path), *extra])
    return status, stdout.getvalue(), stderr.getvalue(), path


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle, strict=True))


def nbgrader_export_scores(course, tmp_path):
    """``{student: score}`` as the real ``nbgrader export`` writes it for this gradebook."""
    out = tmp_path / "nbgrader_export.csv"
    done = subprocess.run([sys.executable, "-m", "nbgrader", "export", "--to", str(out)], cwd=course,
                          env=corpus.grader_environment(course, "lms-export-secret"), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    with open(out, newline="", encoding="utf-8") as handle:
        return {row["student_id"]: float(row["score"]) for row in csv.DictReader(handle)}


def test_canvas_file_has_canvas_header_rows_and_the_gradebooks_totals(graded_class, tmp_path):
    status, stdout, stderr, path = export(graded_class, "canvas", "--column-id", "4242",
                                          out=tmp_path / "canvas.csv")
    assert status == 0, stderr
    rows = read_csv(path)
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", f"{ASSIGNMENT} (4242)"]
    assert rows[1] == ["Points Possible", "", "", "", "", str(MAX_SCORE)]
    by_id = {row[1]: row for row in rows[2:]}
    assert by_id["101"] == ["Smith, Alice", "101", "S-0101", "asmith", "Section A", "80"]
    assert {row[1]: row[5] for row in rows[2:]} == {"101": "80", "102": "67.5", "103": "77.5", "104": "",
                                                    "105": "40"}
    assert "4 score(s) out of 80, 1 student(s) with no submission left empty" in stdout


def roster_students(column):
    """``{the roster's value in column: nbgrader id}``."""
    return {row[column]: row["nbgrader_id"] for row in csv.DictReader(io.StringIO(ROSTER + ERIN))}


def test_every_exported_score_is_what_nbgrader_export_writes(graded_class, tmp_path):
    nbgrader = nbgrader_export_scores(graded_class, tmp_path)
    assert nbgrader == {student: float(score) for student, score in EXPECTED.items()}
    for lms, key, column, skip in (("canvas", 1, "canvas_user_id", 2), ("moodle", 0, "moodle_idnumber", 1),
                                   ("blackboard", 0, "blackboard_username", 1)):
        status, _out, stderr, path = export(graded_class, lms, out=tmp_path / f"{lms}.csv")
        assert status == 0, stderr
        student = roster_students(column)
        scores = {student[row[key]]: float(row[-1]) for row in read_csv(path)[skip:] if row[-1]}
        assert scores == nbgrader, lms


def test_moodle_file_is_keyed_by_the_chosen_identifier_with_every_row_identified(graded_class, tmp_path):
    _s, _o, _e, by_number = export(graded_class, "moodle", out=tmp_path / "m1.csv")
    assert read_csv(by_number)[0] == ["ID number", ASSIGNMENT]
    assert read_csv(by_number)[1:] == [["M0101", "80"], ["M0102", "67.5"], ["M0103", "77.5"], ["M0104", ""],
                                       ["M0105", "40"]]
    _s, _o, _e, by_email = export(graded_class, "moodle", "--moodle-key", "email", "--column-name", "Lab 3",
                                  out=tmp_path / "m2.csv")
    assert read_csv(by_email)[0] == ["Email address", "Lab 3"]
    assert [row[0] for row in read_csv(by_email)[1:]] == [f"{s}@example.edu" for s in
                                                          ("alice", "bob", "carol", "dave", "erin")]


def test_blackboard_file_quotes_every_cell_and_names_the_column_as_grade_center_does(graded_class, tmp_path):
    _s, _o, _e, path = export(graded_class, "blackboard", "--column-id", "3141",
                              out=tmp_path / "bb.csv")
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == f'"Username","{ASSIGNMENT} [Total Pts: 80 Score] |3141"'
    assert all(line.startswith('"') and line.endswith('"') for line in text.splitlines())
    assert read_csv(path)[1:] == [["asmith", "80"], ["bjones", "67.5"], ["clee", "77.5"], ["ddavies", ""],
                                  ["eevans", "40"]]
    _s, _o, _e, new_column = export(graded_class, "blackboard", out=tmp_path / "bb-new.csv")
    assert read_csv(new_column)[0] == ["Username", ASSIGNMENT]


def test_a_graded_student_missing_from_the_roster_is_refused_and_nothing_is_written(graded_class, tmp_path):
    status, stdout, stderr, path = export(graded_class, "canvas", roster=ROSTER, out=tmp_path / "canvas.csv")
    assert status == 2 and not path.exists() and stdout == ""
    assert stderr.splitlines() == ["error: erin is graded but not in the roster roster.csv: add their row "
                                   "(nbgrader_id erin and their canvas ids)"]
    assert list(tmp_path.iterdir()) == []


def test_a_student_without_the_lmss_id_is_refused_one_line_each(graded_class, tmp_path):
    roster = (ROSTER + ERIN).replace(",M0102,", ",,").replace(",M0104,", ",,")
    status, _out, stderr, path = export(graded_class, "moodle", roster=roster, out=tmp_path / "m.csv")
    assert status == 2 and not path.exists()
    assert stderr.splitlines() == [f"error: {s} has no moodle_idnumber in the roster roster.csv: fill it in (the "
                                   "moodle import finds students by it)" for s in ("bob", "dave")]


def test_an_unknown_assignment_is_refused_with_the_names_the_gradebook_has(graded_class, tmp_path):
    (graded_class / "roster.csv").write_text(ROSTER, encoding="utf-8")
    stderr = io.StringIO()
    with in_folder(graded_class), contextlib.redirect_stderr(stderr):
        status = main(["export", "numpy-cnn", "--lms", "canvas", "--roster", "roster.csv",
                       "--out", str(tmp_path / "x.csv")])
    assert status == 2 and not (tmp_path / "x.csv").exists()
    assert stderr.getvalue() == ("error: the gradebook has no assignment 'numpy-cnn' (it has: numpy_cnn); "
                                 "give the name nbgrader uses\n")


def test_a_grade_waiting_for_manual_grading_is_refused_unless_allowed(graded_class, tmp_path):
    course = copy_of(graded_class, tmp_path / "course")
    coursedir, _config = course_directory(course)
    with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        gb.find_grade("test_three_layer_convnet", "convnet", ASSIGNMENT, "alice").needs_manual_grade = True
        gb.db.commit()
    status, _out, stderr, path = export(course, "canvas")
    assert status == 2 and not path.exists()
    assert stderr == ("error: alice still waits for manual grading in formgrader: grade it there, or give "
                      "--allow-ungraded to export the autograded score\n")
    status, stdout, _err, path = export(course, "canvas", "--allow-ungraded")
    assert status == 0 and "1 still waiting for manual grading" in stdout
    assert read_csv(path)[2][5] == "80"


def test_a_refused_export_leaves_an_earlier_file_as_it_was(graded_class, tmp_path):
    course = copy_of(graded_class, tmp_path / "course")
    status, _o, _e, path = export(course, "blackboard")
    before = path.read_bytes()
    status, _o, _e, again = export(course, "blackboard", roster=ROSTER)
    assert status == 2 and again == path and path.read_bytes() == before
    assert [p.name for p in course.iterdir() if p.name.startswith(".grades")] == []


def test_a_failed_write_leaves_neither_the_file_nor_a_partial_one(graded_class, tmp_path, monkeypatch):
    import autograder.nbgrader_io.lms_export as lms_export

    def full_disk(*_args, **_kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(lms_export.os, "fsync", full_disk)
    with pytest.raises(OSError):
        export(graded_class, "canvas", out=tmp_path / "out" / "canvas.csv")
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("value, text", [(80.0, "80"), (67.5, "67.5"), (0.1 + 0.2, "0.30000000000000004"),
                                         (0.0, "0"), (1e-7, "0.0000001")])
def test_numbers_read_back_as_the_same_float(value, text):
    from autograder.nbgrader_io.lms_export import number
    assert number(value) == text and float(number(value)) == value


def test_column_options_that_would_import_wrongly_are_refused(graded_class, tmp_path):
    for extra, says in ((["--column-id", "12a"], "--column-id must be the LMS's number"),
                        (["--column-name", "=HYPERLINK(1)"], "--column-name '=HYPERLINK(1)': printable text"),
                        (["--column-name", "a|b"], "no '|'")):
        status, _o, stderr, path = export(graded_class, "canvas", *extra, out=tmp_path / "c.csv")
        assert status == 2 and says in stderr and not path.exists(), stderr


def test_names_with_commas_quotes_and_other_scripts_read_back_and_no_cell_starts_a_formula(graded_class, tmp_path):
    names = {"alice": 'Smith, "Al" Alice', "bob": "Jos\u00e9 D\u00edaz", "carol": "\u674e \u5a1c", "dave": "O'Neil;x"}
    roster = "nbgrader_id,name,canvas_user_id\n" + "".join(
        f'{student},"{name.replace(chr(34), chr(34) * 2)}",{100 + serial}\n'
        for serial, (student, name) in enumerate({**names, "erin": "Evans"}.items(), start=1))
    status, _o, stderr, path = export(graded_class, "canvas", roster=roster, out=tmp_path / "c.csv")
    assert status == 0, stderr
    rows = read_csv(path)
    assert {row[0] for row in rows[2:]} == {*names.values(), "Evans"}
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


def test_the_export_waits_for_a_record_in_progress_under_the_gradebook_lock(graded_class, tmp_path):
    import fcntl
    import threading
    from autograder.course_locks import GRADEBOOK_LOCK, LOCK_FOLDER
    course = copy_of(graded_class, tmp_path / "course")
    (course / LOCK_FOLDER).mkdir(parents=True, exist_ok=True)
    finished = []
    with open(course / LOCK_FOLDER / GRADEBOOK_LOCK, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)        # as the grading service holds it while it records a student
        exporting = threading.Thread(target=lambda: finished.append(export(course, "moodle")))
        exporting.start()
        exporting.join(timeout=3)
        assert not finished and not (course / "grades-moodle.csv").exists()
    exporting.join(timeout=60)
    assert finished and finished[0][0] == 0


def test_a_roster_with_a_problem_stops_the_export_before_the_gradebook_is_read(graded_class, tmp_path):
    status, stdout, stderr, path = export(graded_class, "moodle", roster=ROSTER + ERIN + "=cmd|' /C calc'!A0,,,,,,,,\n",
                                          out=tmp_path / "m.csv")
    assert status == 2 and stdout == "" and not path.exists()
    assert stderr.splitlines() == ["error: roster roster.csv line 7, column nbgrader_id: starts with '=', which a "
                                   "spreadsheet runs as a formula"]
