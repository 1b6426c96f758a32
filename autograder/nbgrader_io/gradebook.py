"""nbgrader's side: course directory, gradebook registration and score records.

Scores are written the way ``nbgrader autograde`` writes them: the student
and submission are created or updated, and nbgrader's own ``SaveAutoGrades``
and ``AssignLatePenalties`` preprocessors read the autograded notebook, whose
test cells carry the trusted points as their value.  So formgrader,
``nbgrader export`` and ``nbgrader generate_feedback`` show exactly those.
Only the main grading process calls this module (SQLite, one writer).
"""
import os
import re
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import nbgrader.api
import sqlalchemy
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import AssignLatePenalties, SaveAutoGrades
from sqlalchemy.exc import SAWarning
from traitlets.config.loader import PyFileConfigLoader

from . import cells

CONFIG_FILE = "nbgrader_config.py"
# What nbgrader itself writes in timestamp.txt, and what every route into submitted/ writes there too.
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f UTC"
# A student id becomes a folder name under submitted/: never "..", a slash or anything a shell would mangle.
STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,99}", re.ASCII)


def _put_python_scripts_on_path():
    """nbgrader creates a new gradebook by running the ``alembic`` script found on PATH.

    With a virtual environment used without activating it (``.venv/bin/python -m
    autograder``), that script is next to the interpreter but not on PATH.
    """
    scripts = os.path.dirname(sys.executable)
    if scripts not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([scripts, os.environ.get("PATH", "")])


_put_python_scripts_on_path()


def _one_engine_per_database():
    """Every nbgrader ``Gradebook`` opens a SQLAlchemy engine of its own (eight per recorded
    submission, counting nbgrader's preprocessors), and each engine compiles the same forty
    statements again: about 0.3 s of the 0.4 s a record took.  Engines are meant to be shared
    per database for a process's life; this keeps one per database URL, so each statement is
    compiled once (``Gradebook.close`` only empties its connection pool)."""
    engines = {}

    def shared(url, **options):
        key = (str(url), tuple(sorted(options.items())))
        if key not in engines:
            engines[key] = sqlalchemy.create_engine(url, **options)
        return engines[key]

    nbgrader.api.create_engine = shared


_one_engine_per_database()


@dataclass(frozen=True)
class SubmissionTotals:
    """One student's standing on an assignment, as the gradebook (and so formgrader and export) has it."""
    student: str
    cell_points: dict            # test cell name -> its trusted (autograded) points
    autograded: float            # the trusted points of every graded cell
    manual_adjustment: float     # manual scores replacing trusted ones, manually graded cells, extra credit
    late_penalty: float
    final: float                 # autograded + manual adjustment - late penalty: what nbgrader export counts
    max_score: float
    needs_manual_grading: bool   # some cell waits for a human grader in formgrader
    timestamp: object = None


class CourseError(Exception):
    """The course directory is not set up for grading."""


def course_directory(root):
    """nbgrader's CourseDirectory for the course at ``root``, configured by its nbgrader_config.py."""
    root = Path(root).resolve()
    if not (root / CONFIG_FILE).is_file():
        raise CourseError(f"no {CONFIG_FILE} in {root}: run the grader from the course's root directory")
    config = PyFileConfigLoader(CONFIG_FILE, path=str(root)).load_config()
    coursedir = CourseDirectory(config=config)
    coursedir.root = str(root)
    return coursedir, config


def assignment_dir(coursedir, step, assignment, student="."):
    return Path(coursedir.format_path(getattr(coursedir, f"{step}_directory"), student, assignment))


def ensure_assignment(coursedir, assignment, log=print):
    """Register the assignment's notebooks and cells in the gradebook if they are not there yet.

    That is normally done by ``nbgrader generate_assignment``; on a fresh
    clone the gradebook does not exist, so it is run here with the release
    written to a temporary folder (the committed release is left alone).
    """
    with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        try:
            if gb.find_assignment(assignment).notebooks:
                return
        except MissingEntry:
            pass
    log(f"registering {assignment} in the gradebook (nbgrader generate_assignment into a temporary folder)")
    with tempfile.TemporaryDirectory() as release:
        generate_into(coursedir, assignment, release)


def generate_into(coursedir, assignment, release_root):
    """``nbgrader generate_assignment --force`` with ``release_root`` as the release folder.

    It also records the assignment's cells in the gradebook.  :class:`CourseError` with
    nbgrader's output when it fails.
    """
    command = [sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force",
               f"--CourseDirectory.release_directory={release_root}"]
    done = subprocess.run(command, cwd=coursedir.root, capture_output=True, text=True)
    if done.returncode != 0:
        raise CourseError(f"nbgrader generate_assignment {assignment} failed:\n{done.stdout}{done.stderr}")


