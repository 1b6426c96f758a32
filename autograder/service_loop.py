"""The grading service's loop: what it does each second, for each submission, and when idle.

:mod:`autograder.service` starts it (the lock, the runner, the signals) and says what the whole
service does; this module holds the loop's state and its steps, in the order a submission meets
them: taken up (the scan, the policy, collect, the pre-flight, the job handed to the runner),
graded (a thread per job waits for its outcome), finished (recorded, its feedback made and
released, the log's line, the state saved), or answered with a "received" page on a fault.
What it remembers across restarts is :mod:`autograder.service_state`.
"""
import contextlib
import datetime
import io
import queue
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry

from .checks.feedback import format_points
from .checks.secret import course_secret, submission_key
from .lasting_runner import HandedBack
from .nbgrader_io import gradebook
from .nbgrader_io.inbound_watch import MAX_SAID, InboundWatch
from .nbgrader_io.one_student import OneStudent
from .nbgrader_io.received_page import write_received_pages
from .one_submission import Job, Outcome, error_summary, release_files, submitted_files
from .preflight_record import MAX_AGE_S
from .service_state import StudentState, load_state, save_state, state_path
from .submit_policy import details_at, next_graded_time, policy_from_config, statement, utc_text
from .whole_class import PreflightFailed, preflight, record_outcome, write_class_grades

POLL_S = 1.0                     # the scan's period: most of an idle submission's wait before grading
DUE_REFRESH_S = 5.0              # the due date is read again from the gradebook this often
PREFLIGHT_RETRY_S = 60.0         # a failed pre-flight is not run again before this, unless asked
COLLECT_SLACK_S = 0.01           # timestamp.txt keeps microseconds, the kernel's times nanoseconds
NOT_GRADED = "Received, not graded: the instructor has been told"
FEEDBACK_FAILED = "Received and graded; the feedback page could not be made: the instructor has been told"


class Fault(Exception):
    """A fault of the grader or the machine: this submission gets no grade and a "received" page."""


@dataclass
class Flight:
    """One submission on its way: when it changed, was taken up, was submitted (collected), and each step's time."""
    student: str
    changed_at: float
    taken_up: float
    submitted_at: float = 0.0
    timestamp: str = ""
    collected: bool = False
    steps: dict = field(default_factory=dict)


def say(text, error=False):
    """One line of the log: the time (UTC), then the text; errors to stderr, loud."""
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    print(f"{when} {'ERROR ' if error else ''}{text}", file=sys.stderr if error else sys.stdout, flush=True)


