"""Grading on submit with a real exchange and real Unix users: the service as students meet it.

Three users made for the test (removed after) fetch ``numpy_cnn`` and submit with ``nbgrader submit``
as themselves; the grading service runs as the instructor (root) from a throw-away course, started
with the guide's own command and configured with the guide's policy block (3 graded attempts a day,
checks before the due date, messages after).  One term, in order, observed once and asserted by the
tests below:

1. the service starts (a second one is refused); in the same minute alice submits the solutions,
   bob a bug, and mallory a hostile submission of her own plus a folder in alice's name, a link in
   bob's and a name that is no user's; alice and bob fetch their feedback;
2. alice submits three more times: two are graded, the fourth waits for the window;
3. ``grade`` by hand grades bob beside the running service;
4. SIGTERM stops the service (status 0); bob submits his fix while it is down; a second service
   starts, grades bob's fix and keeps alice waiting (her attempts were remembered);
5. the due date is set a few seconds ahead: at it, alice's waiting submission is graded and her
   page shows every message;
6. the release is broken (a grader fault): bob's next submission gets no grade and a "received,
   not graded" page; SIGTERM stops the second service with status 0.

Needs root (``useradd``) and a system Python of this version that the users may run (the
course's ``.venv`` may link to an interpreter under ``/root``); slow (a few minutes).
"""
import datetime
import html
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from shlex import quote

import pytest

import corpus
from autograder.nbgrader_io import gradebook
from test_instructor_exchange_collect import submit_script
from test_instructor_guide import guide_blocks
from test_instructor_loop import fill_answers, page_feedback

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "numpy_cnn"
COURSE_ID = "cnn-properties"
ALICE, BOB, MALLORY = "cnnb-svc-alice", "cnnb-svc-bob", "cnnb-svc-mallory"
# The students' Python: this version's system interpreter, with this environment's packages on its path.
STUDENT_PYTHON = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
SITE_PACKAGES = sysconfig.get_paths()["purelib"]
WAIT_S = 300

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(os.geteuid() != 0 or shutil.which("useradd") is None,
                                 reason="real Unix users need root and useradd"),
              pytest.mark.skipif(not STUDENT_PYTHON.is_file(), reason=f"no {STUDENT_PYTHON} for the students"),
              pytest.mark.skipif(not (REPO / "exercises" / ASSIGNMENT).is_dir(), reason="no release yet")]


def nbgrader_as(student, exchange, *args):
    """``nbgrader ARGS`` in the course's exchange as the Unix user ``student``, from their home, as their terminal would."""
    account = pwd.getpwnam(student)
    done = subprocess.run([str(STUDENT_PYTHON), "-m", "nbgrader", *args, f"--Exchange.root={exchange}",
                           f"--course={COURSE_ID}"], cwd=account.pw_dir, user=account.pw_uid,
                          group=account.pw_gid, extra_groups=[], capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "HOME": account.pw_dir, "PYTHONPATH": SITE_PACKAGES})
    assert done.returncode == 0, f"{student}: nbgrader {args}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return done


