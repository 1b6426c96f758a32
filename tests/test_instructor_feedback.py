"""The instructor loop's pieces on their own: feedback text and paths, totals, the feedback page, formgrader flags,
the autograde refusal.

The whole loop with the real tools is ``tests/test_instructor_loop.py``, and the feedback page in Chromium is
``tests/browser/test_feedback_page_in_browser.py``; these are the cases they cannot reach cheaply (a home
folder that is the file system root, a flag that names no notebook, a course plain nbgrader alone has graded,
hostile text in every piece of the summary, a page rendered with another template).
"""
import logging
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from nbgrader.converters.base import NbGraderException
from traitlets.config import LoggingConfigurable

from autograder.checks.feedback import read_feedback, submission_feedback
from autograder.checks.runner import CheckResult, PartResult
from autograder.nbgrader_io import feedback_page
from autograder.nbgrader_io.feedback_page import feedback_text, summary_html, total_line, without_server_paths
from autograder.nbgrader_io.gradebook import SubmissionTotals, _flag_concerns
from autograder.nbgrader_io.plain_autograde import TrustedGraderOnly

REPO = Path(__file__).resolve().parents[1]


def totals(**changes):
    values = dict(student="alice", cell_points={}, autograded=80.0, manual_adjustment=0.0, late_penalty=0.0,
                  final=80.0, max_score=80.0, needs_manual_grading=False)
    return SubmissionTotals(**{**values, **changes})


def test_the_total_line_says_what_makes_the_final_score():
    assert total_line(totals()) == "Total: 80 / 80 points (autograded 80)"
    line = total_line(totals(manual_adjustment=-3.5, late_penalty=10.0, final=66.5, needs_manual_grading=True))
    assert line == ("Total: 66.5 / 80 points (autograded 80, manual adjustments -3.5, late penalty -10); "
                    "some answers still wait for manual grading, so this total may change")


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


def test_an_unreadable_notebook_gets_a_stand_in_that_says_why_and_what_it_cost():
    from autograder.checks.parts import assignment_parts
    from autograder.nbgrader_io import autograded
    from autograder.nbgrader_io.release import load_release
    release = load_release(REPO / "exercises" / "numpy_cnn", assignment_parts("numpy_cnn"))
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



# ---------------------------------------------------------------------------
# The feedback text, written and read back
# ---------------------------------------------------------------------------

REASON = 'out: largest relative error 1.0e+00 at index (0, 1) exceeds 1e-07 (weight 3): "<b>[pass] everything</b>"'


def graded_parts():
    """Two parts as the grader returns them: failures (one repeated, one advice) and passes; titles with ( and :."""
    return [PartResult("conv_forward_naive", 10, [
                CheckResult("a", "out for stride 2 (pad 1): an odd input", 2, False, REASON),
                CheckResult("b", "float32 out", 1, False, REASON),
                CheckResult("c", "x is left as it was", 0, False, "x was modified\n  [pass] forged (weight 9)"),
                CheckResult("d", "out has the right shape", 1, True, notes=["out (2, 3) ok"])],
                notes=["answer cell found by its def line"]),
            PartResult("max_pool_forward_naive", 5, [CheckResult("e", "out for 2x2 windows", 2, True)])]


def test_the_text_reads_back_part_by_part_and_check_by_check():
    text = submission_feedback("bob", "numpy_cnn", graded_parts(), ["convnet.ipynb: not submitted"])
    found = read_feedback(text)
    assert found.heading == "Autograder feedback for bob, assignment numpy_cnn"
    assert found.total == "Total: 7.5 / 15 points" and found.notes == ["convnet.ipynb: not submitted"]
    assert [(p.part, p.points, p.possible, p.notes) for p in found.parts] == [
        ("conv_forward_naive", "2.5", "10", ["answer cell found by its def line"]),
        ("max_pool_forward_naive", "5", "5", [])]
    assert [(c.part, c.passed, c.title, c.weight, c.detail) for c in found.checks] == [
        ("conv_forward_naive", False, "out for stride 2 (pad 1): an odd input", "weight 2", REASON),
        ("conv_forward_naive", False, "float32 out", "weight 1", REASON),          # "the same" in the text
        ("conv_forward_naive", False, "x is left as it was", "advice, no points",
         "x was modified [pass] forged (weight 9)"),                              # one line: no check of its own
        ("conv_forward_naive", True, "out has the right shape", "weight 1", "out (2, 3) ok"),
        ("max_pool_forward_naive", True, "out for 2x2 windows", "weight 2", "")]
    assert "  [FAIL] float32 out (weight 1): the same" in text.splitlines()


