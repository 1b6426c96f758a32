"""The instructor's whole loop with the real tools: a file-system exchange, three hub students and one LMS student.

The instructor releases ``numpy_cnn`` into an exchange in a temporary folder; alice, bob and carol
fetch it and submit through the exchange (each with a home folder of their own), carol after the due
date; dave's work arrives from an LMS straight into ``submitted/`` (no exchange, so no secret).  The
instructor collects, grades with the trusted grader, generates and releases the feedback; every hub
student fetches it.  Each student's fetched pages are checked, then what plain ``nbgrader autograde``
and a manual score in the gradebook do to the trusted results.  The time of each step is printed
(run with ``-s`` to see it).
"""
import datetime
import hashlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

import corpus
from autograder.nbgrader_io import cells

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "numpy_cnn"
COURSE_ID = "cnn-properties"
HUB_STUDENTS = ("alice", "bob", "carol")
STEP_SECONDS = {}

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (REPO / "exercises" / ASSIGNMENT).is_dir(), reason="no release yet")]


def run(command, cwd, env, step=None, check=True):
    started = time.monotonic()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if step:
        STEP_SECONDS[step] = STEP_SECONDS.get(step, 0.0) + time.monotonic() - started
    if check:
        assert done.returncode == 0, f"{' '.join(map(str, command))}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done


def nbgrader(*args):
    return [sys.executable, "-m", "nbgrader", *args]


class Loop:
    """A throw-away course, its exchange and one home folder per person, each with its own Jupyter dirs."""

    def __init__(self, base):
        self.course = corpus.make_course(base / "course", REPO)
        self.exchange = base / "exchange"
        self.exchange.mkdir()
        self.base = base
        self.instructor = self.env_for("instructor", PYTHONPATH=str(self.course))

    def env_for(self, who, **extra):
        home = self.base / "homes" / who
        home.mkdir(parents=True, exist_ok=True)
        env = corpus.grader_environment(self.course, "instructor-loop-secret")
        env.update(HOME=str(home), JUPYTER_CONFIG_DIR=str(home / ".jupyter"),
                   JUPYTER_DATA_DIR=str(home / ".local/share/jupyter"), JUPYTER_RUNTIME_DIR=str(home / ".run"))
        if who != "instructor":
            env.pop("PYTHONPATH", None)
            env.pop("AUTOGRADER_SECRET", None)
        env.update(extra)
        return env

    def exchange_args(self, student=None):
        args = [f"--Exchange.root={self.exchange}", f"--course={COURSE_ID}"]
        return args + ([f"--student={student}"] if student else [])

    def as_instructor(self, *args, step=None, check=True):
        return run(nbgrader(*args, f"--Exchange.root={self.exchange}"), self.course, self.instructor, step, check)

    def as_student(self, student, *args, step=None):
        home = self.base / "homes" / student
        return run(nbgrader(*args, *self.exchange_args(student)), home, self.env_for(student), step)

    def grade(self, *args, step="trusted grade"):
        return run([sys.executable, "-m", "autograder", "grade", ASSIGNMENT, *args], self.course,
                   self.instructor, step, check=False)


def fill_answers(folder, answers, edit=None):
    """Write ``answers`` into the fetched notebooks in ``folder``, as a student would; ``edit`` may go further."""
    for path in sorted(folder.glob("*.ipynb")):
        notebook = cells.read_notebook(path)
        for cell in notebook.cells:
            if cells.grade_id(cell) in answers and cells.is_answer_cell(cell):
                cell.source = answers[cells.grade_id(cell)]
        if edit is not None:
            notebook = edit(path.stem, notebook)
        if notebook is None:
            path.unlink()
        else:
            nbformat.write(notebook, str(path))


def bob_edits(name, notebook):
    """bob leaves convnet.ipynb out and rewrites a test cell (a tampering flag)."""
    if name == "convnet":
        return None
    if name == "convolution":
        for cell in notebook.cells:
            if cells.grade_id(cell) == "test_conv_forward_naive":
                cell.source = "print('all good')\n"
    return notebook


