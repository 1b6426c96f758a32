"""nbgrader's own steps for one student, run in this process: collect, generate feedback, release it.

The grading service runs them for every submission, so it runs them through nbgrader's
Python API (``NbGraderAPI``, what formgrader's buttons call) instead of a new ``nbgrader``
process each (a few seconds of imports per step on a loaded machine).  They are the very
commands of the guide, with the course's ``nbgrader_config.py``: collect is
:class:`~.exchange_collect.OwnerCheckedCollect` for this student only, with ``--update``;
feedback pages are drawn by :mod:`.feedback_page`, here with the detail level and the notes the
service passes; release is :class:`~.feedback_release.ReleaseFeedbackToEveryRoute`.

Each call builds a fresh API on a copy of the course's configuration, so nothing one call sets
(a student, a detail level) reaches the next.  A step that fails raises :class:`StepFailed` with
nbgrader's last error line; what nbgrader logs at warning level or above is handed to ``say``.
"""
import copy
import logging

from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from traitlets.config import Config

# Shown from nbgrader's captured log: the lines an instructor should read (refusals, skipped students).
SHOWN_LEVELS = ("[WARNING]", "[ERROR]", "[CRITICAL]")
# generate_feedback --force says so of every page it makes again: routine here.
ROUTINE = ("[WARNING] Removing existing assignment:",)


class StepFailed(Exception):
    """An nbgrader step failed for one student; the message says which and why."""


class OneStudent:
    """nbgrader's steps for ``student`` of ``assignment`` in the course at ``root`` configured by ``config``."""

    def __init__(self, root, config, assignment, student, say=print):
        self.root, self.config, self.assignment, self.student, self.say = str(root), config, assignment, student, say

    def collect(self):
        """``nbgrader collect ASSIGNMENT --update --student STUDENT`` (owner-checked by the course's config)."""
        api = self._api()
        self._check("collect", api.collect(self.assignment, update=True))

    def generate_feedback(self, details, notes):
        """``nbgrader generate_feedback --force`` for this student, at ``details`` with ``notes`` first."""
        api = self._api({"SubmissionFeedback": {"details": details, "notes": list(notes)}})
        self._check("generate_feedback", api.generate_feedback(self.assignment, self.student, force=True))

    def release_feedback(self):
        api = self._api()
        self._check("release_feedback", api.release_feedback(self.assignment, self.student))

    def _api(self, overrides=None):
        config = copy.deepcopy(self.config)
        if overrides:
            config.merge(Config(overrides))
        coursedir = CourseDirectory(config=config)
        coursedir.root = self.root
        coursedir.assignment_id, coursedir.student_id = self.assignment, self.student
        return NbGraderAPI(coursedir=coursedir, config=config)

    def _check(self, step, result):
        for record in log_records(result.get("log", "")):
            if record.startswith(SHOWN_LEVELS) and not record.startswith(ROUTINE):
                self.say(f"{self.student}: nbgrader {step}: {record}")
        if not result["success"]:
            error = (result.get("error") or "").strip().splitlines() or ["no error text"]
            raise StepFailed(f"nbgrader {step} for {self.student} failed: {error[-1][:300]}")


def log_records(text):
    """nbgrader's captured log (``[LEVEL] message``, a message may run over several lines), one line per record."""
    records = []
    for line in text.splitlines():
        if line.startswith("[") or not records:
            records.append(line.strip())
        elif line.strip():
            records[-1] += " " + line.strip()
    return records


def quiet_nbgrader_logger():
    """nbgrader's API logs to the ``traitlets`` logger, which (with no handler) prints each warning bare to
    stderr; :meth:`OneStudent._check` shows them with the student's name instead."""
    logging.getLogger("traitlets").addHandler(logging.NullHandler())
