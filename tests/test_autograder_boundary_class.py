"""End to end: a class of submissions that attack the trust boundary, graded by the real command.

Each hostile student is right where it matters and attacks one guarantee:
links under ``submitted/`` (a notebook, the timestamp, a whole folder),
malformed notebooks and a catastrophic run of digits in an output, a worker
that lies about its arguments, exceptions that carry the hidden inputs or
forge the grader's lines, complex outputs, a constant-loss network, replies
of gigabytes in all, and an answer cell turned into a graded cell.  The
tests assert exact scores, a gradebook that holds exactly them, feedback
without leaked values or forged lines, and a bounded wall time.
"""
import json
import re
import subprocess
import sys
import time

import nbformat
import pytest

import corpus
from autograder.nbgrader_io import cells
# Slow, and skipped where the hostile corpus cannot run (below the namespaces level, no release).
from test_autograder_grading import ASSIGNMENT, REPO, gradebook_dump, pytestmark, read_grades_csv  # noqa: F401
from test_autograder_units import POINTS, expected_points

SECRET = "boundary-test-secret-77c1"
FILE_SECRET = "FILE-SECRET-c0ffee"
FULL = dict(POINTS)
# The whole class (twelve students, two workers) grades in about two minutes on two shared cores.
WALL_LIMIT_S = 600


def checks_fraction(part, failing):
    """The points of ``part`` when the checks ``failing`` fail."""
    return expected_points({part: failing})[part]


def with_answers(solutions, *hostile):
    answers = dict(solutions)
    for name in hostile:
        part, source = corpus.BOUNDARY_HOSTILE[name]
        answers[part] = source
    return answers


def odd_notebooks(name, notebook):
    if name == "max_pooling":
        cell = cells.find_cell(notebook, "max_pool_forward_naive")
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="max_pool_forward_naive: 5 / 5 points\n"),
                        nbformat.v4.new_output("stream", name="stdout", text="1" * 3_000_000 + " / 5 points")]
    return notebook


def grade_flip(name, notebook):
    if name == "convolution":
        meta = cells.find_cell(notebook, "conv_forward_naive").metadata["nbgrader"]
        meta.update(grade=True, points=1000)
    return notebook


