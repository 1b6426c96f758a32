"""The instructor's whole loop with the real tools: a file-system exchange, three hub students and one LMS student.

The instructor releases ``numpy_cnn`` into an exchange in a temporary folder; alice, bob and carol
fetch it and submit through the exchange (each with a home folder of their own), carol after the due
date; dave's work arrives as a Canvas bulk download (student id 104: no exchange, so no secret).  The
instructor collects both, grades with the trusted grader, collects and grades bob again after his late
correction, generates and releases the feedback; every hub student fetches it.  Every instructor
command is the guide's own block, read from its pages (``book/instructors/*.md``).  Each student's fetched pages are checked, then what plain ``nbgrader autograde``
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
from test_instructor_guide import CONFIGS_USED_BY_THE_LOOP, guide_blocks

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "numpy_cnn"
COURSE_ID = "cnn-properties"
HUB_STUDENTS = ("alice", "bob", "carol")
GUIDE_EXCHANGE = "/srv/nbgrader/exchange"     # the guide's example; each run uses a folder of its own
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
        return run(nbgrader(*args), self.course, self.instructor, step, check)

    def as_student(self, student, *args, step=None):
        home = self.base / "homes" / student
        return run(nbgrader(*args, *self.exchange_args(student)), home, self.env_for(student), step)

    def substituted(self, text):
        """A guide block with the guide's exchange folder replaced by this course's."""
        return text.replace(GUIDE_EXCHANGE, str(self.exchange))

    def guide(self, step, check=True):
        """Run the guide's block ``step`` as written (bash, from the course root), timed under its name."""
        return run(["bash", "-euo", "pipefail", "-c", self.substituted(guide_blocks("step")[step])],
                   self.course, self.instructor, step, check)

    def submit(self, student, answers, edit=None):
        """What a student does on the hub: fetch (once), answer, submit."""
        if not (self.base / "homes" / student / ASSIGNMENT).is_dir():
            self.as_student(student, "fetch_assignment", ASSIGNMENT, step="students fetch")
        fill_answers(self.base / "homes" / student / ASSIGNMENT, answers, edit)
        self.as_student(student, "submit", ASSIGNMENT, step="students submit")


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


def lms_download(path, student_id="104"):
    """A Canvas bulk download holding one student's four loose notebooks, solved."""
    import zipfile
    solutions = corpus.solution_answers(REPO / "solutions" / ASSIGNMENT)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for release in sorted((REPO / "exercises" / ASSIGNMENT).glob("*.ipynb")):
            notebook = cells.read_notebook(release)
            for cell in notebook.cells:
                if cells.grade_id(cell) in solutions and cells.is_answer_cell(cell):
                    cell.source = solutions[cells.grade_id(cell)]
            info = zipfile.ZipInfo(f"daviesdave_{student_id}_9004_{release.name}", date_time=(2026, 11, 30, 9, 0, 0))
            archive.writestr(info, nbformat.writes(notebook))


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    """The term, in the guide's order and with the guide's own commands (read from the page)."""
    loop = Loop(tmp_path_factory.mktemp("instructor-loop"))
    for name in CONFIGS_USED_BY_THE_LOOP:
        with open(loop.course / "nbgrader_config.py", "a", encoding="utf-8") as config:
            config.write("\n" + loop.substituted(guide_blocks("config")[name]))
    for step in ("exchange", "generate", "due-date", "release"):
        loop.guide(step)
    solutions = corpus.solution_answers(loop.course / "solutions" / ASSIGNMENT)
    part, source = corpus.BUGS["missing_bias"]
    for student, answers, edit in (("alice", solutions, None), ("bob", {**solutions, part: source}, bob_edits)):
        loop.submit(student, answers, edit)
    # The due date passes (a test's own command): carol, and bob's later correction, are late.
    loop.as_instructor("db", "assignment", "add", ASSIGNMENT, f"--duedate={utc_now_text()}", step="set up")
    time.sleep(1.5)
    loop.submit("carol", solutions)
    loop.guide("collect")
    lms_download(loop.course / "downloaded" / ASSIGNMENT / "submissions.zip")
    loop.lms = loop.guide("lms")
    loop.graded = loop.guide("grade", check=False)
    loop.submit("bob", solutions, bob_edits)          # bob fixes his bug, after the due date
    loop.regraded = loop.guide("regrade")
    loop.validated = loop.guide("validate")
    loop.fed_back = loop.guide("feedback")
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
    assert sorted(rows) == ["104", "alice", "bob", "carol"]
    assert (rows["alice"]["total"], rows["104"]["total"]) == ("80", "80")
    assert "104, submitted 2026-11-30 09:00:00 CET" in loop.lms.stdout and "every upload complete" in loop.lms.stdout


