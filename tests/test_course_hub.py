"""The course hub used the way its students and its instructor use it, graded on submit.

``python -m hub`` starts the hub (hub/jupyterhub_config.py) on loopback for a throw-away course whose
``nbgrader_config.py`` names its exchange with the guide's own block, with three students and an
instructor, real Unix accounts it makes, and the grading service (``python -m autograder serve
numpy_cnn``) as a hub service.  In one headless Chromium each of two students logs in, opens the
Assignments tab (Nbgrader menu), fetches ``numpy_cnn``, opens ``convolution.ipynb`` from the tab,
types an answer into the ``conv_forward_naive`` cell and saves it (ann the solution, ben the
``missing_bias`` bug), and presses Submit; in the same minute a third student, cal, submits a
hostile notebook from a terminal (``nbgrader submit`` as cal).  Nobody grades by hand: each of the
two presses the tab's refresh until it offers feedback, presses Fetch Feedback, follows "(view
feedback)" and opens ``convolution.html`` in JupyterLab, graded by the service.  The instructor's
Courses tab leads to the course's formgrader, a hub service.  Last, SIGINT (Ctrl-C) stops the hub
and everything it made must be gone.  Needs root (useradd) and /usr/bin/chromium; the time of each
step is printed (run with ``-s``) and screenshots go to ``test-results/screenshots/hub-*.png``.
"""
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import pytest

import corpus
from hub import accounts
from hub.course_hub import PROXY, processes_of_run
from test_instructor_guide import guide_blocks
from test_instructor_loop import GUIDE_EXCHANGE, fill_answers, page_feedback
from test_service_exchange import STUDENT_PYTHON, nbgrader_as

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "numpy_cnn"
COURSE_ID = "cnn-properties"
PART = "conv_forward_naive"                       # the answer cell each student types, in convolution.ipynb
STUDENTS = ("cnnhub-ann", "cnnhub-ben")           # names no other test uses; ben hands in the missing bias
HOSTILE = "cnnhub-cal"                            # submits from a terminal what the corpus's attacks do
INSTRUCTOR = "cnnhub-prof"
START_SECONDS = 420                               # the launcher: nbgrader, the release, a bridge, the hub
PAGE_MS = 240_000                                 # a spawn or a grading run on a loaded two-core machine
SCREENSHOTS = REPO / "test-results" / "screenshots"
SECONDS = {}

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(os.geteuid() != 0 or shutil.which("useradd") is None,
                                 reason="real Unix accounts need root and useradd"),
              pytest.mark.skipif(not STUDENT_PYTHON.is_file(), reason=f"no {STUDENT_PYTHON} for cal's terminal")]


def timed(step, started):
    SECONDS[step] = round(SECONDS.get(step, 0.0) + time.monotonic() - started, 1)


class Launcher:
    """``python -m hub`` as a person starts it in a terminal; its printed lines, read as they come."""

    def __init__(self, course):
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hub", "--course", str(course), "--students", ",".join((*STUDENTS, HOSTILE)),
             "--instructor", INSTRUCTOR], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, start_new_session=True, env={**os.environ, "PYTHONPATH": str(REPO)})
        self.lines, self.ready = [], threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith("hub log: "):
                self.ready.set()
        self.ready.set()

    def wait_ready(self):
        self.ready.wait(START_SECONDS)
        assert self.process.poll() is None and self.lines and self.lines[-1].startswith("hub log: "), \
            "python -m hub did not start:\n" + "\n".join(self.lines[-60:])
        assert "WARN" not in self.text, self.text           # the course root is 0700: nothing in reach
        timed("hub start (command to URL printed)", self.started)

    @property
    def text(self):
        return "\n".join(self.lines)

    def url(self):
        return re.search(r"^course hub for \S+: (http://\S+/)", self.text, re.M).group(1)

    def password(self, name):
        return re.search(rf"^  (?:student|instructor) +{name} +password (\S+)", self.text, re.M).group(1)

    def hub_log(self):
        """The hub's log, where the grading service writes its line per submission."""
        return (self.state() / "hub" / "jupyterhub.log").read_text(encoding="utf-8", errors="replace")

    def state(self):
        """The run's state folder, from the log's path the launcher prints (<state>/hub/jupyterhub.log)."""
        return Path(self.lines[-1].removeprefix("hub log: ")).parent.parent

    def interrupt(self, seconds=180):
        """Ctrl-C: SIGINT to the launcher; its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait()


def as_user(name, *command):
    """``command`` as the Unix user ``name`` (its own groups only), as a student's terminal would run it."""
    account = pwd.getpwnam(name)
    return subprocess.run(command, user=account.pw_uid, group=account.pw_gid, extra_groups=[], cwd="/",
                          env={"PATH": "/usr/bin:/bin", "HOME": account.pw_dir}, capture_output=True, text=True)


