"""The numpy_cnn notebooks through real Jupyter kernels and the nbgrader commands.

Slow: every test starts kernels. They check what instructors and students
actually run, from the repository root with our nbgrader_config.py:

* `nbgrader validate` passes the instructor solutions, hidden checks included;
* the untouched release fails validation on exactly its graded cells, and
  executing it raises NotImplementedError in every graded cell (zero points)
  while the provided input checks still answer bad input with a sentence;
* plain `nbgrader autograde` grades an untouched and a solved submission
  without crashing: zero points for every part of the first, full points for
  every part of the second.

The trusted grader (`python -m autograder grade`) has its own tests.
"""
import shutil

import nbformat
import pytest
from nbclient import NotebookClient
from nbgrader.api import Gradebook
from nbgrader.utils import determine_grade

from test_exercises import (ASSIGNMENT, PARTS, RELEASE, SOLUTIONS, cell_by_id, nbgrader_command,
                            nbgrader_env)

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("notebook", PARTS)
def test_the_solutions_pass_nbgrader_validate(notebook):
    # validate_all: every code cell must run cleanly, not only the graded ones.
    result = nbgrader_command("validate", "--Validator.validate_all=True",
                              str(SOLUTIONS / f"{notebook}.ipynb"))
    assert "Success! Your notebook passes all the tests." in result.stdout, (
        result.stdout[-4000:] + result.stderr[-4000:])


@pytest.mark.parametrize("notebook", PARTS)
def test_the_untouched_release_fails_validation_on_its_graded_cells(notebook):
    result = nbgrader_command("validate", str(RELEASE / f"{notebook}.ipynb"))
    assert result.returncode == 0, result.stderr[-4000:]
    assert f"VALIDATION FAILED ON {len(PARTS[notebook])} CELL(S)!" in result.stdout
    assert result.stdout.count("NotImplementedError") >= len(PARTS[notebook])


@pytest.mark.parametrize("notebook", PARTS)
def test_the_untouched_release_runs_to_not_implemented(notebook, tmp_path):
    nb = nbformat.read(RELEASE / f"{notebook}.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert all(e.ename == "NotImplementedError" for e in errors), [e.ename for e in errors]
        assert not [o for o in cell.outputs if o.get("name") == "stderr"], cell.outputs
    for part, points in PARTS[notebook].items():
        test = cell_by_id(nb, f"test_{part}")
        assert [o.ename for o in test.outputs if o.output_type == "error"] == ["NotImplementedError"]
        assert determine_grade(test) == (0, points)
    if notebook == "convolution":
        # The provided input check answers before NotImplementedError is reached.
        demo = "".join(o.get("text", "") for o in cell_by_id(nb, "demo_conv_forward_bad_input").outputs)
        assert "ExerciseInputError: conv_forward_naive: every filter must span all input channels" in demo
        assert "conv_param['stride'] must be an integer >= 1, got 0" in demo


def solved_copy(notebook):
    """The release notebook with the instructor's answers pasted into its answer cells."""
    nb = nbformat.read(RELEASE / f"{notebook}.ipynb", as_version=4)
    solutions = nbformat.read(SOLUTIONS / f"{notebook}.ipynb", as_version=4)
    for part in PARTS[notebook]:
        cell_by_id(nb, part).source = cell_by_id(solutions, part).source
    return nb


def test_plain_nbgrader_autograde_grades_untouched_and_solved_submissions(tmp_path, monkeypatch):
    shutil.copytree(SOLUTIONS.parent, tmp_path / "solutions")
    course = ["--course-dir", str(tmp_path)]
    generated = nbgrader_command("generate_assignment", ASSIGNMENT, *course)
    assert generated.returncode == 0, generated.stderr[-4000:]
    for student in ("untouched", "solved"):
        folder = tmp_path / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        for notebook in PARTS:
            if student == "untouched":
                shutil.copy(RELEASE / f"{notebook}.ipynb", folder)
            else:
                nbformat.write(solved_copy(notebook), folder / f"{notebook}.ipynb")
    graded = nbgrader_command("autograde", ASSIGNMENT, *course)
    assert graded.returncode == 0, graded.stderr[-6000:]

    # nbgrader's Gradebook runs `alembic` from the venv's bin folder.
    monkeypatch.setenv("PATH", nbgrader_env()["PATH"])
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as gradebook:
        for notebook, parts in PARTS.items():
            for part, points in parts.items():
                for student, expected in (("untouched", 0), ("solved", points)):
                    grade = gradebook.find_grade(f"test_{part}", notebook, ASSIGNMENT, student)
                    assert (grade.auto_score, grade.max_score) == (expected, points), (
                        f"{student} {part}: {grade.auto_score}\n{graded.stdout[-4000:]}")