class Term:
    """The throw-away course, its exchange, the students' homes and the service's runs."""

    def __init__(self, base):
        self.base, self.exchange = base, base / "exchange"
        self.course = corpus.make_course(base / "course", REPO)
        self.exchange.mkdir()
        self.exchange.chmod(0o777)                          # the guide's exchange step
        with open(self.course / "nbgrader_config.py", "a", encoding="utf-8") as config:
            config.write(f'\nc.Exchange.root = "{self.exchange}"\n' + guide_blocks("config")["grade-on-submit"])
        self.env = corpus.grader_environment(self.course, "service-exchange-secret")
        self.services, self.seen = [], {}

    # -- the instructor ------------------------------------------------------------

    def instructor(self, *args, check=True):
        done = subprocess.run([sys.executable, *args], cwd=self.course, env=self.env, capture_output=True,
                              text=True, timeout=900)
        assert not check or done.returncode == 0, f"{args}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done

    def set_due_date(self, when):
        self.instructor("-m", "nbgrader", "db", "assignment", "add", ASSIGNMENT,
                        f"--duedate={when.strftime('%Y-%m-%d %H:%M:%S')} UTC")

    def start_service(self):
        """The guide's command, exec'd by bash so that the process is the service itself; its log is a file."""
        log = self.base / f"service-{len(self.services)}.log"
        process = subprocess.Popen(["bash", "-c", "exec " + guide_blocks("step")["serve"].strip()], cwd=self.course,
                                   env=self.env, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                                   start_new_session=True)
        self.services.append((process, log))
        self.wait_for(f"serving {ASSIGNMENT}")
        return process

    def stop_service(self, signal_number=signal.SIGTERM):
        process, log = self.services[-1]
        started = time.monotonic()
        process.send_signal(signal_number)
        status = process.wait(timeout=120)
        return status, time.monotonic() - started

    def log(self):
        return self.services[-1][1].read_text(encoding="utf-8", errors="replace")

    def wait_for(self, pattern, count=1):
        """The ``count``-th line of the current service's log that matches ``pattern`` (it must come within WAIT_S)."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            found = [line for line in self.log().splitlines() if re.search(pattern, line)]
            if len(found) >= count:
                return found[count - 1]
            assert self.services[-1][0].poll() is None, f"the service exited:\n{self.log()[-4000:]}"
            time.sleep(0.5)
        raise AssertionError(f"no {pattern!r} (x{count}) in the service's log within {WAIT_S} s:\n{self.log()[-4000:]}")

    def totals(self, student):
        coursedir, _ = gradebook.course_directory(self.course)
        return gradebook.submission_totals(coursedir.db_url, COURSE_ID, ASSIGNMENT, student)

    # -- the students, each as their own Unix user -------------------------------------

    def home(self, student):
        return Path(pwd.getpwnam(student).pw_dir)

    def as_student(self, student, *args):
        return nbgrader_as(student, self.exchange, *args)

    def submit(self, student, answers):
        """What a student does: answer in the fetched notebooks (files stay theirs), then ``nbgrader submit``."""
        fill_answers(self.home(student) / ASSIGNMENT, answers)
        self.as_student(student, "submit", ASSIGNMENT)

    def fetch_feedback(self, student):
        """``{notebook: html}`` of the pages this fetch brought that the student did not have (the latest wins)."""
        self.as_student(student, "fetch_feedback", ASSIGNMENT)
        folder = self.home(student) / ASSIGNMENT / "feedback"
        pages = {}
        for page in sorted(folder.glob("*/*.html")):        # one folder per submission's time: oldest first
            text = page.read_text(encoding="utf-8")
            if self.seen.get(page) != text:
                self.seen[page] = text
                pages[page.stem] = text
        return pages

    def as_mallory(self, script):
        account = pwd.getpwnam(MALLORY)
        subprocess.run(["sh", "-euc", script], cwd=self.exchange / COURSE_ID / "inbound", user=account.pw_uid,
                       group=account.pw_gid, extra_groups=[], env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"},
                       check=True)


@pytest.fixture(scope="module")
def users(tmp_path_factory):
    base = Path(tempfile.mkdtemp(prefix="service-exchange-", dir="/tmp"))
    base.chmod(0o755)
    (base / "homes").mkdir(mode=0o755)
    made = []
    for name in (ALICE, BOB, MALLORY):
        subprocess.run(["useradd", "--create-home", "--home-dir", str(base / "homes" / name), "--shell",
                        "/usr/sbin/nologin", name], check=True)
        made.append(name)
    yield base
    for name in made:
        subprocess.run(["userdel", "--remove", name], check=False, capture_output=True)
    shutil.rmtree(base, ignore_errors=True)


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


@pytest.fixture(scope="module")
def term(users):
    """The term of the module docstring, observed once; the tests read ``term.seen_at``."""
    term = Term(users)
    solutions = corpus.solution_answers(term.course / "solutions" / ASSIGNMENT)
    buggy = {**solutions, corpus.BUGS["missing_bias"][0]: corpus.BUGS["missing_bias"][1]}
    term.instructor("-m", "autograder", "generate", ASSIGNMENT)
    term.set_due_date(utc_now() + datetime.timedelta(days=2))
    term.instructor("-m", "nbgrader", "release_assignment", ASSIGNMENT)
    for student in (ALICE, BOB, MALLORY):
        term.as_student(student, "fetch_assignment", ASSIGNMENT)
    seen = term.seen_at = {}
    try:
        first = term.start_service()
        seen["second service"] = term.instructor("-m", "autograder", "serve", ASSIGNMENT, check=False)
        same_minute(term, solutions, buggy)
        attempt_limit(term, solutions, buggy)
        seen["grade by hand"] = term.instructor("-m", "autograder", "grade", ASSIGNMENT, "--student", BOB, check=False)
        seen["first stop"] = term.stop_service()
        seen["first log"] = term.log()
        assert first.returncode is not None
        restart(term, solutions)
        deadline(term)
        fault(term, solutions)
        seen["second stop"] = term.stop_service()
        seen["second log"] = term.log()
    finally:
        for process, _ in term.services:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
    yield term


def same_minute(term, solutions, buggy):
    seen = term.seen_at
    started = time.monotonic()
    term.submit(ALICE, solutions)
    term.submit(BOB, buggy)
    mallory_attacks(term)
    seen["same minute s"] = time.monotonic() - started
    seen["alice 1"] = term.wait_for(rf"{ALICE}: .* feedback released")
    seen["bob 1"] = term.wait_for(rf"{BOB}: .* feedback released")
    seen["mallory"] = term.wait_for(rf"{MALLORY}: (.* feedback released|submission not graded)")
    seen["alice pages 1"], seen["bob pages 1"] = term.fetch_feedback(ALICE), term.fetch_feedback(BOB)
    seen["totals 1"] = {student: term.totals(student) for student in (ALICE, BOB)}
    seen["alice submitted"] = (term.course / "submitted" / ALICE / ASSIGNMENT / "convolution.ipynb").read_text()


def mallory_attacks(term):
    """Her own hostile submission, then folders in her classmates' names, a link, and a name that is no user's."""
    hostile = {part: source for part, source in (corpus.HOSTILE["monkeypatch_numpy_builtins"],
                                                 corpus.HOSTILE["silence_and_fake_scores"])}
    term.submit(MALLORY, hostile)
    later = (utc_now() + datetime.timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
    forged = f"{ALICE}+{ASSIGNMENT}+{later}+m1"
    term.as_mallory("\n".join([
        submit_script(forged, {"convolution": "{}", "max_pooling": "{}"}, later),
        f"ln -s {quote(forged)} {quote(f'{BOB}+{ASSIGNMENT}+{later}+m2')}",
        submit_script(f"nobody here\n+{ASSIGNMENT}+{later}+m3", {"convolution": "{}"}, later),
    ]))
    term.seen_at["forged folder"] = term.exchange / COURSE_ID / "inbound" / forged


def attempt_limit(term, solutions, buggy):
    seen = term.seen_at
    for attempt in (2, 3):
        term.submit(ALICE, solutions)
        seen[f"alice {attempt}"] = term.wait_for(rf"{ALICE}: .* feedback released", count=attempt)
    seen["alice pages 3"] = term.fetch_feedback(ALICE)
    term.submit(ALICE, buggy)
    seen["alice waits"] = term.wait_for(rf"{ALICE}: submitted over the attempt limit")
    seen["alice pages 4"] = term.fetch_feedback(ALICE)
    seen["totals 3"] = term.totals(ALICE)


def restart(term, solutions):
    seen = term.seen_at
    term.submit(BOB, solutions)                                # while no service runs
    term.start_service()
    seen["bob fixed"] = term.wait_for(rf"{BOB}: .* feedback released")
    seen["alice waits again"] = term.wait_for(rf"{ALICE}: submitted over the attempt limit")
    seen["bob pages 2"] = term.fetch_feedback(BOB)
    seen["totals 2"] = term.totals(BOB)


def deadline(term):
    seen = term.seen_at
    term.set_due_date(utc_now() + datetime.timedelta(seconds=15))
    seen["alice at the deadline"] = term.wait_for(rf"{ALICE}: .* feedback released")
    seen["alice pages 5"] = term.fetch_feedback(ALICE)
    seen["bob again"] = term.wait_for(rf"{BOB}: feedback made again after the due date")


def fault(term, solutions):
    seen = term.seen_at
    release = term.course / "exercises" / ASSIGNMENT / "convolution.ipynb"
    kept = release.read_bytes()
    release.write_text('{"not": "a notebook"')                 # the course is broken: the pre-flight fails
    try:
        term.submit(BOB, solutions)
        seen["bob fault"] = term.wait_for(rf"ERROR {BOB}: submission not graded")
        seen["bob pages 3"] = term.fetch_feedback(BOB)
        seen["totals 4"] = term.totals(BOB)
    finally:
        release.write_bytes(kept)


def feedback_text(pages):
    """The trusted feedback of the pages (every page carries the whole of it)."""
    return page_feedback(next(iter(pages.values())))


def page_words(pages):
    """What a page says, tags left out (the "received" page has no feedback section)."""
    return html.unescape(re.sub(r"<[^>]+>", "", next(iter(pages.values()))))


# ---------------------------------------------------------------------------
# What the term showed
# ---------------------------------------------------------------------------

def test_two_students_submitting_as_themselves_fetch_their_graded_feedback(term):
    seen = term.seen_at
    assert f"{ALICE}: 80 / 80 points, feedback released" in seen["alice 1"]
    assert f"{BOB}: 70 / 80 points, feedback released" in seen["bob 1"]
    assert set(seen["alice pages 1"]) == {"convolution", "max_pooling", "spatial_batchnorm", "convnet"}
    assert "Total: 80 / 80 points" in feedback_text(seen["alice pages 1"])
    assert "Total: 70 / 80 points" in feedback_text(seen["bob pages 1"])
    seconds = float(re.search(r"released ([0-9.]+) s after submitting", seen["alice 1"]).group(1))
    assert 0 < seconds < WAIT_S


def test_pages_before_the_due_date_show_each_check_without_its_message_and_state_the_policy(term):
    bob = feedback_text(term.seen_at["bob pages 1"])
    assert "conv_forward_naive: 0 / 10 points" in bob and "\n  [FAIL] out for padding 0 (weight 2)\n" in bob
    assert "relative error" not in bob and "expected" not in bob
    assert "note: Grading on submit: at most 3 graded attempt(s) in any 24 hours; this page is of attempt 1 of 3" in bob
    assert "Note: Grading on submit" in page_words(term.seen_at["bob pages 1"])
    assert "Your next submission is graded when it arrives" in bob
    assert "feedback shows each check's pass or fail, without its message; after it, each check with its message" in bob


def test_a_hostile_classmate_in_the_same_minute_changes_nothing_for_the_other_two(term):
    seen = term.seen_at
    assert seen["same minute s"] < 60
    alice, bob = seen["totals 1"][ALICE], seen["totals 1"][BOB]
    assert (alice.final, alice.max_score, bob.final) == (80.0, 80.0, 70.0)
    assert "{}" != seen["alice submitted"] and "conv_forward_naive" in seen["alice submitted"]
    log = seen["first log"]
    assert f"ignored {seen['forged folder'].name!r}: it names {ALICE} but another user owns it" in log
    assert f"ignored '{BOB}+{ASSIGNMENT}+" in log and "it is not a folder (a link or a file)" in log
    assert "ignored 'nobody here\\n+numpy_cnn+" in log and "not a plain folder name" in log
    assert seen["forged folder"].is_dir()                     # left in the exchange for the instructor
    assert re.search(rf"{MALLORY}: [0-9.]+ / 80 points, feedback released", seen["mallory"])


def test_a_second_service_is_refused_with_a_clear_message(term):
    done = term.seen_at["second service"]
    assert done.returncode == 2
    assert re.search(r"error: a grading service already runs for this course \(process \d+, serving numpy_cnn\)",
                     done.stderr)


def test_past_the_attempt_limit_a_submission_waits_and_its_page_says_when_the_next_counts(term):
    seen = term.seen_at
    third = feedback_text(seen["alice pages 3"])
    assert "this page is of attempt 3 of 3 in the last 24 hours" in third
    when = re.search(r"Your next graded attempt: from (\d{4}-\d\d-\d\d \d\d:\d\d UTC)", third).group(1)
    assert when in seen["alice waits"]
    assert seen["alice pages 4"] == {}                         # the fourth is not graded: nothing new to fetch
    assert seen["totals 3"].final == 80.0                      # still the third's grade


def test_grade_by_hand_works_beside_the_service(term):
    done = term.seen_at["grade by hand"]
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{BOB}: 70 / 80 points" in done.stdout


def test_sigterm_stops_the_service_with_status_0_and_a_restart_grades_what_arrived_meanwhile(term):
    seen = term.seen_at
    for stop in ("first stop", "second stop"):
        status, seconds = seen[stop]
        assert status == 0 and seconds < 60, stop
    assert "stopping (SIGTERM)" in seen["first log"] and "stopping (SIGTERM)" in seen["second log"]
    assert f"{BOB}: 80 / 80 points" in seen["bob fixed"] and seen["totals 2"].final == 80.0
    assert "Total: 80 / 80 points" in feedback_text(seen["bob pages 2"])
    assert seen["alice waits again"]                           # her attempts were remembered across the restart


def test_at_the_due_date_the_waiting_submission_is_graded_and_pages_show_every_message(term):
    seen = term.seen_at
    assert f"{ALICE}: 70 / 80 points, feedback released" in seen["alice at the deadline"]
    text = feedback_text(seen["alice pages 5"])
    assert "[FAIL] out for padding 0 (weight 2): " in text and "has passed: feedback shows each check with its" in text
    assert seen["bob again"]


def test_a_grader_fault_records_no_grade_and_the_student_fetches_a_received_not_graded_page(term):
    seen = term.seen_at
    assert "pre-flight failed" in seen["bob fault"]
    page = page_words(seen["bob pages 3"])
    assert "Received, not graded: the instructor has been told" in page and "your earlier grade, if any, stands" in page
    assert "pre-flight" not in page and str(term.course) not in page
    assert seen["totals 4"].final == 80.0 and seen["totals 4"].timestamp == seen["totals 2"].timestamp
