"""End to end: `python -m autograder grade numpy_cnn` on a class of synthetic submissions.

The class: the instructor solutions, the untouched release, a second correct
implementation, every typical bug of the corpus, three hostile students and one
with a missing and a corrupted notebook.  The grading runs once (module fixture)
in a throw-away course that has its own copy of autograder/, exactly like a real
course directory; the tests then check scores, gradebook, flags, files and
processes.
"""
import hashlib
import html
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]

import corpus  # noqa: E402
from autograder.nbgrader_io import cells  # noqa: E402
from autograder.isolation.sandbox import available_isolation  # noqa: E402
from test_autograder_sandbox import wait_until_gone  # noqa: E402
from test_autograder_units import BUG_FAILURES, POINTS, expected_points  # noqa: E402

LEVEL, WHY = available_isolation()
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(LEVEL == "process", reason=f"the hostile corpus needs namespaces: {WHY}"),
              pytest.mark.skipif(not (REPO / "exercises" / "numpy_cnn").is_dir(), reason="no release yet")]

ASSIGNMENT = "numpy_cnn"
SECRET = "grading-test-secret-5d1f"
FULL = dict(POINTS)
CNNBOOK = REPO / "cnnbook"
# Every bug's exact score is checked in-process (test_autograder_units); these four, one per
# notebook, confirm that the sandboxed transport gives the same scores.
BUGS_END_TO_END = ("square_kernel", "pool_overwrite", "dgamma_wrong", "reg_missing_in_grads")


def env_for(course):
    return corpus.grader_environment(course, SECRET)


def grade(course, *extra):
    command = [sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--workers", "2", "--call-timeout", "2",
               *extra]
    return subprocess.run(command, cwd=course, env=env_for(course), capture_output=True, text=True)


def tree_digest(folder):
    """Hash of every file under ``folder`` (bytecode caches aside), by relative path."""
    digest = {}
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digest


def gradebook_dump(course):
    from nbgrader.api import Gradebook
    rows = {}
    with Gradebook(f"sqlite:///{course}/gradebook.db", "cnn-properties") as gb:
        for submission in gb.assignment_submissions(ASSIGNMENT):
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    rows[(submission.student.id, grade.name)] = (grade.auto_score, grade.manual_score,
                                                                 grade.needs_manual_grade)
    return rows


# ---------------------------------------------------------------------------
# The class
# ---------------------------------------------------------------------------

def mallory_edits(name, notebook):
    if name == "convolution":
        cells.find_cell(notebook, "test_conv_forward_naive").source = "pass"
        claimed = cells.find_cell(notebook, "test_conv_backward_naive")
        claimed.execution_count = 7
        claimed.outputs = [nbformat.v4.new_output("stream", name="stdout", text="All checks passed.\n")]
    if name == "max_pooling":
        cells.find_cell(notebook, "max_pool_forward_naive").outputs = [
            nbformat.v4.new_output("stream", name="stdout", text="max_pool_forward_naive: 5 / 5 points\n")]
    if name == "spatial_batchnorm":
        notebook.cells.remove(cells.find_cell(notebook, "test_spatial_batchnorm_forward"))
    return notebook


def trudy_edits(name, notebook):
    if name == "convolution":
        cells.find_cell(notebook, "test_conv_forward_naive").metadata["nbgrader"]["points"] = 1000
        del cells.find_cell(notebook, "conv_backward_naive").metadata["nbgrader"]
    if name == "max_pooling":
        answer = cells.find_cell(notebook, "max_pool_forward_naive")
        del answer.metadata["nbgrader"]
        answer["id"] = "renamed-by-student"
    return notebook


def mona_edits(name, notebook):
    if name == "convnet":
        return None
    if name == "spatial_batchnorm":
        notebook.cells = []  # replaced by garbage below
    return notebook