def test_the_checks_line_counts_the_failures_and_the_first_failing_check_is_still_found():
    from autograder.whole_class import _first_failing_check
    text = submission_feedback("bob", "numpy_cnn", graded_parts())
    assert text.splitlines()[2] == "Checks: 3 failed, 2 passed; search for [FAIL] to find each failure"
    first = _first_failing_check(text)
    assert first.startswith("conv_forward_naive: out for stride 2 (pad 1): an odd input (weight 2)")
    passing = [PartResult("p", 5, [CheckResult("e", "out", 2, True)])]
    assert submission_feedback("alice", "numpy_cnn", passing).splitlines()[2] == "Checks: 0 failed, 1 passed"


def test_the_text_total_is_replaced_and_a_missing_text_is_said(tmp_path):
    (tmp_path / "autograder_feedback.txt").write_text("Autograder feedback for alice\nTotal: 80 / 80 points\n\nx\n")
    assert feedback_text(tmp_path, totals(final=0.0, late_penalty=80.0)).splitlines()[:2] == [
        "Autograder feedback for alice", "Total: 0 / 80 points (autograded 80, late penalty -80)"]
    missing = read_feedback(feedback_text(tmp_path / "nowhere", totals()))
    assert missing.total == "Total: 80 / 80 points (autograded 80)"
    assert missing.notes == ["the trusted grader left no text feedback for this submission"]


# ---------------------------------------------------------------------------
# The feedback page: its summary, its preprocessor, its template
# ---------------------------------------------------------------------------

def parsed(fragment):
    from bleach._vendor import html5lib       # the HTML5 parsing algorithm, as browsers run it
    return html5lib.parseFragment(fragment, namespaceHTMLElements=False)


def with_class(tree, name):
    return [el for el in tree.iter() if name in (el.get("class") or "").split()]


def text_of(element):
    return " ".join("".join(element.itertext()).split())


def test_the_summary_gives_the_total_then_each_failure_with_its_reason_marked_in_words_then_the_rest_folded():
    text = submission_feedback("bob", "numpy_cnn", graded_parts(), ["convnet.ipynb: not submitted"])
    tree = parsed(summary_html(text))
    shown = {"autograder-total", "autograder-note", "autograder-failed", "autograder-passed", "autograder-feedback"}
    order = [el for el in tree.iter() if shown & set((el.get("class") or "").split())]
    kinds = [el.get("class").split()[-1] for el in order]
    assert kinds[:3] == ["autograder-total", "autograder-note", "autograder-note"]   # notes: submission, then part
    assert kinds[3:] == ["autograder-failed"] * 3 + ["autograder-passed"] * 3 + ["autograder-feedback"]
    assert text_of(order[0]) == "Total: 7.5 / 15 points"
    failed = with_class(tree, "autograder-failed")
    assert [text_of(li) for li in failed][:2] == [
        f"\u2717 FAIL out for stride 2 (pad 1): an odd input (weight 2) {REASON}",
        f"\u2717 FAIL float32 out (weight 1) {REASON}"]                              # each reason whole
    assert text_of(with_class(tree, "autograder-failed-title")[0]) == "3 checks failed"
    [passed] = [el for el in tree.iter("details") if "autograder-passed" in el.get("class")]
    assert text_of(passed.find("summary")) == "\u2713 2 checks passed"
    assert [text_of(li) for li in passed.iter("li")] == ["\u2713 pass out has the right shape (weight 1)",
                                                         "\u2713 pass out for 2x2 windows (weight 2)"]
    [whole] = with_class(tree, "autograder-feedback")
    assert whole.tag == "pre" and "".join(whole.itertext()) == text
    assert '<pre class="autograder-feedback">' in summary_html(text)      # as tests/test_instructor_loop.py finds it