# --- In the browser --------------------------------------------------------------------------------

def log_in(page, url, name, password):
    started = time.monotonic()
    page.goto(url + "hub/login", timeout=PAGE_MS)
    page.fill("#username_input", name)
    page.fill("#password_input", password)
    page.click("#login_submit")
    page.wait_for_url(f"**/user/{name}/lab**", timeout=PAGE_MS)
    page.wait_for_selector('#jp-menu-panel div.lm-MenuBar-itemLabel:text("Nbgrader")', timeout=PAGE_MS)
    timed("log in and start a server (per person)", started)


def nbgrader_menu(page, command):
    """Open the Nbgrader menu; its item labels; then run ``command`` from it."""
    page.click('#jp-menu-panel div.lm-MenuBar-itemLabel:text("Nbgrader")')
    labels = [text.strip() for text in page.locator("#jp-mainmenu-nbgrader li .lm-Menu-itemLabel").all_inner_texts()]
    page.click(f'#jp-mainmenu-nbgrader li[data-command="{command}"]')
    return [label for label in labels if label]


def row(page, status):
    """The ``numpy_cnn`` row of the tab's list ``status`` (released, fetched, submitted), once listed."""
    found = page.locator(f"#{status}_assignments_list > .list_item", has_text=ASSIGNMENT)
    found.first.wait_for(timeout=PAGE_MS)
    return found.first


def type_answer(page, answer):
    """Open convolution.ipynb from the tab, replace the answer cell's text by ``answer``, save it."""
    page.locator(f'#fetched_assignments_list a:text("{ASSIGNMENT}")').click()
    page.locator('#fetched_assignments_list a:text("convolution")').click()
    cell = page.locator(".jp-Notebook .jp-Cell").nth(answer_cell_index())
    cell.locator(".cm-content").click(timeout=PAGE_MS)
    page.keyboard.press("Control+a")              # inside a cell's editor: that cell's text only
    page.keyboard.insert_text(answer)              # as a paste: no auto-indent or closing brackets
    page.keyboard.press("Control+s")
    page.locator(".lm-TabBar-tab.jp-mod-dirty").wait_for(state="detached", timeout=PAGE_MS)
    page.locator('.lm-TabBar-tab:has-text("Assignments")').click()


def answer_cell_index():
    release = nbformat.read(REPO / "exercises" / ASSIGNMENT / "convolution.ipynb", as_version=4)
    return next(i for i, cell in enumerate(release.cells) if cell.metadata.get("nbgrader", {}).get("grade_id") == PART)


