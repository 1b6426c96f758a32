"""nbgrader configuration of the CNN Properties course.

Run every nbgrader command from the repository root, where nbgrader finds this
file, with the virtual environment active (nbgrader runs its `alembic` tool from
the environment's bin folder): `source .venv/bin/activate`.  Regenerate the
student release after editing solutions/ with

    python -m autograder generate numpy_cnn

(nbgrader generate_assignment numpy_cnn --force, keeping the old release if it fails).

It writes exercises/numpy_cnn/, which is committed (tests/test_exercises.py
fails while it is stale), and records the assignment's cells in gradebook.db,
which `nbgrader autograde` needs.
"""
import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821 -- provided by traitlets when it loads this file

REPO_ROOT = Path(__file__).resolve().parent

c.CourseDirectory.course_id = "cnn-properties"
# Instructor notebooks (solutions and hidden tests) and the generated student release.
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"

# Kernels started by nbgrader (validate, autograde) inherit this process's
# environment.  The hidden test cells run `from autograder.notebook import
# grade_part`, so the repository root must be importable there.
_python_path = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
if str(REPO_ROOT) not in _python_path:
    os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT)] + _python_path)

# Per-cell execution limit.  The slowest cell of the instructor solutions
# (overfitting 100 examples with the numpy convnet) takes a few seconds here;
# 120 s leaves room for slow student loops and a loaded machine, while a cell
# stuck in an endless loop is interrupted instead of hanging the grading run.
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True

# The trusted grader's hooks into nbgrader itself, when this course has the grader (a copy
# of the config with solutions only, as a test of the release makes, is plain nbgrader).
# They live in autograder/, so the course root must be importable in nbgrader's own process.
if (REPO_ROOT / "autograder" / "__init__.py").is_file():
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    # `nbgrader autograde` (and formgrader's Autograde button) refuses to replace trusted grades.
    c.Autograde.exporter_class = "autograder.nbgrader_io.plain_autograde.TrustedGraderOnly"
    # Every feedback page starts with a summary of the whole trusted feedback under the gradebook's total
    # (failures first, with their reasons), loads nothing from the network and reads at phone width.
    c.GenerateFeedback.preprocessors = [
        "nbgrader.preprocessors.GetGrades",
        "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
        "autograder.nbgrader_io.feedback_page.SubmissionFeedback",
    ]
    # The page's template lies beside feedback_page.py and extends nbgrader's (its cells and score headings).
    # Set for GenerateFeedback's exporter alone: formgrader's own pages keep their templates.
    c.GenerateFeedback.HTMLExporter.template_file = "feedback_page.html.j2"
    c.GenerateFeedback.HTMLExporter.extra_template_paths = [str(REPO_ROOT / "autograder" / "nbgrader_io")]
    # collect takes a submission's owner and time from the kernel: nobody submits in another's name or backdates.
    c.ExchangeFactory.collect = "autograder.nbgrader_io.exchange_collect.OwnerCheckedCollect"
    # Every page nbconvert renders here (formgrader's submission view, the feedback pages) shows student
    # content inert, also from an autograded notebook the trusted grader did not write (it runs first).
    c.HTMLExporter.preprocessors = ["autograder.nbgrader_io.student_content.InertStudentContent"]
    # release_feedback finds hub students' secrets in submitted/ and skips LMS students, saying so.
    c.ExchangeFactory.release_feedback = "autograder.nbgrader_io.feedback_release.ReleaseFeedbackToEveryRoute"
