"""The LMS round-trip page (``book/instructors/lms_round_trip.md``) runs as written.

Its blocks are read with the guide's own reader (``TAGGED`` of ``tests/test_instructor_guide.py``):
the roster example becomes the course's ``roster.csv`` and every shell step runs as written, with bash,
from the course root; nothing in them is substituted (their paths are relative to the course root).
The fast tests run the export steps on the graded class of ``tests/test_lms_export.py``; the slow one
goes the whole way: a Canvas download with a late student, the page's intake, real grading with the
grading page's own step, a manual score, the three exports, each compared with ``nbgrader export``.
"""
import csv
import subprocess
import warnings
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook
from sqlalchemy.exc import SAWarning

import corpus
from autograder.nbgrader_io import cells
from autograder.nbgrader_io.gradebook import course_directory
from autograder.nbgrader_io.roster import parse_roster
from test_instructor_guide import TAGGED, guide_blocks
from test_lms_export import ASSIGNMENT, REPO, copy_of, graded_class, nbgrader_export_scores, read_csv  # noqa: F401

PAGE = REPO / "book" / "instructors" / "lms_round_trip.md"
STEPS = ("roster-intake", "export-canvas", "export-moodle", "export-blackboard")
CONFIGS = ("roster",)
EXPORTS = {"export-canvas": "grades-canvas.csv", "export-moodle": "grades-moodle.csv",
           "export-blackboard": "grades-blackboard.csv"}

pytestmark = pytest.mark.skipif(not (REPO / "exercises" / ASSIGNMENT).is_dir(), reason="no release yet")


def page_blocks(kind):
    """``{name: body}`` of the page's ``% guide-KIND: name`` blocks, read as the guide's tests read them."""
    return {m.group("name"): m.group("body") for m in TAGGED.finditer(PAGE.read_text(encoding="utf-8"))
            if m.group(1) == kind}


def run_step(course, name, check=True):
    """The page's shell step ``name`` as written: bash, from the course root, the grader's environment."""
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", page_blocks("step")[name]], cwd=course,
                          env=corpus.grader_environment(course, "lms-round-trip-secret"), capture_output=True,
                          text=True, timeout=900)
    if check:
        assert done.returncode == 0, f"{name}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done


def test_the_page_has_its_steps_and_every_shell_block_is_one():
    text = PAGE.read_text(encoding="utf-8")
    assert set(page_blocks("step")) == set(STEPS) and set(page_blocks("config")) == set(CONFIGS)
    assert len([m for m in TAGGED.finditer(text) if m.group("lang") == "bash"]) == text.count("\n```bash\n")
    assert "](grading_guide.md)" in text


def test_the_pages_roster_is_read_as_the_four_students_it_shows():
    roster = parse_roster(page_blocks("config")["roster"].encode("utf-8"))
    assert [entry.nbgrader_id for entry in roster.entries] == ["alice", "bob", "carol", "dave"]
    assert roster.entries[0].name == "Smith, Alice" and roster.for_download_id("canvas", "102").nbgrader_id == "bob"


def test_the_page_quotes_the_refusals_the_code_gives():
    """Every refusal the page's tables quote is a line the roster reader or the export writes."""
    text = PAGE.read_text(encoding="utf-8")
    sources = "".join((REPO / "autograder" / "nbgrader_io" / name).read_text(encoding="utf-8")
                      for name in ("roster.py", "lms_export.py", "lms_intake.py"))
    quoted = ["a safe folder name", "is already on line", "holds the invisible or control character",
              "which a spreadsheet runs as a formula", "save it as CSV in UTF-8, not",
              "is graded but not in the roster", "still waits for manual grading in formgrader",
              "the gradebook has no assignment", "no gradebook at", "--column-id must be the LMS's number",
              "add the student's row to it and run intake again"]
    for words in quoted:
        assert words in text and words in sources, words


@pytest.fixture
def class_of_the_page(graded_class, tmp_path):
    """The graded class without erin (the page's roster has four students), with the page's roster."""
    course = copy_of(graded_class, tmp_path / "course")
    coursedir, _config = course_directory(course)
    with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        gb.remove_submission(ASSIGNMENT, "erin")
    (course / "roster.csv").write_text(page_blocks("config")["roster"], encoding="utf-8")
    return course


