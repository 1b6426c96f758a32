"""``nbgrader autograde`` (and formgrader's Autograde button) refused in a course graded by the trusted grader.

Plain autograde runs each notebook in the student's own kernel and writes
what that kernel reports into ``autograded/`` and the gradebook, over the
trusted scores and feedback; with ``--force`` (which the formgrader button
always sets) it deletes ``autograded/<student>/`` before any hook of nbgrader
runs, and a hook that fails is only logged.  The one moment that comes
earlier is the creation of the converter's exporter, so the course's
``nbgrader_config.py`` sets ``c.Autograde.exporter_class`` to this class:
it stops autograde there, before anything is read, deleted or written, and
says which command grades instead, whenever the trusted grader has graded a
submission the command would touch.  Where it has not (a course that only
uses plain nbgrader, or an assignment not graded yet), autograde runs as usual.
"""
from pathlib import Path

from nbconvert.exporters import NotebookExporter
from nbgrader.converters.base import NbGraderException

# Under autograded/: the trusted grader's instructor-only record of each graded student
# (one_submission.reports_dir); nbgrader's globs ignore a dot folder.
REPORTS_DIR = ".autograder"
TRUSTED_RECORDS = ("autograded", REPORTS_DIR)


class TrustedGraderOnly(NotebookExporter):
    """nbgrader's usual exporter, unless the trusted grader graded what autograde would overwrite."""

    def __init__(self, parent=None, **kwargs):
        coursedir = getattr(parent, "coursedir", None)
        if coursedir is None or not trusted_grades_exist(coursedir):
            super().__init__(parent=parent, **kwargs)
            return
        assignment = coursedir.assignment_id or "ASSIGNMENT"
        student = coursedir.student_id or "*"
        command = f"python -m autograder grade {assignment}"
        if student != "*":
            command += f" --student {student}"
        message = ("this course is graded by the trusted grader, not by nbgrader autograde (which would run "
                   "student code unisolated and replace the trusted scores and feedback); nothing was changed. "
                   f"Run, from the course root: {command}")
        parent.log.error(message)     # nbgrader exits on NbGraderException without printing it
        raise NbGraderException(message)


def trusted_grades_exist(coursedir):
    """Whether the trusted grader recorded a grade of the assignment(s) and student(s) autograde selects."""
    records = Path(coursedir.root).joinpath(*TRUSTED_RECORDS)
    pattern = f"{coursedir.assignment_id or '*'}/{coursedir.student_id or '*'}.json"
    return any(records.glob(pattern))