def record(coursedir, config, assignment, student, autograded_dir, flags=()):
    """Write one student's trusted scores into the gradebook from the autograded notebooks.

    ``flags`` (the grader's tampering flags) set formgrader's "flagged" mark on the notebooks
    they name, or on every notebook when one names none; a submission without flags is unmarked.
    """
    # nbgrader's own API triggers SQLAlchemy autoflush warnings here, as it does in `nbgrader autograde`.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)
        try:
            _record(coursedir, config, assignment, student, autograded_dir)
            _set_flagged(coursedir, assignment, student, flags)
        except Exception:
            _remove_submission(coursedir, assignment, student)
            raise


def _remove_submission(coursedir, assignment, student):
    """All or nothing: a record that failed half-way leaves no submission (and no scores) behind."""
    with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        try:
            gb.remove_submission(assignment, student)
        except MissingEntry:
            pass


def _record(coursedir, config, assignment, student, autograded_dir):
    # The autograded folder's copy: the grader validated it, and never read it through a link.
    timestamp = coursedir.get_existing_timestamp(str(autograded_dir))
    with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        gb.update_or_create_student(student)
        if timestamp:
            gb.update_or_create_submission(assignment, student, timestamp=timestamp)
        else:
            gb.update_or_create_submission(assignment, student)
        notebooks = [notebook.name for notebook in gb.find_assignment(assignment).notebooks]
    for name in notebooks:
        path = Path(autograded_dir) / f"{name}.ipynb"
        if path.is_file():
            _save_scores(coursedir, config, assignment, student, name, cells.read_notebook(path))
        else:
            _zero_scores(coursedir, assignment, student, name)


def _set_flagged(coursedir, assignment, student, flags):
    with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        notebooks = gb.find_submission(assignment, student).notebooks
        names = {nb.name: {nb.name, *(cell.name for cell in nb.notebook.grade_cells),
                           *(cell.name for cell in nb.notebook.solution_cells)} for nb in notebooks}
        for notebook in notebooks:
            notebook.flagged = any(_flag_concerns(flag, names[notebook.name], names) for flag in flags)
        gb.db.commit()


def _flag_concerns(flag, own_names, all_names):
    """Whether ``flag`` is about this notebook: it names one of its cells, or no notebook's cell at all."""
    words = set(re.findall(r"[\w.]+", flag))
    words |= {word.removesuffix(".ipynb") for word in words}
    return bool(words & own_names) or not any(words & names for names in all_names.values())


def _save_scores(coursedir, config, assignment, student, notebook_name, notebook):
    resources = {"nbgrader": {"notebook": notebook_name, "assignment": assignment, "student": student,
                              "db_url": coursedir.db_url}}
    for preprocessor in (SaveAutoGrades(config=config), AssignLatePenalties(config=config)):
        notebook, resources = preprocessor.preprocess(notebook, resources)


def _zero_scores(coursedir, assignment, student, notebook_name):
    """A notebook that was not submitted (or could not be read) scores zero, as in nbgrader."""
    with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        submission = gb.find_submission_notebook(notebook_name, assignment, student)
        for grade in submission.grades:
            grade.auto_score = 0
            grade.needs_manual_grade = False
        gb.db.commit()


def class_totals(coursedir, assignment, students):
    """``{student: SubmissionTotals}`` for those of ``students`` the gradebook has a submission of."""
    with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        found = {student: _totals(gb, assignment, student) for student in students}
    return {student: totals for student, totals in found.items() if totals is not None}


def submission_totals(db_url, course_id, assignment, student):
    """The gradebook's totals of one submission; :class:`CourseError` when it holds none."""
    with Gradebook(db_url, course_id) as gb:
        totals = _totals(gb, assignment, student)
    if totals is None:
        raise CourseError(f"the gradebook has no submission of {assignment} by {student}: "
                          f"grade it first (python -m autograder grade {assignment} --student {student})")
    return totals


def _totals(gb, assignment, student):
    try:
        submission = gb.find_submission(assignment, student)
    except MissingEntry:
        return None
    grades = [grade for notebook in submission.notebooks for grade in notebook.grades]
    autograded = sum(grade.auto_score or 0.0 for grade in grades)
    score, penalty = float(submission.score), float(submission.late_submission_penalty or 0.0)
    # nbgrader export floors the final score at 0 the same way.
    return SubmissionTotals(
        student, {grade.name: float(grade.auto_score or 0.0) for grade in grades}, autograded,
        score - autograded, penalty, max(score - penalty, 0.0), float(submission.max_score),
        any(grade.needs_manual_grade for grade in grades), submission.timestamp)