def utc_now_text():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f UTC")


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    loop = Loop(tmp_path_factory.mktemp("instructor-loop"))
    with open(loop.course / "nbgrader_config.py", "a", encoding="utf-8") as config:
        config.write('\nc.LateSubmissionPlugin.penalty_method = "zero"\n')
    loop.as_instructor("db", "assignment", "add", ASSIGNMENT, "--duedate=2100-01-01 00:00:00 UTC", step="set up")
    loop.as_instructor("release_assignment", ASSIGNMENT, f"--course={COURSE_ID}", step="release")
    solutions = corpus.solution_answers(loop.course / "solutions" / ASSIGNMENT)
    part, source = corpus.BUGS["missing_bias"]
    buggy = {**solutions, part: source}
    for student, answers, edit in (("alice", solutions, None), ("bob", buggy, bob_edits), ("carol", solutions, None)):
        if student == "carol":   # the due date passes between bob's submission and carol's
            loop.as_instructor("db", "assignment", "add", ASSIGNMENT, f"--duedate={utc_now_text()}", step="set up")
            time.sleep(1.5)
        loop.as_student(student, "fetch_assignment", ASSIGNMENT, step="students fetch")
        fill_answers(loop.base / "homes" / student / ASSIGNMENT, answers, edit)
        loop.as_student(student, "submit", ASSIGNMENT, step="students submit")
    loop.as_instructor("collect", ASSIGNMENT, step="collect")
    corpus.write_submission(loop.course, "dave", ASSIGNMENT, solutions, timestamp="2026-03-01 12:00:00 UTC")
    loop.graded = loop.grade()
    loop.generated = loop.as_instructor("generate_feedback", ASSIGNMENT, step="generate feedback")
    loop.released = loop.as_instructor("release_feedback", ASSIGNMENT, f"--course={COURSE_ID}",
                                       step="release feedback")
    for student in HUB_STUDENTS:
        loop.as_student(student, "fetch_feedback", ASSIGNMENT, step="students fetch feedback")
    yield loop
    print("\ninstructor loop, seconds per step:",
          ", ".join(f"{step} {seconds:.1f}" for step, seconds in STEP_SECONDS.items()))


def fetched_pages(loop, student):
    """``{notebook: html}`` of what ``fetch_feedback`` put in the student's home folder."""
    folder = loop.base / "homes" / student / ASSIGNMENT / "feedback"
    return {page.stem: page.read_text(encoding="utf-8") for page in folder.glob("*/*.html")}


def page_feedback(html_text):
    """The text of the trusted feedback section at the top of a page."""
    import html
    found = re.search(r'<pre class="autograder-feedback">(.*?)</pre>', html_text, re.S)
    assert found, "the page has no trusted feedback section"
    return html.unescape(found.group(1))


def grades_csv(loop):
    import csv
    with open(loop.course / "grades.csv", newline="", encoding="utf-8") as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


def tree_digest(folder):
    digest = hashlib.sha256()
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return digest.hexdigest()


def test_the_whole_class_is_graded_and_nobody_is_lost(loop):
    assert loop.graded.returncode == 0, loop.graded.stdout + loop.graded.stderr
    assert "done: 4 graded, 0 error(s)" in loop.graded.stdout
    rows = grades_csv(loop)
    assert sorted(rows) == ["alice", "bob", "carol", "dave"]
    assert (rows["alice"]["total"], rows["dave"]["total"]) == ("80", "80")


def test_every_hub_student_fetches_a_page_per_submitted_notebook_with_the_whole_feedback(loop):
    expected = {"alice": {"convolution", "max_pooling", "spatial_batchnorm", "convnet"},
                "bob": {"convolution", "max_pooling", "spatial_batchnorm"},
                "carol": {"convolution", "max_pooling", "spatial_batchnorm", "convnet"}}
    for student, notebooks in expected.items():
        pages = fetched_pages(loop, student)
        assert set(pages) == notebooks, student
        for name, page in pages.items():
            text = page_feedback(page)
            assert f"Autograder feedback for {student}, assignment {ASSIGNMENT}" in text
            assert "[pass]" in text or "[FAIL]" in text, (student, name)
            assert "white-space: pre-wrap" in page


def test_bob_reads_on_every_page_what_his_missing_notebook_cost(loop):
    for name, page in fetched_pages(loop, "bob").items():
        text = page_feedback(page)
        assert "convnet.ipynb: not submitted" in text, name
        assert "Total: 50 / 80 points (autograded 50)" in text
        assert "three_layer_convnet: 0 / 20 points" in text and "conv_forward_naive: 0 / 10 points" in text
    stand_in = (loop.course / "feedback" / "bob" / ASSIGNMENT / "convnet.html").read_text(encoding="utf-8")
    assert "convnet.ipynb was not graded from your work" in stand_in and "It cost 20 points" in stand_in