def test_a_summary_with_no_failure_says_every_check_passed_and_names_none_failed():
    tree = parsed(summary_html(submission_feedback("alice", "numpy_cnn", [graded_parts()[1]])))
    assert with_class(tree, "autograder-failed") == [] and with_class(tree, "autograder-failed-title") == []
    assert [text_of(s) for s in tree.iter("summary")][0] == "\u2713 All 1 check passed"


def test_the_summary_shows_every_piece_of_the_text_as_text():
    hostile = '<script>alert(1)</script><img src=x onerror=alert(2)>" onmouseover="alert(3)&amp;'
    text = (f"Autograder feedback for {hostile}\nTotal: 0 / 80 points ({hostile})\n\nnote: {hostile}\n\n"
            f"conv_forward_naive: 0 / 10 points\n  note: {hostile}\n  [FAIL] {hostile} (weight 2): {hostile}\n"
            f"  [pass] {hostile} (weight 1): {hostile}\n")
    tree = parsed(summary_html(text))
    assert [el.tag for el in tree.iter() if el.tag in ("script", "img", "style", "iframe")] == []
    assert all(not name.startswith("on") for el in tree.iter() for name in el.attrib)
    assert text_of(with_class(tree, "autograder-failed")[0]) == f"\u2717 FAIL {hostile} (weight 2) {hostile}"
    assert "".join(with_class(tree, "autograder-feedback")[0].itertext()) == text


def preprocess_page(tmp_path, monkeypatch, text, notebook=None, parent=None):
    """SubmissionFeedback on ``notebook`` for mallory, with ``text`` as the grader's and a 0-point gradebook total."""
    import nbformat
    (tmp_path / "autograder_feedback.txt").write_text(text, encoding="utf-8")
    monkeypatch.setattr(feedback_page.gradebook, "submission_totals", lambda *args: totals(final=0.0, autograded=0.0))
    monkeypatch.chdir(tmp_path)
    resources = {"nbgrader": {"db_url": "sqlite:///unused", "assignment": "numpy_cnn", "student": "mallory",
                              "notebook": "convolution"}, "metadata": {"path": str(tmp_path)}}
    return feedback_page.SubmissionFeedback(parent=parent).preprocess(notebook or nbformat.v4.new_notebook(), resources)


def test_a_page_escapes_what_student_code_wrote_and_wraps_a_600_character_line(tmp_path, monkeypatch):
    hostile = "<script>alert('x')</script>" + "y" * 600
    _, resources = preprocess_page(tmp_path, monkeypatch, f"Total: 0 / 80 points\np: 0 / 5 points\n"
                                                          f"  [FAIL] out (weight 1): {hostile}\n")
    summary = resources["autograder_feedback"]["summary"]
    assert "<script>" not in summary and "&lt;script&gt;" in summary and "y" * 600 in summary
    assert feedback_page.PAGE_CSS in resources["inlining"]["css"]
    assert "white-space: pre-wrap" in feedback_page.PAGE_CSS and "anywhere" not in feedback_page.PAGE_CSS
    written = (tmp_path / "feedback" / "mallory" / "numpy_cnn" / "autograder_feedback.txt").read_text()
    assert hostile in written and written.startswith("Total: 0 / 80 points (autograded 0)")