def student_hands_in(page, url, name, answer, seen):
    """Log in, fetch in the Assignments tab, type the answer, submit with the tab's button."""
    log_in(page, url, name, seen["passwords"][name])
    seen["formgrader_status"][name] = [page.request.get(f"{url}user/{name}/{path}").status for path in
                                       ("formgrader/api/status", f"assignments?course_id={COURSE_ID}")]
    seen["menus"][name] = nbgrader_menu(page, "nbgrader:open-assignment-list")
    started = time.monotonic()
    row(page, "released").locator(".item_status button").click()
    row(page, "fetched")
    timed("Fetch in the tab", started)
    started = time.monotonic()
    type_answer(page, answer)
    timed("open, type and save the answer", started)
    row(page, "fetched").locator('.item_status button:text("Submit")').click()
    seen["submit_clicked"][name] = time.monotonic()
    row(page, "submitted")
    timed("Submit in the tab", seen["submit_clicked"][name])
    page.screenshot(path=str(SCREENSHOTS / f"hub-{name}-submitted.png"))


def wait_for_feedback(page, name, seen):
    """Refresh the tab, as a waiting student does, until it offers the feedback the service released."""
    deadline = time.monotonic() + PAGE_MS / 1000
    while True:
        page.click("#refresh_assignments_list")
        page.wait_for_timeout(1000)
        text = row(page, "submitted").inner_text()
        if "(feedback available to fetch)" in text or time.monotonic() > deadline:
            break
    seen["before_fetch"][name] = text
    seen["submit_to_feedback_listed"][name] = round(time.monotonic() - seen["submit_clicked"][name], 1)


def student_reads_feedback(page, name, seen):
    """Fetch Feedback, follow "(view feedback)", open convolution.html in JupyterLab; its trusted section."""
    wait_for_feedback(page, name, seen)
    started = time.monotonic()
    row(page, "submitted").locator('.item_status button:text("Fetch Feedback")').click()
    view = page.locator('#submitted_assignments_list a:text("(view feedback)")').first
    view.click(timeout=PAGE_MS)                                # the file browser goes to the feedback
    timed("Fetch Feedback in the tab", started)
    page.locator(".jp-DirListing-item", has_text="convolution.html").dblclick(timeout=PAGE_MS)
    viewer = page.frame_locator("#jp-main-dock-panel iframe").locator("pre.autograder-feedback")
    seen["feedback_view"][name] = viewer.inner_text(timeout=PAGE_MS)
    seen["listing"][name] = sorted(text.strip() for text in page.locator(".jp-DirListing-itemText").all_inner_texts())
    seen["course_page"][name] = (seen["course"] / "feedback" / name / ASSIGNMENT / "convolution.html").read_text(
        encoding="utf-8")           # the page the service wrote, before anything could make it again
    page.screenshot(path=str(SCREENSHOTS / f"hub-{name}-feedback.png"))


def instructor_opens_formgrader(page, url, seen):
    """The Courses tab and its link to the course's service; formgrader, in a tab of its own, lists the work.

    JupyterHub (4.1 on) forbids framing a server's pages, so formgrader's lab panel stays empty on a hub:
    nbgrader's documentation says to open formgrader itself, at /services/<course>/formgrader.
    """
    log_in(page, url, INSTRUCTOR, seen["passwords"][INSTRUCTOR])
    seen["menus"][INSTRUCTOR] = nbgrader_menu(page, "nbgrader:open-course-list")
    link = page.locator(".list_item a", has_text=COURSE_ID).first
    seen["formgrader_link"] = link.get_attribute("href", timeout=PAGE_MS)
    page.goto(f"{url}services/{COURSE_ID}/formgrader", timeout=PAGE_MS)
    assignment = page.locator("#main-table tr", has_text=ASSIGNMENT)
    assignment.wait_for(timeout=PAGE_MS)
    seen["formgrader"] = [cell.strip() for cell in assignment.locator("td").all_inner_texts()]
    page.screenshot(path=str(SCREENSHOTS / f"hub-{INSTRUCTOR}-formgrader.png"))