def test_the_late_student_sees_the_same_total_as_nbgrader_and_the_gradebook(loop):
    rows = grades_csv(loop)
    assert (rows["carol"]["autograded"], rows["carol"]["late_penalty"], rows["carol"]["total"]) == ("80", "80", "0")
    for page in fetched_pages(loop, "carol").values():
        assert "Total: 0 / 80 points (autograded 80, late penalty -80)" in page_feedback(page)
        assert "Late submission penalty" in page
    text = (loop.course / "feedback" / "carol" / ASSIGNMENT / "autograder_feedback.txt").read_text()
    assert "Total: 0 / 80 points (autograded 80, late penalty -80)" in text


def test_no_page_or_text_a_student_receives_holds_a_server_path(loop):
    course = str(loop.course.resolve())
    for folder in (loop.course / "feedback", *(loop.base / "homes" / s / ASSIGNMENT / "feedback" for s in HUB_STUDENTS)):
        for path in folder.rglob("*"):
            if path.is_file():
                assert course not in path.read_text(encoding="utf-8", errors="replace"), path


def test_the_lms_student_is_skipped_by_release_feedback_with_a_message_and_keeps_his_pages(loop):
    log = loop.released.stdout + loop.released.stderr
    assert "no submission_secret.txt for student 'dave'" in log and "upload the folder" in log
    assert sorted(p.name for p in (loop.course / "feedback" / "dave" / ASSIGNMENT).glob("*.html")) == [
        "convnet.html", "convolution.html", "max_pooling.html", "spatial_batchnorm.html"]


def test_tampering_sets_formgrader_flag_on_the_notebook_it_concerns(loop):
    from nbgrader.api import Gradebook
    os.environ["PATH"] = loop.instructor["PATH"]
    with Gradebook(f"sqlite:///{loop.course / 'gradebook.db'}") as gb:
        flagged = {(student, nb.name) for student in ("alice", "bob", "carol", "dave")
                   for nb in gb.find_submission(ASSIGNMENT, student).notebooks if nb.flagged}
    assert flagged == {("bob", "convolution")}


def gradebook_scores(loop):
    from nbgrader.api import Gradebook
    os.environ["PATH"] = loop.instructor["PATH"]
    with Gradebook(f"sqlite:///{loop.course / 'gradebook.db'}") as gb:
        return sorted((student, g.name, g.auto_score, g.manual_score) for student in ("alice", "bob", "carol", "dave")
                      for nb in gb.find_submission(ASSIGNMENT, student).notebooks for g in nb.grades)


@pytest.mark.parametrize("extra", [["--student=alice", "--force"], ["--force"], []])
def test_plain_autograde_after_trusted_grading_refuses_and_changes_nothing(loop, extra):
    before = (gradebook_scores(loop), tree_digest(loop.course / "autograded"))
    done = loop.as_instructor("autograde", ASSIGNMENT, *extra, check=False)
    assert done.returncode != 0
    assert "python -m autograder grade numpy_cnn" in done.stdout + done.stderr
    if "--student=alice" in extra:
        assert "python -m autograder grade numpy_cnn --student alice" in done.stdout + done.stderr
    assert (gradebook_scores(loop), tree_digest(loop.course / "autograded")) == before


def test_a_manual_score_reaches_grades_csv_and_the_feedback_total(loop):
    from nbgrader.api import Gradebook
    os.environ["PATH"] = loop.instructor["PATH"]
    with Gradebook(f"sqlite:///{loop.course / 'gradebook.db'}") as gb:
        grade = gb.find_grade("test_conv_forward_naive", "convolution", ASSIGNMENT, "alice")
        grade.manual_score = 7.0
        gb.db.commit()
    run([sys.executable, "-m", "autograder", "grades", ASSIGNMENT], loop.course, loop.instructor, "grades.csv")
    row = grades_csv(loop)["alice"]
    assert (row["autograded"], row["manual_adjustment"], row["total"]) == ("80", "-3", "77")
    loop.as_instructor("generate_feedback", ASSIGNMENT, "--student=alice", "--force")
    text = (loop.course / "feedback" / "alice" / ASSIGNMENT / "autograder_feedback.txt").read_text()
    assert "Total: 77 / 80 points (autograded 80, manual adjustments -3)" in text
    page = (loop.course / "feedback" / "alice" / ASSIGNMENT / "convolution.html").read_text()
    assert "Score: 22.0 / 25.0" in page and "Total: 77 / 80" in page_feedback(page)