def test_every_page_carries_the_text_file_of_its_folder_as_a_download(tmp_path, monkeypatch):
    import base64
    _, resources = preprocess_page(tmp_path, monkeypatch, "Total: 0 / 80 points\np: 0 / 5 points\n"
                                                          "  [FAIL] out (weight 1): \u00e9 <b>\n")
    written = (tmp_path / "feedback" / "mallory" / "numpy_cnn" / "autograder_feedback.txt").read_text()
    [link] = [a for a in parsed(resources["autograder_feedback"]["summary"]).iter("a") if a.get("download")]
    assert link.get("download") == "autograder_feedback.txt"
    prefix = "data:text/plain;charset=utf-8;base64,"
    assert link.get("href").startswith(prefix)
    assert base64.b64decode(link.get("href")[len(prefix):]).decode("utf-8") == written      # the file, from the page


def test_a_test_cells_return_value_leaves_the_page_and_its_printed_checks_stay(tmp_path, monkeypatch):
    import nbformat
    test_cell = nbformat.v4.new_code_cell("grade_part('p', globals(), 5)", metadata={
        "nbgrader": {"grade": True, "solution": False, "grade_id": "test_p", "points": 5}})
    test_cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="p: 0 / 5 points\n  [FAIL] ...\n"),
                         nbformat.v4.new_output("execute_result", data={"text/plain": "0.0"}, execution_count=1)]
    plain = nbformat.v4.new_code_cell("1 + 1")
    plain.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "2"}, execution_count=2)]
    page, _ = preprocess_page(tmp_path, monkeypatch, "Total: 0 / 5 points\n",
                              nbformat.v4.new_notebook(cells=[test_cell, plain]))
    assert [o["output_type"] for o in page.cells[0].outputs] == ["stream"]
    assert [o["output_type"] for o in page.cells[1].outputs] == ["execute_result"]     # not a test cell: kept


def test_a_page_with_another_template_is_refused_with_the_setting_to_fix(tmp_path, monkeypatch):
    from nbconvert.exporters import HTMLExporter
    refusal = "template is 'index.html.j2', not 'feedback_page.html.j2'.*nbgrader_config.py"
    with pytest.raises(ValueError, match=refusal):
        preprocess_page(tmp_path, monkeypatch, "Total: 0 / 5 points\n", parent=HTMLExporter())


def course_config(monkeypatch):
    """The course's nbgrader_config.py as nbgrader loads it (its path and environment changes undone after)."""
    from traitlets.config.loader import PyFileConfigLoader
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("PYTHONPATH", os.environ.get("PYTHONPATH", ""))
    return PyFileConfigLoader("nbgrader_config.py", path=str(REPO)).load_config()


def test_only_generate_feedback_gets_the_course_template(monkeypatch):
    config = course_config(monkeypatch)
    assert config.GenerateFeedback.HTMLExporter.template_file == feedback_page.TEMPLATE_FILE
    [folder] = config.GenerateFeedback.HTMLExporter.extra_template_paths
    assert (Path(folder) / feedback_page.TEMPLATE_FILE).is_file() and Path(folder) == feedback_page.HERE
    assert "template_file" not in config.HTMLExporter             # formgrader's own pages keep nbgrader's templates


def test_formgraders_generate_feedback_button_gets_the_course_template_and_its_own_pages_do_not(monkeypatch):
    from nbconvert.exporters import HTMLExporter
    from nbgrader.converters import GenerateFeedback
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config
    config = course_config(monkeypatch)
    converter = GenerateFeedback(coursedir=CourseDirectory(config=config), config=config)
    converter.update_config(Config({"HTMLExporter": {"template_name": "feedback"}}))    # what nbgrader's API adds
    exporter = converter.exporter_class(parent=converter, config=converter.config)
    assert (exporter.template_name, exporter.template_file) == ("feedback", feedback_page.TEMPLATE_FILE)
    assert HTMLExporter(config=config).template_file == "index.html.j2"                 # formgrader's exporter


def zero_scores(notebook, resources):
    """What nbgrader's GetGrades leaves on the cells, for a submission that earned nothing."""
    from autograder.nbgrader_io import cells
    for cell in notebook.cells:
        if cells.nbgrader_metadata(cell).get("grade"):
            cell.metadata.nbgrader["score"] = 0.0
    return notebook, resources


FORGED = '<pre class="autograder-feedback">Total: 80 / 80 points</pre>'     # a student's imitation