def test_bob_collected_and_graded_again_after_his_late_correction(loop):
    assert "bob: 60 / 80 points" in loop.regraded.stdout and "grading 1 submission(s)" in loop.regraded.stdout
    row = grades_csv(loop)["bob"]
    assert (row["autograded"], row["late_penalty"], row["total"]) == ("60", "60", "0")
    assert row["flags"] == "convolution: test cell test_conv_forward_naive was edited"


def test_the_solutions_pass_the_guides_validate_step(loop):
    assert "Success! Your notebook passes all the tests." in loop.validated.stdout


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
        assert "Total: 0 / 80 points (autograded 60, late penalty -60)" in text
        assert "three_layer_convnet: 0 / 20 points" in text and "conv_forward_naive: 10 / 10 points" in text
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
    log = loop.fed_back.stdout + loop.fed_back.stderr
    assert "no submission_secret.txt for student '104'" in log and "upload the folder" in log
    assert sorted(p.name for p in (loop.course / "feedback" / "104" / ASSIGNMENT).glob("*.html")) == [
        "convnet.html", "convolution.html", "max_pooling.html", "spatial_batchnorm.html"]


def test_tampering_sets_formgrader_flag_on_the_notebook_it_concerns(loop):
    from nbgrader.api import Gradebook
    os.environ["PATH"] = loop.instructor["PATH"]
    with Gradebook(f"sqlite:///{loop.course / 'gradebook.db'}") as gb:
        flagged = {(student, nb.name) for student in ("alice", "bob", "carol", "104")
                   for nb in gb.find_submission(ASSIGNMENT, student).notebooks if nb.flagged}
    assert flagged == {("bob", "convolution")}


def gradebook_scores(loop):
    from nbgrader.api import Gradebook
    os.environ["PATH"] = loop.instructor["PATH"]
    with Gradebook(f"sqlite:///{loop.course / 'gradebook.db'}") as gb:
        return sorted((student, g.name, g.auto_score, g.manual_score) for student in ("alice", "bob", "carol", "104")
                      for nb in gb.find_submission(ASSIGNMENT, student).notebooks for g in nb.grades)


def test_the_guides_plain_autograde_step_is_refused_with_the_command_to_use(loop):
    before = (gradebook_scores(loop), tree_digest(loop.course / "autograded"))
    done = loop.guide("plain-autograde")
    assert "Run, from the course root: python -m autograder grade numpy_cnn --student bob" in done.stdout + done.stderr
    assert (gradebook_scores(loop), tree_digest(loop.course / "autograded")) == before


@pytest.mark.parametrize("extra", [["--student=alice", "--force"], ["--force"], []])
def test_plain_autograde_after_trusted_grading_refuses_and_changes_nothing(loop, extra):
    before = (gradebook_scores(loop), tree_digest(loop.course / "autograded"))
    done = loop.as_instructor("autograde", ASSIGNMENT, *extra, check=False)
    assert done.returncode == 1
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
    loop.guide("grades")
    row = grades_csv(loop)["alice"]
    assert (row["autograded"], row["manual_adjustment"], row["total"]) == ("80", "-3", "77")
    loop.as_instructor("generate_feedback", ASSIGNMENT, "--student=alice", "--force")
    text = (loop.course / "feedback" / "alice" / ASSIGNMENT / "autograder_feedback.txt").read_text()
    assert "Total: 77 / 80 points (autograded 80, manual adjustments -3)" in text
    page = (loop.course / "feedback" / "alice" / ASSIGNMENT / "convolution.html").read_text()
    assert "Score: 22.0 / 25.0" in page and "Total: 77 / 80" in page_feedback(page)