def the_term(page, hub, answers):
    """Everything, in one browser: two students hand in, the instructor grades, they read their feedback."""
    seen = {"passwords": {name: hub.launcher.password(name) for name in (*STUDENTS, INSTRUCTOR)}, "course": hub.course,
            "menus": {}, "formgrader_status": {}, "submit_clicked": {}, "before_fetch": {}, "feedback_view": {},
            "listing": {}, "submit_to_feedback_listed": {}, "course_page": {}}
    pages = {name: page if i == 0 else page.context.browser.new_page() for i, name in enumerate(STUDENTS)}
    for name in STUDENTS:
        student_hands_in(pages[name], hub.url, name, answers[name], seen)
    hub.hostile_classmate_submits(seen)
    for name in STUDENTS:
        student_reads_feedback(pages[name], name, seen)
    instructor_opens_formgrader(page.context.browser.new_page(), hub.url, seen)
    return seen


# --- The hub, the instructor's commands, and what the test checks afterwards -------------------------

class Hub:
    """A throw-away course configured with the guide's exchange block, and `python -m hub` serving it."""

    def __init__(self, base):
        self.base = base
        self.course = corpus.make_course(base / "course", REPO)
        self.course.chmod(0o700)                       # the course is the instructor's alone
        self.exchange = base / "exchange"
        with open(self.course / "nbgrader_config.py", "a", encoding="utf-8") as config:
            config.write("\n" + guide_blocks("config")["exchange"].replace(GUIDE_EXCHANGE, str(self.exchange)))
        self.env = corpus.grader_environment(self.course, "course-hub-secret")
        self.env.update(HOME=str(base / "instructor-home"))
        self.guide("exchange")
        self.launcher = Launcher(self.course)
        self.launcher.wait_ready()
        self.url = self.launcher.url()

    def guide(self, step):
        """The guide's block ``step`` as written, from the course root, as root (the instructor here)."""
        started = time.monotonic()
        done = subprocess.run(["bash", "-euo", "pipefail", "-c",
                               guide_blocks("step")[step].replace(GUIDE_EXCHANGE, str(self.exchange))],
                              cwd=self.course, env=self.env, capture_output=True, text=True, timeout=1200)
        timed(f"instructor: {step}", started)
        assert done.returncode == 0, f"{step}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done.stdout + done.stderr

    def hostile_classmate_submits(self, seen):
        """In the minute the others submitted: cal, in a terminal of their own, fetches and submits what
        patches numpy and fakes its scores."""
        nbgrader_as(HOSTILE, self.exchange, "fetch_assignment", ASSIGNMENT)
        fill_answers(Path(pwd.getpwnam(HOSTILE).pw_dir) / ASSIGNMENT,
                     dict((corpus.HOSTILE["monkeypatch_numpy_builtins"], corpus.HOSTILE["silence_and_fake_scores"])))
        nbgrader_as(HOSTILE, self.exchange, "submit", ASSIGNMENT)
        seen["same minute s"] = round(time.monotonic() - min(seen["submit_clicked"].values()), 1)

    def service_line(self, student):
        """The grading service's line for ``student`` in the hub's log, or None."""
        found = re.findall(rf"^.*{student}: .* points, feedback released .*$", self.launcher.hub_log(), re.M)
        return found[-1] if found else None


def answers():
    solution = corpus.solution_answers(REPO / "solutions" / ASSIGNMENT)[PART]
    part, bug = corpus.BUGS["missing_bias"]
    assert part == PART
    return {STUDENTS[0]: solution, STUDENTS[1]: bug}


def privacy_checks(hub):
    """What one student's own account can do to the exchange, the course and a classmate (as that user)."""
    ann, ben_home = STUDENTS[0], Path(pwd.getpwnam(STUDENTS[1]).pw_dir)
    course_folder = hub.exchange / COURSE_ID
    return {
        "rename the course's exchange folder": as_user(ann, "mv", str(course_folder), str(hub.exchange / "x")),
        "list the inbound folder": as_user(ann, "ls", str(course_folder / "inbound")),
        "read a classmate's notebook": as_user(ann, "cat", str(ben_home / ASSIGNMENT / "convolution.ipynb")),
        "list the course": as_user(ann, "ls", str(hub.course)),
    }