def test_the_pages_export_steps_write_each_systems_file_with_nbgrader_exports_totals(class_of_the_page, tmp_path):
    course = class_of_the_page
    expected = nbgrader_export_scores(course, tmp_path)
    for step, name in EXPORTS.items():
        done = run_step(course, step)
        assert f"wrote {name}: 3 score(s) out of 80, 1 student(s) with no submission left empty" in done.stdout
    canvas = read_csv(course / "grades-canvas.csv")
    assert canvas[:2] == [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "numpy_cnn (4242)"],
                          ["Points Possible", "", "", "", "", "80"]]
    assert {row[1]: row[5] for row in canvas[2:]} == {"101": "80", "102": "67.5", "103": "77.5", "104": ""}
    moodle = read_csv(course / "grades-moodle.csv")
    assert moodle == [["ID number", "numpy_cnn"], ["M0101", "80"], ["M0102", "67.5"], ["M0103", "77.5"], ["M0104", ""]]
    blackboard = read_csv(course / "grades-blackboard.csv")
    assert blackboard[0] == ["Username", "numpy_cnn [Total Pts: 80 Score] |3141"]
    assert blackboard[1:] == [["asmith", "80"], ["bjones", "67.5"], ["clee", "77.5"], ["ddavies", ""]]
    # nbgrader export writes 0 for a student of the gradebook without a submission (erin, whose was
    # removed); the LMS files leave such a student out, or empty when the roster has them (dave).
    assert expected == {"alice": 80.0, "bob": 67.5, "carol": 77.5, "erin": 0.0}


def canvas_download(path, late):
    """A Canvas bulk download: alice, bob and carol upload solved notebooks, ``late`` after the page's due date."""
    solutions = corpus.solution_answers(REPO / "solutions" / ASSIGNMENT)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for student, user_id in (("smithalice", 101), ("jonesbob", 102), ("leecarol", 103)):
            when = (2026, 12, 16, 9, 0, 0) if user_id == late else (2026, 11, 30, 9, 0, 0)
            for release in sorted((REPO / "exercises" / ASSIGNMENT).glob("*.ipynb")):
                notebook = cells.read_notebook(release)
                for cell in notebook.cells:
                    if cells.grade_id(cell) in solutions and cells.is_answer_cell(cell):
                        cell.source = solutions[cells.grade_id(cell)]
                info = zipfile.ZipInfo(f"{student}_{user_id}_9{user_id}_{release.name}", date_time=when)
                archive.writestr(info, nbformat.writes(notebook))
    return path


def run_guide_step(course, name):
    """A step of the guide's other pages (the due date, grading), as written there."""
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", guide_blocks("step")[name]], cwd=course,
                          env=corpus.grader_environment(course, "lms-round-trip-secret"), capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, f"{name}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done


@pytest.mark.slow
def test_from_a_canvas_download_to_the_three_import_files_with_the_pages_commands(tmp_path):
    course = corpus.make_course(tmp_path / "course", REPO)
    with open(course / "nbgrader_config.py", "a", encoding="utf-8") as config:
        config.write("\n" + guide_blocks("config")["late-penalty"])
    (course / "roster.csv").write_text(page_blocks("config")["roster"], encoding="utf-8")
    canvas_download(course / "downloaded" / ASSIGNMENT / "submissions.zip", late=102)
    run_guide_step(course, "due-date")
    intake = run_step(course, "roster-intake")
    assert sorted(p.name for p in (course / "submitted").iterdir()) == ["alice", "bob", "carol"]
    assert "bob (102 in the LMS), submitted 2026-12-16 09:00:00 CET" in intake.stdout
    run_guide_step(course, "grade")
    coursedir, _config = course_directory(course)
    with warnings.catch_warnings(), Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        warnings.simplefilter("ignore", SAWarning)
        gb.find_grade("test_conv_forward_naive", "convolution", ASSIGNMENT, "carol").manual_score = 7.5
        gb.db.commit()
    run_guide_step(course, "grades")
    with open(course / "grades.csv", newline="", encoding="utf-8") as handle:
        totals = {row["student"]: row["total"] for row in csv.DictReader(handle)}
    assert totals == {"alice": "80", "bob": "0", "carol": "77.5"}
    expected = nbgrader_export_scores(course, tmp_path)
    assert expected == {student: float(total) for student, total in totals.items()}
    for step in EXPORTS:
        run_step(course, step)
    assert {row[1]: row[5] for row in read_csv(course / "grades-canvas.csv")[2:]} == {
        "101": "80", "102": "0", "103": "77.5", "104": ""}
    assert read_csv(course / "grades-moodle.csv")[1:] == [["M0101", "80"], ["M0102", "0"], ["M0103", "77.5"],
                                                          ["M0104", ""]]
    assert read_csv(course / "grades-blackboard.csv")[1:] == [["asmith", "80"], ["bjones", "0"], ["clee", "77.5"],
                                                              ["ddavies", ""]]
