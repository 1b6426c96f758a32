"""The instructor loop's pieces on their own: feedback text and paths, totals, formgrader flags, the autograde refusal.

The whole loop with the real tools is ``tests/test_instructor_loop.py``; these are the cases it
cannot reach cheaply (a home folder that is the file system root, a flag that names no notebook,
a course plain nbgrader alone has graded).
"""
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
from nbgrader.converters.base import NbGraderException
from traitlets.config import LoggingConfigurable

from autograder.nbgrader_io.feedback_page import feedback_text, total_line, without_server_paths
from autograder.nbgrader_io.gradebook import SubmissionTotals, _flag_concerns
from autograder.nbgrader_io.plain_autograde import TrustedGraderOnly


def totals(**changes):
    values = dict(student="alice", cell_points={}, autograded=80.0, manual_adjustment=0.0, late_penalty=0.0,
                  final=80.0, max_score=80.0, needs_manual_grading=False)
    return SubmissionTotals(**{**values, **changes})


def test_the_total_line_says_what_makes_the_final_score():
    assert total_line(totals()) == "Total: 80 / 80 points (autograded 80)"
    line = total_line(totals(manual_adjustment=-3.5, late_penalty=10.0, final=66.5, needs_manual_grading=True))
    assert line == ("Total: 66.5 / 80 points (autograded 80, manual adjustments -3.5, late penalty -10); "
                    "some answers still wait for manual grading, so this total may change")


def test_the_text_total_is_replaced_and_a_missing_text_is_said(tmp_path):
    (tmp_path / "autograder_feedback.txt").write_text("Autograder feedback for alice\nTotal: 80 / 80 points\n\nx\n")
    assert feedback_text(tmp_path, totals(final=0.0, late_penalty=80.0)).splitlines()[:2] == [
        "Autograder feedback for alice", "Total: 0 / 80 points (autograded 80, late penalty -80)"]
    assert "left no text feedback" in feedback_text(tmp_path / "nowhere", totals())


def test_server_paths_become_relative_and_the_home_folder_a_tilde(tmp_path, monkeypatch):
    course = tmp_path / "home" / "prof" / "course"
    monkeypatch.setenv("HOME", str(tmp_path / "home" / "prof"))
    text = f"error in {course}/cnnbook/layers.py; config {tmp_path}/home/prof/.jupyter; at {course}"
    assert without_server_paths(text, course) == "error in cnnbook/layers.py; config ~/.jupyter; at ."


def test_a_home_folder_at_the_root_rewrites_no_slash(monkeypatch):
    monkeypatch.setenv("HOME", "/")
    assert without_server_paths("a/b /etc/passwd", "/srv/course") == "a/b /etc/passwd"


NOTEBOOK_CELLS = {"convolution": {"convolution", "conv_forward_naive", "test_conv_forward_naive"},
                  "convnet": {"convnet", "three_layer_convnet", "test_three_layer_convnet"}}


@pytest.mark.parametrize("flag, flagged", [
    ("convolution: test cell test_conv_forward_naive was edited", {"convolution"}),
    ("answer cell three_layer_convnet lost its nbgrader metadata", {"convnet"}),
    ("convnet.ipynb could not be read", {"convnet"}),
    ("outputs that imitate a score", {"convolution", "convnet"}),     # names no notebook: flag them all
])
def test_a_flag_marks_the_notebooks_it_names_or_all_of_them(flag, flagged):
    marked = {name for name, own in NOTEBOOK_CELLS.items() if _flag_concerns(flag, own, NOTEBOOK_CELLS)}
    assert marked == flagged


def converter(root, assignment="numpy_cnn", student="*"):
    """What nbgrader's Autograde converter gives its exporter: itself, with its course directory."""
    parent = LoggingConfigurable(log=logging.getLogger("test-autograde"))
    parent.coursedir = SimpleNamespace(root=str(root), assignment_id=assignment, student_id=student)
    return parent


def test_autograde_is_refused_where_the_trusted_grader_graded_and_says_which_command(tmp_path, caplog):
    records = Path(tmp_path, "autograded", ".autograder", "numpy_cnn")
    records.mkdir(parents=True)
    (records / "bob.json").write_text("{}")
    with pytest.raises(NbGraderException, match="python -m autograder grade numpy_cnn --student bob$"):
        TrustedGraderOnly(parent=converter(tmp_path, student="bob"))
    with pytest.raises(NbGraderException, match="grade numpy_cnn$"):
        TrustedGraderOnly(parent=converter(tmp_path))
    assert "nothing was changed" in caplog.text