def listening_addresses(state):
    """``{address}`` every process of this run listens on (its sockets, read from /proc)."""
    inodes = set()
    for pid in processes_of_run(state / "hub"):
        for fd in Path(f"/proc/{pid}/fd").glob("*"):
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    addresses = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:            # 0A: LISTEN
                addresses.add(fields[1].rsplit(":", 1)[0])
    return addresses


@pytest.fixture(scope="module")
def hub():
    for name in (*STUDENTS, INSTRUCTOR):               # an earlier run that was killed may have left them
        accounts.remove_account(name)
    if not os.access(PROXY, os.X_OK):
        pytest.fail(f"{PROXY} is missing: `make test` (scripts/setup.sh test) installs it", pytrace=False)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="course-hub-test-", dir="/tmp"))
    base.chmod(0o711)                                  # students reach the exchange in it, and list nothing
    hub = None
    try:
        hub = Hub(base)
        yield hub
    finally:
        if hub is not None:
            hub.launcher.interrupt()
        for name in (*STUDENTS, INSTRUCTOR):
            accounts.remove_account(name)
        shutil.rmtree(base, ignore_errors=True)
        print("\ncourse hub, seconds per step:", ", ".join(f"{k} {v}" for k, v in SECONDS.items()))


@pytest.fixture(scope="module")
def term(hub):
    """The term in the browser, and what a student's own account can reach meanwhile."""
    from browser.conftest import in_chromium
    seen = in_chromium(the_term, hub, answers())
    seen["privacy"] = privacy_checks(hub)
    seen["listening"] = listening_addresses(hub.launcher.state())
    print("\nSubmit click to the tab offering feedback, seconds:", seen["submit_to_feedback_listed"])
    return seen


def submitted_answer(hub, name):
    notebook = nbformat.read(hub.course / "submitted" / name / ASSIGNMENT / "convolution.ipynb", as_version=4)
    return next(cell.source for cell in notebook.cells if cell.metadata.get("nbgrader", {}).get("grade_id") == PART)


def test_the_hub_and_every_server_of_it_listen_on_loopback_only(hub, term):
    assert hub.url.startswith("http://127.0.0.1:")
    assert term["listening"], "no listening socket found for the run's processes"
    assert term["listening"] <= {"0100007F", "00000000000000000000000001000000"}, term["listening"]


def test_students_see_the_assignments_tab_and_the_instructor_the_courses_tab(term):
    assert term["menus"] == {STUDENTS[0]: ["Assignment List"], STUDENTS[1]: ["Assignment List"],
                             INSTRUCTOR: ["Course List"]}


def test_a_students_server_has_no_formgrader_but_its_assignment_list(term):
    assert term["formgrader_status"] == {name: [404, 200] for name in STUDENTS}


def test_what_each_student_typed_and_saved_in_the_browser_is_what_the_service_collected_as_theirs(hub, term):
    for name, answer in answers().items():
        assert submitted_answer(hub, name) == answer, name


def test_nobody_grades_by_hand_the_hubs_grading_service_grades_each_submission_and_logs_its_line(hub, term):
    assert "grading on submit: numpy_cnn (the hub's service 'grading'" in hub.launcher.text
    log = hub.launcher.hub_log()
    assert f"serving {ASSIGNMENT}: watching {hub.exchange / COURSE_ID / 'inbound'}" in log, log[-3000:]
    for name in (*STUDENTS, HOSTILE):
        assert hub.service_line(name), f"no service line for {name}:\n{log[-4000:]}"
    assert not re.search(r"^.*\bERROR\b.*$", log, re.M), re.findall(r"^.*\bERROR\b.*$", log, re.M)


def test_the_tab_says_feedback_is_waiting_once_the_service_released_it(term):
    for name in STUDENTS:
        assert "(feedback available to fetch)" in term["before_fetch"][name], term["before_fetch"][name]


