"""The report's two files, where they go, and what the command leaves alone.

The known-answer class of ``tests/similarity_class.py`` in a throw-away course: the page ranks the pairs
as the CSV does and shows each pair's code side by side with the shared stretches marked; the folder is
written whole or not at all, never over a folder that holds anything else, and nothing outside it changes.
"""
import hashlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

import corpus
import similarity_class as sc
from autograder.similarity import command


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    return sc.make_class_course(tmp_path_factory.mktemp("similarity-report"))


@pytest.fixture(scope="module")
def report(course):
    status, folder = sc.run_similarity(course)
    assert status == 0
    return folder


def tree(root, leave_out):
    """``{path: sha256}`` of every file under ``root`` but ``leave_out``."""
    return {str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(Path(root).rglob("*")) if path.is_file() and leave_out not in path.parents
            and "__pycache__" not in path.parts}


def test_the_page_ranks_the_pairs_as_the_csv_does_and_marks_the_shared_code(report):
    page = (report / "report.html").read_text(encoding="utf-8")
    rows = sc.read_pairs(report)
    ranking = re.findall(r'<tr class="(above|below)"><td><a href="#pair-(\d+)">\d+</a></td><td>([^<]*)</td><td>([^<]*)</td>', page)
    assert [(a, b) for _, _, a, b in ranking] == [(row["student_a"], row["student_b"]) for row in rows[:len(ranking)]]
    assert [kind for kind, *_ in ranking] == ["above"] * 7 + ["below"] * command.SHOWN_BELOW
    first = page[page.index('id="pair-1"'):page.index('id="pair-2"')]
    assert first.count('<div class="sides">') == 4 and first.count("<mark>") >= 8
    assert "instructor" in first and "renamed" in first


def test_the_csv_has_every_pair_once_with_a_column_per_part(report):
    rows = sc.read_pairs(report)
    assert len(rows) == 66 and len({frozenset((row["student_a"], row["student_b"])) for row in rows}) == 66
    assert list(rows[0])[:6] == ["rank", "student_a", "student_b", "score", "share_a", "share_b"]
    assert set(sc.FOUR) <= set(rows[0])
    assert [float(row["score"]) for row in rows] == sorted((float(row["score"]) for row in rows), reverse=True)


def test_a_second_run_replaces_the_report_and_changes_nothing_outside_it(course, report):
    before = tree(course, report)
    (report / "report.html").write_text("stale", encoding="utf-8")
    status, folder = sc.run_similarity(course, "--threshold", "0.9")
    assert status == 0 and folder == report
    assert tree(course, report) == before
    assert sorted(path.name for path in report.iterdir()) == ["pairs.csv", "report.html"]
    assert "Threshold 90%: 2 pairs" in (report / "report.html").read_text(encoding="utf-8")
    assert not list(report.parent.glob(".similarity*"))               # no staging folder left behind
    assert not (course / "gradebook.db").exists()


def test_an_out_folder_holding_other_files_is_refused_and_left_as_it_was(course, tmp_path, capsys):
    precious = tmp_path / "notes"
    precious.mkdir()
    (precious / "todo.txt").write_text("keep me", encoding="utf-8")
    status, _ = sc.run_similarity(course, "--out", str(precious))
    assert status == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: --out {precious} holds files other than a report's")
    assert sorted(p.name for p in precious.iterdir()) == ["todo.txt"]


@pytest.mark.parametrize("arguments, message", [
    (["--threshold", "1.5"], "argument --threshold: a fraction from 0 to 1, not '1.5'"),
    (["--threshold", "many"], "argument --threshold: a fraction from 0 to 1, not 'many'"),
])
def test_a_threshold_outside_0_to_1_is_refused_by_name(course, arguments, message, capsys):
    with pytest.raises(SystemExit) as stop:
        sc.run_similarity(course, *arguments)
    assert stop.value.code == 2 and message in capsys.readouterr().err


def test_an_assignment_without_checks_or_a_folder_without_a_course_is_one_error_line(course, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(course)
    assert command.main(["no_such_assignment"]) == 2
    assert capsys.readouterr().err.startswith("error: the autograder has no hidden checks for the assignment")
    monkeypatch.chdir(tmp_path)
    assert command.main(["numpy_cnn"]) == 2
    assert capsys.readouterr().err.startswith("error: no nbgrader_config.py in")


def test_the_command_runs_as_a_module_and_writes_where_it_is_told(course, tmp_path):
    out = tmp_path / "report"
    done = subprocess.run([sys.executable, "-m", "autograder.similarity", "numpy_cnn", "--out", str(out)],
                          cwd=course, env=corpus.grader_environment(course, "unused-secret"),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-2].startswith("compared 12 students (66 pairs) in ")
    assert done.stdout.splitlines()[-1] == f"wrote {out / 'report.html'} and {out / 'pairs.csv'}"
    assert (out / "pairs.csv").read_text(encoding="utf-8").count("\n") == 67
    assert oct(out.stat().st_mode & 0o777) == "0o700"