def test_autograde_runs_as_usual_where_the_trusted_grader_did_not_grade(tmp_path):
    records = Path(tmp_path, "autograded", ".autograder", "numpy_cnn")
    records.mkdir(parents=True)
    (records / "bob.json").write_text("{}")
    assert TrustedGraderOnly(parent=converter(tmp_path, student="alice")).file_extension == ".ipynb"
    assert TrustedGraderOnly(parent=converter(tmp_path, assignment="homework2")).file_extension == ".ipynb"


def test_a_page_escapes_what_student_code_wrote_and_wraps_a_600_character_line(tmp_path, monkeypatch):
    import nbformat
    from autograder.nbgrader_io import feedback_page
    hostile = "<script>alert('x')</script>" + "y" * 600
    (tmp_path / "autograder_feedback.txt").write_text(f"Total: 0 / 80 points\n  [FAIL] out: {hostile}\n")
    monkeypatch.setattr(feedback_page.gradebook, "submission_totals", lambda *args: totals(final=0.0, autograded=0.0))
    monkeypatch.chdir(tmp_path)
    resources = {"nbgrader": {"db_url": "sqlite:///unused", "assignment": "numpy_cnn", "student": "mallory",
                              "notebook": "convolution"}, "metadata": {"path": str(tmp_path)}}
    page, resources = feedback_page.SubmissionFeedback().preprocess(nbformat.v4.new_notebook(), resources)
    top = page.cells[0].source
    assert "<script>" not in top and "&lt;script&gt;" in top and "y" * 600 in top
    assert feedback_page.WRAP_CSS in resources["inlining"]["css"]
    written = (tmp_path / "feedback" / "mallory" / "numpy_cnn" / "autograder_feedback.txt").read_text()
    assert hostile in written and written.startswith("Total: 0 / 80 points (autograded 0)")


def test_an_unreadable_notebook_gets_a_stand_in_that_says_why_and_what_it_cost():
    from autograder.checks.parts import assignment_parts
    from autograder.checks.runner import CheckResult, PartResult
    from autograder.nbgrader_io import autograded
    from autograder.nbgrader_io.release import load_release
    repo = Path(__file__).resolve().parents[1]
    release = load_release(repo / "exercises" / "numpy_cnn", assignment_parts("numpy_cnn"))
    home = release.notebooks["max_pooling"]
    reason = "max_pooling.ipynb could not be read (not valid JSON) <b>"
    results = {p.name: PartResult(p.name, release.points[p.name], [CheckResult("submission", "notebook submitted",
                                                                                1.0, False, reason)])
               for p in home.parts}
    stand_in = autograded.build_missing(home, results)
    assert "could not be read (not valid JSON) &lt;b&gt;" in stand_in.cells[0].source
    assert "It cost 15 points" in stand_in.cells[0].source
    values = [o["data"]["text/plain"] for c in stand_in.cells for o in c.get("outputs", [])
              if o["output_type"] == "execute_result"]
    assert values == ["0.0", "0.0"]


def test_the_trusted_feedback_section_is_the_only_one_after_the_inert_layer(tmp_path, monkeypatch):
    """nbgrader_config.py runs the inert layer first: a section a student forged is text, the grader's is not."""
    import nbformat
    from autograder.nbgrader_io import feedback_page
    from autograder.nbgrader_io.student_content import InertStudentContent
    (tmp_path / "autograder_feedback.txt").write_text("Total: 0 / 80 points\n")
    monkeypatch.setattr(feedback_page.gradebook, "submission_totals", lambda *args: totals(final=0.0, autograded=0.0))
    monkeypatch.chdir(tmp_path)
    resources = {"nbgrader": {"db_url": "sqlite:///unused", "assignment": "numpy_cnn", "student": "mallory",
                              "notebook": "convolution"}, "metadata": {"path": str(tmp_path)}}
    forged = nbformat.v4.new_markdown_cell('<pre class="autograder-feedback">Total: 80 / 80 points</pre>')
    page = nbformat.v4.new_notebook(cells=[forged])
    for preprocessor in (InertStudentContent(), feedback_page.SubmissionFeedback()):
        page, resources = preprocessor.preprocess(page, resources)
    sections = [cell.source for cell in page.cells if 'class="autograder-feedback"' in cell.source]
    assert len(sections) == 1 and sections[0].startswith('<pre class="autograder-feedback">Total: 0 / 80 points')
    assert "&lt;pre class=&quot;autograder-feedback&quot;&gt;Total: 80 / 80 points" in page.cells[1].source