def test_each_student_reads_the_trusted_feedback_page_after_fetch_feedback_in_the_tab(term):
    ann, ben = (term["feedback_view"][name] for name in STUDENTS)
    assert f"Autograder feedback for {STUDENTS[0]}, assignment {ASSIGNMENT}" in ann
    assert f"{PART}: 10 / 10 points" in ann
    assert f"Autograder feedback for {STUDENTS[1]}, assignment {ASSIGNMENT}" in ben
    assert f"{PART}: 0 / 10 points" in ben and "[FAIL]" in ben
    for name in STUDENTS:
        assert {"convolution.html", "max_pooling.html"} <= set(term["listing"][name]), term["listing"][name]


def test_the_feedback_text_in_the_browser_is_the_one_the_grader_wrote(term):
    for name in STUDENTS:
        page = term["course_page"][name]
        assert " ".join(page_feedback(page).split()) == " ".join(term["feedback_view"][name].split()), name


def test_the_feedback_states_the_policy_and_shows_checks_without_their_messages_before_the_due_date(term):
    ben = term["feedback_view"][STUDENTS[1]]
    assert "Grading on submit: at most 3 graded attempt(s) in any 24 hours; this page is of attempt 1 of 3" in ben
    assert "[FAIL] out for padding 0 (weight 2)\n" in ben and "relative error" not in ben


def test_a_hostile_classmate_in_the_same_minute_changes_nothing_for_the_other_two(hub, term):
    assert term["same minute s"] < 60
    ann, ben, cal = (hub.service_line(name) for name in (*STUDENTS, HOSTILE))
    assert re.search(rf"{STUDENTS[0]}: 10 / 80 points", ann) and re.search(rf"{STUDENTS[1]}: 0 / 80 points", ben)
    assert re.search(rf"{HOSTILE}: 0 / 80 points", cal), cal       # patched numpy and faked scores earn nothing


def test_the_instructors_courses_tab_links_the_courses_formgrader_service_which_counts_every_submission(hub, term):
    assert term["formgrader_link"] == f"{hub.url}services/{COURSE_ID}/lab?formgrader=true"
    columns = ["Name", "Due Date", "Status", "Edit", "Generate", "Preview", "Release", "Collect", "# Submissions"]
    row = dict(zip(columns, term["formgrader"]))
    assert (row["Name"], row["Status"], row["# Submissions"]) == (ASSIGNMENT, "released", "3"), term["formgrader"]


def test_a_student_can_neither_swap_the_course_in_the_exchange_nor_read_a_classmate_or_the_course(hub, term):
    for attempt, done in term["privacy"].items():
        assert done.returncode != 0, f"a student could {attempt}: {done.stdout[:300]}"
        assert "Permission denied" in done.stderr or "Operation not permitted" in done.stderr, (attempt, done.stderr)
    assert (hub.exchange / COURSE_ID / "outbound" / ASSIGNMENT).is_dir()
    assert oct(hub.exchange.stat().st_mode & 0o7777) == "0o1777"


def test_ctrl_c_stops_the_hub_and_removes_its_accounts_processes_and_folders(hub, term):
    state = hub.launcher.state()
    assert processes_of_run(state / "hub"), "the run's processes should be found while it runs"
    started = time.monotonic()
    assert hub.launcher.interrupt() == 0, hub.launcher.text[-3000:]
    timed("stop (Ctrl-C to exit)", started)
    assert hub.launcher.lines[-1].startswith("hub: stopped; removed the accounts")
    assert processes_of_run(state / "hub") == []
    for name in (*STUDENTS, INSTRUCTOR):
        with pytest.raises(KeyError):
            pwd.getpwnam(name)
    assert not state.exists()
    assert (hub.course / "submitted" / STUDENTS[0] / ASSIGNMENT).is_dir(), "the course keeps what it collected"