def test_the_guides_export_gives_the_same_totals_as_grades_csv(loop):
    import csv
    loop.guide("export")
    with open(loop.course / "gradebook_export.csv", newline="", encoding="utf-8") as handle:
        exported = {row["student_id"]: float(row["score"]) for row in csv.DictReader(handle)}
    assert exported == {student: float(row["total"]) for student, row in grades_csv(loop).items()}


def free_port():
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_server(url, process, seconds=120):
    import urllib.request
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, "jupyter exited before it served formgrader"
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(1)
    raise AssertionError(f"jupyter did not answer {url} within {seconds} s")


def in_formgrader(page, base, token, notebook, student):
    """Read formgrader's submissions table of ``notebook``, then press ``student``'s Autograde button.

    ``({student: (row text, has a flag)}, text of the dialog the button opens)``, on a Chromium ``page``.
    """
    page.goto(f"{base}/login?token={token}", timeout=90000)       # sets the cookie formgrader's API needs
    rows = submissions_table(page, base, notebook)
    page.screenshot(path=str(REPO / "test-results" / f"formgrader-{notebook}.png"), full_page=True)
    return rows, press_autograde(page, base, student)


def submissions_table(page, base, notebook):
    page.goto(f"{base}/formgrader/gradebook/{ASSIGNMENT}/{notebook}", wait_until="networkidle", timeout=90000)
    page.wait_for_selector("tbody tr td a", timeout=60000)
    page.click("text=Show All Names")      # formgrader hides student ids behind "Submission #N" at first
    rows = {}
    for row in page.query_selector_all("tbody tr"):
        cells_text = [cell.inner_text().strip() for cell in row.query_selector_all("td")]
        rows[cells_text[1]] = (" | ".join(cells_text), bool(row.query_selector(".glyphicon-flag")))
    return rows


def press_autograde(page, base, student):
    """The Autograde button of *Manage Submissions* (``nbgrader autograde --force`` for one student)."""
    page.goto(f"{base}/formgrader/manage_submissions/{ASSIGNMENT}", wait_until="networkidle", timeout=90000)
    page.wait_for_selector("tbody tr td a", timeout=60000)
    page.locator("tbody tr", has_text=student).locator(".autograde a").click()
    page.wait_for_selector("#error-modal, #success-modal", timeout=180000)
    return page.inner_text(".modal")


def test_formgrader_in_chromium_shows_the_trusted_scores_and_the_flag_and_its_autograde_button_refuses(loop):
    """The guide's formgrader step, with a port and a token of the test's own, used in headless Chromium."""
    import signal
    from browser.conftest import in_chromium
    (REPO / "test-results").mkdir(exist_ok=True)
    port, token = free_port(), "instructor-loop-token"
    command = (guide_blocks("step")["formgrader"].strip()
               + f" --port={port} --ip=127.0.0.1 --allow-root --IdentityProvider.token={token}")
    server = subprocess.Popen(["bash", "-c", command], cwd=loop.course, env=loop.instructor,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for_server(f"http://127.0.0.1:{port}/api/status?token={token}", server)
        before = (gradebook_scores(loop), tree_digest(loop.course / "autograded"))
        rows, dialog = in_chromium(in_formgrader, f"http://127.0.0.1:{port}", token, "convolution", "bob")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    expected = {student: score for student, name, score in notebook_scores(loop) if name == "convolution"}
    assert set(rows) == set(expected), rows
    for student, score in expected.items():
        text, flagged = rows[student]
        assert f"{score:g} / 25" in text, (student, text)
        assert flagged == (student == "bob"), (student, text)
    assert "There was an error autograding 'numpy_cnn' for student 'bob'" in dialog
    assert "Run, from the course root: python -m autograder grade numpy_cnn --student bob" in dialog
    assert (gradebook_scores(loop), tree_digest(loop.course / "autograded")) == before


def notebook_scores(loop):
    """``[(student, notebook, score)]`` as the gradebook has them (manual scores included)."""
    from nbgrader.api import Gradebook
    os.environ["PATH"] = loop.instructor["PATH"]
    with Gradebook(f"sqlite:///{loop.course / 'gradebook.db'}") as gb:
        return [(student, nb.name, nb.score) for student in ("alice", "bob", "carol", "104")
                for nb in gb.find_submission(ASSIGNMENT, student).notebooks]