class Service:
    """The service's loop and what it remembers; one instance per ``serve``."""

    def __init__(self, root, assignment, runner, isolation, time_limits, slots, inbound, record):
        self.root, self.assignment, self.runner = Path(root), assignment, runner
        self.isolation, self.time_limits, self.slots, self.record = isolation, time_limits, slots, record
        self.coursedir, self.config = gradebook.course_directory(root)
        self.policy = policy_from_config(self.config)
        self.release_dir = gradebook.assignment_dir(self.coursedir, "release", assignment)
        self.notebooks = sorted(path.stem for path in self.release_dir.glob("*.ipynb"))
        check_owner = self.config.ExchangeCollect.get("check_owner", True) if "ExchangeCollect" in self.config else True
        self.watch = InboundWatch(inbound, assignment, bool(check_owner), say)
        self.inbound = inbound
        self.path = state_path(root, assignment)
        self.students = {}
        self.flights, self.finished, self.said_waiting, self.waiting = {}, queue.Queue(), {}, set()
        self.grades_stale, self._nbgrader_said = False, set()
        self._due, self._due_read = None, -DUE_REFRESH_S
        self._preflight_error, self._preflight_at = None, None

    # -- starting and stopping -------------------------------------------------

    def start_up(self):
        self.students, problem = load_state(self.path, self.assignment)
        if problem:
            say(f"state {self.path} not used ({problem}): every student's latest submission is graded again", True)
        try:
            self._check_preflight()
        except Fault as fault:
            say(f"{fault}; until it is fixed, each submission gets a 'received, not graded' page", True)
        due = self.due()
        say(f"serving {self.assignment}: watching {self.inbound} {self.runner.where}; at most "
            f"{self.policy.graded_attempts} graded attempt(s) per student in {self.policy.window_hours:g} h; "
            f"details {self.policy.details_before_due} before the due date "
            f"({utc_text(due) if due is not None else 'none set'}), {self.policy.details_after_due} after; "
            f"{len(self.students)} student(s) remembered")

    def serve(self, stopping):
        """Until ``stopping()``: take up what is due, finish what is back (waiting up to POLL_S), else idle work."""
        while not stopping():
            try:
                self._turn(stopping)
            except Exception:        # the exchange or the gradebook out of reach for a moment: said, tried again
                say(f"the service's loop failed, trying again in {POLL_S:g} s:\n{traceback.format_exc()}", True)
                time.sleep(POLL_S)
        save_state(self.path, self.assignment, self.students)
        say(f"stopping ({getattr(stopping, 'signal', None) or 'asked'}): {len(self.flights)} submission(s) in "
            "grading handed back, graded at the next start; state saved")

    def _turn(self, stopping):
        started = self._take_up(time.time(), stopping)
        finished = self._finish_ready(stopping, 0.0 if started else POLL_S)
        if not started and not finished and not stopping():
            self._idle_work()

    # -- taking up a submission ----------------------------------------------------

    def _take_up(self, now, stopping):
        """Start every arrival that is due now, up to the free slots; whether any started."""
        if len(self.flights) >= self.slots:
            return False
        started, due, self.waiting = False, self.due(), set()
        seen = {student: entry.seen_through for student, entry in self.students.items()}
        for arrival in self.watch.scan(seen, now):
            self.waiting.add(arrival.student)
            if arrival.student in self.flights:
                continue
            when = next_graded_time(self._student(arrival.student).graded_at, arrival.changed_at, due, self.policy)
            if when > now:
                self._say_waiting(arrival.student, when)
                continue
            self._start(Flight(arrival.student, arrival.changed_at, time.time()))
            started = True
            if len(self.flights) >= self.slots or stopping():
                break
        return started

    def _say_waiting(self, student, when):
        if self.said_waiting.get(student) != when:
            self.said_waiting[student] = when
            say(f"{student}: submitted over the attempt limit; waits for the next graded attempt, {utc_text(when)}")

    def _start(self, flight):
        steps = self._one_student(flight.student)
        try:
            with self._timed(flight, "collect"):
                steps.collect()
                self._read_collected(flight)
        except Exception as error:      # nothing new was collected: no page can reach the new submission
            self._not_graded(flight, f"collect: {error}")
            return
        try:
            self._check_preflight()
            job = self._job(flight.student)
        except Exception as error:
            self._not_graded(flight, str(error))
            return
        self.flights[flight.student] = flight
        threading.Thread(target=self._grade, args=(flight, job), daemon=True, name=f"grade-{flight.student}").start()

    def _read_collected(self, flight):
        """The collected submission's time (the kernel's, written by collect): it must be the new one."""
        folder = gradebook.assignment_dir(self.coursedir, "submitted", self.assignment, flight.student)
        text = (folder / "timestamp.txt").read_text(encoding="utf-8")[:64].strip()
        submitted = datetime.datetime.strptime(text, gradebook.TIMESTAMP_FORMAT).replace(tzinfo=datetime.timezone.utc)
        if submitted.timestamp() < flight.changed_at - COLLECT_SLACK_S:
            raise Fault(f"collect kept an older submission ({text}) than the one that arrived")
        flight.timestamp, flight.submitted_at, flight.collected = text, submitted.timestamp(), True

    def _job(self, student):
        folder = gradebook.assignment_dir(self.coursedir, "submitted", self.assignment, student)
        release = release_files(self.release_dir)
        return Job(self.assignment, student, release, submitted_files(folder, list(release)), self.isolation,
                   submission_key(course_secret(), self.assignment, student), self.time_limits)

    def _check_preflight(self):
        """As ``grade`` does, before each job: skipped while its record holds; a failure is a :class:`Fault`."""
        now = time.monotonic()
        if self._preflight_error and now - self._preflight_at < PREFLIGHT_RETRY_S:
            raise Fault(self._preflight_error)
        if self.record is None and self._preflight_at is not None and not self._preflight_error \
                and now - self._preflight_at < MAX_AGE_S:
            return            # a remote cluster keeps no record: checked at the start and once a day
        self._preflight_at, printed = now, io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):
                preflight(self.coursedir, self.assignment, self.release_dir, self.isolation, self.time_limits,
                          self.runner, self.record)
            self._preflight_error = None
        except PreflightFailed as error:
            self._preflight_error = str(error)
            raise Fault(self._preflight_error) from None
        finally:
            for line in printed.getvalue().splitlines():
                if not line.endswith("skipped"):
                    say(line)

    # -- grading (in a thread per job) -------------------------------------------------

    def _grade(self, flight, job):
        started = time.monotonic()
        try:
            outcome = next(iter(self.runner.run([job])))
        except HandedBack:
            return
        except Exception as error:
            outcome = Outcome(error_summary(job.student, f"the runner failed: {type(error).__name__}: {error}"),
                              log=[traceback.format_exc()])
        flight.steps["grade"] = time.monotonic() - started
        self.finished.put((flight, outcome))

    # -- finishing (in the service's thread) ----------------------------------------------

    def _finish_ready(self, stopping, wait):
        """Finish every outcome that is back, waiting up to ``wait`` seconds for the first; whether there was any."""
        finished = False
        while not stopping():
            try:
                flight, outcome = self.finished.get(timeout=wait) if wait and not finished else \
                    self.finished.get_nowait()
            except queue.Empty:
                break
            finished = True
            try:
                self._finish(flight, outcome)
            except Exception as error:
                self._not_graded(flight, f"{type(error).__name__}: {error}\n{traceback.format_exc()}")
        return finished

    def _finish(self, flight, outcome):
        with self._timed(flight, "record"):
            record_outcome(self.root, self.coursedir, self.config, self.assignment, outcome)
        summary = outcome.summary
        if summary["status"] != "graded" or not summary.get("recorded"):
            self._not_graded(flight, summary.get("error") or "not recorded in the gradebook")
            return
        self._student(flight.student).graded_at.append(time.time())
        self.grades_stale = True
        try:
            details = self._make_feedback(flight.student, flight)
        except Exception as error:
            self._not_graded(flight, f"graded and recorded, but the feedback failed: {error}", FEEDBACK_FAILED)
            return
        self._handled(flight, details)
        say(self._line(flight))

    def _make_feedback(self, student, flight=None):
        """Generate and release ``student``'s feedback at the level of this moment, the policy stated; the level."""
        now, due = time.time(), self.due()
        details = details_at(now, due, self.policy)
        notes = statement(self.policy, self._student(student).graded_at, now, due)
        steps = self._one_student(student)
        with self._timed(flight, "feedback"):
            steps.generate_feedback(details, notes)
        with self._timed(flight, "release"):
            steps.release_feedback()
        return details

    def _not_graded(self, flight, reason, heading=NOT_GRADED):
        """Say it loudly, release the short page for this submission (if it was collected), mark it handled."""
        say(f"{flight.student}: submission not graded, no grade recorded: {reason}", True)
        if flight.collected:
            try:
                folder = gradebook.assignment_dir(self.coursedir, "feedback", self.assignment, flight.student)
                write_received_pages(folder, self.notebooks, flight.timestamp, heading, [
                    f"Your submission of {self.assignment} made at {flight.timestamp} reached the course.",
                    "No grade was recorded for it, and your earlier grade, if any, stands. The fault is the "
                    "grader's, not your work's: you need not submit again."])
                self._one_student(flight.student).release_feedback()
            except Exception as error:
                say(f"{flight.student}: the 'received' page could not be released either: {error}", True)
        self._handled(flight, "")

    def _handled(self, flight, details):
        entry = self._student(flight.student)
        entry.seen_through = max(entry.seen_through, flight.changed_at)
        entry.details = details
        self.flights.pop(flight.student, None)
        save_state(self.path, self.assignment, self.students)

    def _line(self, flight):
        """The log's line: student, score, seconds from submitting to released feedback, and each step's."""
        totals = gradebook.submission_totals(self.coursedir.db_url, self.coursedir.course_id, self.assignment,
                                             flight.student)
        score = f"{format_points(round(totals.final, 4))} / {format_points(totals.max_score)} points"
        if totals.late_penalty > 0:
            score += f" (late penalty -{format_points(totals.late_penalty)})"
        total = time.time() - flight.submitted_at
        steps = {"noticed": max(0.0, flight.taken_up - flight.submitted_at), **flight.steps}
        steps["other"] = max(0.0, total - sum(steps.values()))
        shares = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in steps.items())
        return f"{flight.student}: {score}, feedback released {total:.1f} s after submitting ({shares})"

    # -- when idle ----------------------------------------------------------------------------

    def _idle_work(self):
        """One piece of deferred work: ``grades.csv``, or one page made again past the due date."""
        if self.flights:
            return
        if self.grades_stale:
            self.grades_stale = False
            write_class_grades(self.root, self.assignment)
            return
        due = self.due()
        if due is None or time.time() < due:
            return
        for student, entry in sorted(self.students.items()):
            # A student with a submission waiting gets new pages when it is graded.
            if entry.details not in ("", self.policy.details_after_due) and entry.graded_at \
                    and student not in self.waiting:
                self._remake_after_due(student, entry)
                return

    def _remake_after_due(self, student, entry):
        try:
            entry.details = self._make_feedback(student)
            say(f"{student}: feedback made again after the due date, showing {entry.details}")
        except Exception as error:
            entry.details = ""
            say(f"{student}: feedback could not be made again after the due date: {error}", True)
        save_state(self.path, self.assignment, self.students)

    # -- small helpers ---------------------------------------------------------------------------

    def due(self):
        """The assignment's due date in the gradebook (seconds since the epoch), or None; read every few seconds."""
        if time.monotonic() - self._due_read >= DUE_REFRESH_S:
            self._due_read = time.monotonic()
            with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as book:
                try:
                    when = book.find_assignment(self.assignment).duedate
                except MissingEntry:
                    when = None
            self._due = None if when is None else when.replace(tzinfo=datetime.timezone.utc).timestamp()
        return self._due

    def _student(self, student):
        return self.students.setdefault(student, StudentState())

    def _one_student(self, student):
        return OneStudent(self.root, self.config, self.assignment, student, self._say_nbgrader)

    def _say_nbgrader(self, line):
        """nbgrader's warnings, each once: collect refuses a folder in a classmate's name at every collect."""
        if line not in self._nbgrader_said and len(self._nbgrader_said) < MAX_SAID:
            self._nbgrader_said.add(line)
            say(line)

    @contextlib.contextmanager
    def _timed(self, flight, step):
        started = time.monotonic()
        try:
            yield
        finally:
            if flight is not None:
                flight.steps[step] = time.monotonic() - started