def build_class(course):
    solutions = corpus.solution_answers(course / "solutions" / ASSIGNMENT)
    expected = {}

    def hostile(*names):
        answers = dict(solutions)
        for name in names:
            part, source = corpus.hostile_source(name, str(course), str(course / "autograder"), str(CNNBOOK))
            answers[part] = source
        return answers

    corpus.write_submission(course, "alice", ASSIGNMENT, solutions)
    expected["alice"] = FULL
    corpus.write_submission(course, "bob", ASSIGNMENT, {})
    expected["bob"] = {part: 0 for part in POINTS}
    corpus.write_submission(course, "ref", ASSIGNMENT, corpus.REFERENCE)
    expected["ref"] = FULL
    for bug in BUGS_END_TO_END:
        part, source = corpus.BUGS[bug]
        # On top of REFERENCE: a backward pass must understand its own forward pass's cache.
        corpus.write_submission(course, f"bug_{bug}", ASSIGNMENT, {**corpus.REFERENCE, part: source})
        expected[f"bug_{bug}"] = expected_points(BUG_FAILURES[bug])
    corpus.write_submission(course, "mallory", ASSIGNMENT,
                            hostile("monkeypatch_numpy_builtins", "fake_modules", "silence_and_fake_scores"),
                            edit=mallory_edits)
    # zeros of the right shape earn nothing (the "inputs unmodified" advice they pass is worth no
    # points); the pool backward part builds its own cache, so mallory's raising pool forward costs
    # only the forward part.
    expected["mallory"] = {**FULL, "conv_forward_naive": 0, "conv_backward_naive": 0,
                           "max_pool_forward_naive": 0}
    corpus.write_submission(course, "eve", ASSIGNMENT,
                            hostile("exit_at_load", "sys_exit_in_call", "endless_loop", "background_processes",
                                    "huge_allocation"))
    expected["eve"] = {**FULL, "conv_forward_naive": 0, "conv_backward_naive": 0, "max_pool_backward_naive": 0,
                       "spatial_batchnorm_backward": 0, "three_layer_convnet": 0}
    corpus.write_submission(course, "trudy", ASSIGNMENT, hostile("file_attacks", "os_exit_in_call"),
                            edit=trudy_edits)
    expected["trudy"] = {**FULL, "spatial_batchnorm_backward": 0}
    folder = corpus.write_submission(course, "mona", ASSIGNMENT, solutions, edit=mona_edits)
    (folder / "spatial_batchnorm.ipynb").write_bytes(b"\x00\x01 this is not a notebook")
    expected["mona"] = {**FULL, "spatial_batchnorm_forward": 0, "spatial_batchnorm_backward": 0,
                        "three_layer_convnet": 0}
    return expected


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = corpus.make_course(tmp_path_factory.mktemp("course"), REPO)
    expected = build_class(course)
    before = {"autograder": tree_digest(course / "autograder"), "submitted": tree_digest(course / "submitted")}
    started = time.monotonic()
    run = grade(course)
    seconds = time.monotonic() - started
    return {"course": course, "expected": expected, "before": before, "run": run, "seconds": seconds}


def read_grades_csv(course):
    import csv
    with open(course / "grades.csv", newline="", encoding="utf-8") as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------

def test_the_command_grades_everyone(graded):
    run = graded["run"]
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"isolation: {LEVEL}" in run.stdout
    count = len(graded["expected"])
    assert f"done: {count} graded, 0 error(s)" in run.stdout
    assert sum(line.startswith("[") for line in run.stdout.splitlines()) == count


def test_scores_per_part_are_exact(graded):
    rows = read_grades_csv(graded["course"])
    for student, expected in graded["expected"].items():
        got = {part: float(rows[student][part]) for part in POINTS}
        assert got == pytest.approx(expected, abs=1e-9), student
        assert float(rows[student]["total"]) == pytest.approx(sum(expected.values()))


def test_gradebook_holds_the_trusted_scores(graded):
    dump = gradebook_dump(graded["course"])
    for student, expected in graded["expected"].items():
        for part, points in expected.items():
            auto, manual, needs_manual = dump[(student, f"test_{part}")]
            assert (auto, manual, needs_manual) == (pytest.approx(points), None, False), (student, part)


def test_flags_point_at_tampering_and_nothing_else(graded):
    rows = read_grades_csv(graded["course"])
    flags = {student: row["flags"] for student, row in rows.items()}
    assert "test cell test_conv_forward_naive was edited" in flags["mallory"]
    assert "test cell test_spatial_batchnorm_forward deleted" in flags["mallory"]
    assert "looks like an autograder score" in flags["mallory"]
    assert "test_conv_backward_naive: the submitted notebook shows it passing, the trusted grade is 0" in flags["mallory"]
    assert "points of test_conv_forward_naive changed to 1000" in flags["trudy"]
    assert "answer cell conv_backward_naive lost its nbgrader metadata" in flags["trudy"]
    assert "answer cell max_pool_forward_naive lost its nbgrader metadata" in flags["trudy"]
    assert "spatial_batchnorm: notebook unreadable" in flags["mona"]
    honest = ["alice", "bob", "ref"] + [f"bug_{bug}" for bug in BUGS_END_TO_END]
    assert {student: flags[student] for student in honest} == {student: "" for student in honest}


def test_feedback_explains_fallbacks_and_failures(graded):
    course = graded["course"]
    feedback = {student: (course / "autograded" / student / ASSIGNMENT / "autograder_feedback.txt").read_text()
                for student in ("bob", "trudy", "eve", "mona")}
    assert "raised NotImplementedError" in feedback["bob"] and "Total: 0 / 80 points" in feedback["bob"]
    assert "found by its cell id" in feedback["trudy"]
    assert "the last cell defining max_pool_forward_naive was graded" in feedback["trudy"]
    assert "exited while loading your answer cells" in feedback["eve"]
    assert "did not return within 2 s" in feedback["eve"]
    assert "raised SystemExit" in feedback["eve"] and "raised MemoryError" in feedback["eve"]
    assert "spatial_batchnorm.ipynb: unreadable" in feedback["mona"]
    assert "convnet.ipynb: not submitted" in feedback["mona"]