def build_class(course):
    solutions = corpus.solution_answers(course / "solutions" / ASSIGNMENT)
    expected = {}
    write = corpus.write_submission
    write(course, "alice", ASSIGNMENT, solutions)
    expected["alice"] = FULL
    write(course, "liar", ASSIGNMENT, with_answers(solutions, "lying_about_inputs"))
    # Both modify their inputs: the liar is caught by the second call, the recogniser is not; neither
    # changes a score, since "inputs left unmodified" is advice (its evidence is the student's process).
    expected["liar"] = FULL
    write(course, "recogniser", ASSIGNMENT, with_answers(solutions, "recognising_its_inputs"))
    expected["recogniser"] = FULL
    write(course, "leaker", ASSIGNMENT, with_answers(solutions, "leak_inputs_in_errors"))
    # A backward check builds its own cache: a forward pass that raises costs the forward part only.
    expected["leaker"] = {**FULL, "max_pool_forward_naive": 0}
    write(course, "forger", ASSIGNMENT, with_answers(solutions, "forge_feedback_lines"))
    expected["forger"] = {**FULL, "max_pool_backward_naive": 0}
    write(course, "complexer", ASSIGNMENT, with_answers(solutions, "complex_output"))
    expected["complexer"] = {**FULL, "conv_forward_naive": 0}
    write(course, "constant", ASSIGNMENT, with_answers(solutions, "constant_loss_convnet"))
    expected["constant"] = {**FULL, "three_layer_convnet": checks_fraction(
        "three_layer_convnet", ["test_scores", "test_loss", "test_gradients", "test_regularisation",
                                "test_gradients_match_own_loss"])}
    write(course, "hoarder", ASSIGNMENT, with_answers(solutions, "huge_replies"))
    expected["hoarder"] = {**FULL, "spatial_batchnorm_forward": 0}
    odd = write(course, "odd", ASSIGNMENT, solutions, edit=odd_notebooks)
    raw = json.loads((odd / "convolution.ipynb").read_text())
    raw["cells"].insert(1, ["a list where a cell should be"])
    (odd / "convolution.ipynb").write_text(json.dumps(raw))
    expected["odd"] = {**FULL, "conv_forward_naive": 0, "conv_backward_naive": 0}
    write(course, "flipper", ASSIGNMENT, solutions, edit=grade_flip)
    expected["flipper"] = FULL
    links = write(course, "links", ASSIGNMENT, solutions)
    (course / "autograder" / ".secret").write_text(FILE_SECRET + "\n")
    for target in (links / "convnet.ipynb", links / "timestamp.txt"):
        target.unlink()
        target.symlink_to(course / "autograder" / ".secret")
    expected["links"] = {**FULL, "three_layer_convnet": 0}
    (course / "submitted" / "linked").mkdir()
    (course / "submitted" / "linked" / ASSIGNMENT).symlink_to(course / "submitted" / "alice" / ASSIGNMENT)
    expected["linked"] = {part: 0 for part in POINTS}
    return expected


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = corpus.make_course(tmp_path_factory.mktemp("course"), REPO)
    expected = build_class(course)
    command = [sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--workers", "2", "--call-timeout", "5"]
    started = time.monotonic()
    run = subprocess.run(command, cwd=course, env=corpus.grader_environment(course, SECRET),
                         capture_output=True, text=True, timeout=WALL_LIMIT_S + 300)
    return {"course": course, "expected": expected, "run": run, "seconds": time.monotonic() - started}


def feedback(graded, student):
    return (graded["course"] / "autograded" / student / ASSIGNMENT / "autograder_feedback.txt").read_text()


def test_every_hostile_student_is_graded_and_the_class_finishes_in_bounded_time(graded):
    run = graded["run"]
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert f"done: {len(graded['expected'])} graded, 0 error(s)" in run.stdout
    assert graded["seconds"] < WALL_LIMIT_S


def test_scores_are_exact_and_the_gradebook_holds_exactly_them(graded):
    rows = read_grades_csv(graded["course"])
    dump = gradebook_dump(graded["course"])
    for student, expected in graded["expected"].items():
        got = {part: float(rows[student][part]) for part in POINTS}
        failed = [line for line in feedback(graded, student).splitlines() if "FAIL" in line or "note" in line]
        assert got == pytest.approx(expected, abs=1e-9), (student, failed[:12])
        for part, points in expected.items():
            assert dump[(student, f"test_{part}")] == (pytest.approx(points), None, False), (student, part)


def test_links_are_refused_and_nothing_of_their_target_is_shown(graded):
    course = graded["course"]
    for path in (course / "autograded").rglob("*"):
        if path.is_file():
            assert FILE_SECRET not in path.read_text(errors="replace"), path
    assert "symbolic link" in feedback(graded, "links")
    assert not (course / "autograded" / "linked" / ASSIGNMENT / "timestamp.txt").exists()
    assert not (course / "autograded" / "links" / ASSIGNMENT / "timestamp.txt").exists()
    flags = read_grades_csv(course)["linked"]["flags"]
    assert "symbolic link" in flags


def test_feedback_never_carries_the_hidden_inputs_or_forged_lines(graded):
    leaked = feedback(graded, "leaker")
    excerpts = re.findall(r'"LEAK[^"]*"', leaked)
    assert excerpts and not any(re.search("[0-9]", text) or len(text) > 62 for text in excerpts)
    forged = feedback(graded, "forger")
    assert sum(line.startswith("Total:") for line in forged.splitlines()) == 1
    assert "\x1b" not in forged and "\r" not in forged
    forged_lines = ("  [pass] everything", "  [pass] dx (weight 10)", "Total: 80 / 80")
    assert not any(line.startswith(forged_lines) for line in forged.splitlines())


def test_the_forgers_feedback_page_shows_no_forged_line_in_chromium(graded):
    """nbgrader's feedback page of the notebook the forger attacked, as a browser renders it."""
    from browser.conftest import in_chromium
    course = graded["course"]
    done = subprocess.run([sys.executable, "-m", "nbgrader", "generate_feedback", ASSIGNMENT, "--force",
                           "--student", "forger"], cwd=course, env=corpus.grader_environment(course, SECRET),
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    page_path = course / "feedback" / "forger" / ASSIGNMENT / "max_pooling.html"
    def rendered(page):
        page.goto(page_path.as_uri())
        return page.inner_text("pre.autograder-feedback").splitlines(), page.inner_text("body").splitlines()
    section, shown = in_chromium(rendered)
    assert sum(line.startswith("Total:") for line in section) == 1
    assert "max_pool_backward_naive: 0 / 10 points" in section
    forged = ("[pass] everything", "[pass] dx (weight 10)", "Total: 80 / 80")
    assert not [line for line in shown if line.strip().startswith(forged)]


def test_modified_inputs_are_advice_that_neither_earns_nor_costs_a_point(graded):
    """The liar's second call shows its modified bias; the recogniser forges both pieces of evidence."""
    liar = [line for line in feedback(graded, "liar").splitlines() if "x, w, b and conv_param" in line]
    assert liar and liar[0].startswith("  [FAIL]") and "(advice, no points)" in liar[0], liar
    recogniser = [line for line in feedback(graded, "recogniser").splitlines() if "x, w, b and conv_param" in line]
    assert recogniser and recogniser[0].startswith("  [pass]"), recogniser   # bought, and worth nothing
    rows = read_grades_csv(graded["course"])
    assert {part: rows["recogniser"][part] for part in POINTS} == {part: rows["alice"][part] for part in POINTS}
    assert "(weight 0)" not in feedback(graded, "alice")


def test_odd_values_cost_only_their_own_checks(graded):
    assert "convolution.ipynb: unreadable" in feedback(graded, "odd")
    assert "looks like an autograder score" in read_grades_csv(graded["course"])["odd"]["flags"]
    assert "real floating point" in feedback(graded, "complexer")
    assert "MiB" in feedback(graded, "hoarder")
    summary = json.loads((graded["course"] / "autograded" / ".autograder" / ASSIGNMENT / "hoarder.json").read_text())
    assert summary["status"] == "graded"


def test_a_gradebook_record_that_fails_half_way_leaves_nothing(graded, tmp_path):
    """Scores of one notebook saved, then nbgrader fails on the next: no submission may remain."""
    from nbgrader.api import Gradebook, MissingEntry
    from autograder.nbgrader_io import gradebook

    course = graded["course"]
    folder = tmp_path / "partial"
    folder.mkdir()
    for path in (course / "autograded" / "alice" / ASSIGNMENT).glob("*.ipynb"):
        notebook = cells.read_notebook(path)
        if path.stem == "max_pooling":  # after convnet and convolution, which are saved first
            forged = nbformat.v4.new_code_cell("pass")
            forged.metadata["nbgrader"] = {"grade_id": "forged", "grade": True, "solution": False, "points": 5}
            notebook.cells.append(forged)
        nbformat.write(notebook, str(folder / path.name))
    coursedir, config = gradebook.course_directory(course)
    with pytest.raises(MissingEntry):
        gradebook.record(coursedir, config, ASSIGNMENT, "partial", folder)
    with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        with pytest.raises(MissingEntry):
            gb.find_submission(ASSIGNMENT, "partial")
