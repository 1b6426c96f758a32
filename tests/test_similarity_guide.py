"""The guide's page on the similarity report: its commands run as written, in a course with known answers.

``book/instructors/similarity_report.md`` tags each shell block ``% guide-step: NAME`` (read with the
instructor guide's own ``TAGGED`` pattern).  Each block runs with ``bash -e`` from the root of a
throw-away course holding the class of ``tests/similarity_class.py``, and does what the page says.
"""
import subprocess
from pathlib import Path

import pytest

import corpus
import similarity_class as sc
from test_instructor_guide import TAGGED

PAGE = corpus.REPO / "book" / "instructors" / "similarity_report.md"
STEPS = ("similarity", "similarity-threshold")


def steps():
    return {m.group("name"): m.group("body") for m in TAGGED.finditer(PAGE.read_text(encoding="utf-8"))
            if m.group(1) == "step"}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    return sc.make_class_course(tmp_path_factory.mktemp("similarity-guide"))


def run_step(course, name):
    done = subprocess.run(["bash", "-e", "-c", steps()[name]], cwd=course, capture_output=True, text=True,
                          env=corpus.grader_environment(course, "unused-secret"), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_page_tags_its_two_steps_and_no_other_shell_block():
    text = PAGE.read_text(encoding="utf-8")
    assert tuple(steps()) == STEPS
    assert text.count("```bash\n") == len(STEPS)


def test_the_similarity_step_writes_the_report_where_the_page_says(course):
    out = run_step(course, "similarity")
    folder = Path(course) / "autograded" / ".autograder" / "numpy_cnn" / "similarity"
    assert out.splitlines()[-1] == f"wrote {folder / 'report.html'} and {folder / 'pairs.csv'}"
    rows = sc.read_pairs(folder)
    assert all(sc.is_copied_pair(row["student_a"], row["student_b"]) for row in rows[:7])


def test_the_threshold_step_writes_its_own_folder_with_the_higher_threshold(course):
    out = run_step(course, "similarity-threshold")
    assert "5 pairs at or above 0.8" in out      # renamed, recommented, reordered, disguised, merged
    page = (Path(course) / "similarity-numpy_cnn" / "report.html").read_text(encoding="utf-8")
    assert "Threshold 80%:" in page