def test_autograder_submissions_and_cnnbook_are_untouched(graded):
    course = graded["course"]
    assert tree_digest(course / "autograder") == graded["before"]["autograder"]
    assert tree_digest(course / "submitted") == graded["before"]["submitted"]
    # cnnbook/ is the live package (others may edit it meanwhile): the attack tried to add this file.
    assert not (CNNBOOK / "__attack__.py").exists()


def test_no_process_outlives_the_grading(graded):
    assert wait_until_gone(sleeper="sleep 600") == []  # the sleeper of the background_processes attack


def test_the_secret_reaches_no_file(graded):
    course = graded["course"]
    for path in course.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def shown_text(path):
    """What a reader sees in a file: cell sources and outputs of a notebook, the text of an HTML page."""
    if path.suffix == ".ipynb":
        notebook = cells.read_notebook(path)
        pieces = [cells.cell_source(c) for c in notebook.cells]
        for cell in notebook.cells:
            for output in cell.get("outputs", []):
                text = output.get("text") or output.get("data", {}).get("text/plain", "")
                pieces.append("".join(text) if isinstance(text, list) else str(text))
        return "\n".join(pieces)
    raw = path.read_text(encoding="utf-8", errors="replace")
    return html.unescape(re.sub(r"<[^>]+>", "", raw)) if path.suffix == ".html" else raw


def grader_source_lines(course):
    """Lines of autograder/'s code long enough to be recognisable, minus code students also have."""
    public = set()
    for path in list((course / "submitted").rglob("*.ipynb")) + list((course / "exercises").rglob("*.ipynb")):
        try:
            public |= {line.strip() for c in cells.read_notebook(path).cells
                       for line in cells.cell_source(c).splitlines()}
        except cells.NotebookError:
            pass
    lines = set()
    for path in (course / "autograder").rglob("*.py"):
        lines |= {line.strip() for line in path.read_text(encoding="utf-8").splitlines()}
    return {line for line in lines if len(line) >= 20 and line not in public}


def test_feedback_and_autograded_files_contain_no_grader_source(graded):
    course = graded["course"]
    done = subprocess.run([sys.executable, "-m", "nbgrader", "generate_feedback", ASSIGNMENT, "--force"],
                          cwd=course, env=env_for(course), capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    html_page = course / "feedback" / "alice" / ASSIGNMENT / "convolution.html"
    assert "conv_forward_naive: 10 / 10 points" in shown_text(html_page)
    assert (course / "feedback" / "alice" / ASSIGNMENT / "autograder_feedback.txt").is_file()
    assert not (course / "feedback" / ".autograder").exists()
    secret_lines = grader_source_lines(course)
    assert len(secret_lines) > 500
    shown = [p for folder in ("autograded", "feedback") for p in (course / folder).rglob("*")
             if p.is_file() and ".autograder" not in p.parts]
    assert len(shown) > 50
    for path in shown:
        text = shown_text(path)
        leaked = [line for line in secret_lines if line in text]
        assert leaked == [], (path, leaked[:3])


def test_nbgrader_export_reads_the_trusted_scores(graded, tmp_path):
    course = graded["course"]
    target = tmp_path / "export.csv"
    done = subprocess.run([sys.executable, "-m", "nbgrader", "export", "--to", str(target)],
                          cwd=course, env=env_for(course), capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    import csv
    with open(target, newline="", encoding="utf-8") as handle:
        scores = {row["student_id"]: float(row["score"]) for row in csv.DictReader(handle)}
    assert scores == {student: pytest.approx(sum(points.values())) for student, points in graded["expected"].items()}


def test_grading_again_changes_nothing(graded):
    course = graded["course"]
    before, grades_before = gradebook_dump(course), read_grades_csv(course)
    run = grade(course, "--student", "alice", "--student", "mallory", "--student", "trudy", "--student", "mona")
    assert run.returncode == 0, run.stdout + run.stderr
    assert gradebook_dump(course) == before
    assert read_grades_csv(course) == grades_before
    assert tree_digest(course / "submitted") == graded["before"]["submitted"]


def test_records_for_the_instructor(graded):
    reports = graded["course"] / "autograded" / ".autograder" / ASSIGNMENT
    trudy = json.loads((reports / "trudy.json").read_text())
    assert trudy["status"] == "graded" and trudy["recorded"] is True
    assert "stolen: ['env']" in (reports / "trudy.log").read_text()