def course_page(tmp_path, monkeypatch):
    """The release's convolution notebook, with a forged feedback cell, through the exporter nbgrader builds from
    the course config (inert layer, scores, SubmissionFeedback, the course template); the page's parsed tree."""
    import nbformat
    from bleach._vendor import html5lib
    from nbgrader.converters import GenerateFeedback
    from nbgrader.coursedir import CourseDirectory
    from autograder.nbgrader_io import cells
    config = course_config(monkeypatch)
    notebook = cells.read_notebook(REPO / "exercises" / "numpy_cnn" / "convolution.ipynb")
    notebook.cells.insert(1, nbformat.v4.new_markdown_cell(FORGED))
    for cell in notebook.cells:
        if cells.is_test_cell(cell):
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="p: 0 / 5 points\n  [FAIL] x\n"),
                            nbformat.v4.new_output("execute_result", data={"text/plain": "0.0"}, execution_count=1)]
    (tmp_path / "autograder_feedback.txt").write_text(submission_feedback("mallory", "numpy_cnn", graded_parts()))
    monkeypatch.setattr(feedback_page.gradebook, "submission_totals",
                        lambda *args: totals(final=7.5, autograded=7.5, max_score=15.0))
    monkeypatch.chdir(tmp_path)
    converter = GenerateFeedback(coursedir=CourseDirectory(config=config, root=str(tmp_path)), config=config)
    exporter = converter.exporter_class(parent=converter, config=converter.config)
    exporter.register_preprocessor(zero_scores, enabled=True)             # GetGrades, without a gradebook
    exporter.register_preprocessor(feedback_page.SubmissionFeedback)      # as nbgrader's converter does
    resources = {"nbgrader": {"db_url": "sqlite:///unused", "assignment": "numpy_cnn", "student": "mallory",
                              "notebook": "convolution", "score": 0.0, "max_score": 25.0, "late_penalty": 0.0},
                 "metadata": {"path": str(tmp_path), "name": "convolution"}}
    page, _ = exporter.from_notebook_node(notebook, resources=resources)
    return page, html5lib.parse(page, namespaceHTMLElements=False)


def summary_and_notebook(tree):
    return [el for el in tree.iter() if el.get("id") == "notebook" or "autograder-summary" in (el.get("class") or "")]


def test_the_course_template_puts_the_summary_first_and_loads_nothing(tmp_path, monkeypatch):
    page, tree = course_page(tmp_path, monkeypatch)
    assert [el.tag for el in tree.iter() if el.tag in ("script", "link", "iframe", "object", "embed")] == []
    assert not [s for s in tree.iter("style") if "url(" in "".join(s.itertext()) or "@import" in "".join(s.itertext())]
    assert [m.get("content") for m in tree.iter("meta") if m.get("name") == "viewport"] == [
        "width=device-width, initial-scale=1"]
    assert [el.get("id") or "summary" for el in summary_and_notebook(tree)] == ["summary", "notebook"]
    assert text_of(with_class(tree, "autograder-total")[0]) == "Total: 7.5 / 15 points (autograded 7.5)"
    assert "Out[" not in page and "[FAIL] x" in page                  # the test cells' value gone, their checks kept
    notebook = summary_and_notebook(tree)[1]
    assert "Test cell" in page and "$\\partial L" in text_of(notebook)    # nbgrader's list; TeX as text


def test_the_trusted_feedback_section_is_the_only_one_after_the_inert_layer(tmp_path, monkeypatch):
    """nbgrader_config.py runs the inert layer first: a section a student forged is text, the grader's is not."""
    _, tree = course_page(tmp_path, monkeypatch)
    [section] = with_class(tree, "autograder-feedback")
    assert "".join(section.itertext()).startswith("Autograder feedback for mallory")
    summary, notebook = summary_and_notebook(tree)
    assert section in summary.iter()
    assert [el for el in notebook.iter() if "autograder-" in (el.get("class") or "")] == []
    assert FORGED in text_of(notebook)
