"""``python -m autograder intake``: Canvas, Blackboard and Moodle bulk downloads, as real zip files.

Each layout is built the way the system names its files: loose notebooks, a zip per student,
notebooks nested in folders inside the zip, archiver clutter, resubmission suffixes, several
attempts, a notebook in two places, files that are not notebooks.  Every student's folder must
hold exactly the release's notebooks (the right version of each) and the submission time in UTC,
and every notebook not taken must be named in the report.  The slow test grades what was collected.
"""
import contextlib
import csv
import io
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

import corpus
from autograder.__main__ import main
from autograder.nbgrader_io import cells

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "numpy_cnn"
RELEASE = sorted(p.stem for p in (REPO / "exercises" / ASSIGNMENT).glob("*.ipynb"))
BERLIN = "Europe/Berlin"      # UTC+1 in November

pytestmark = pytest.mark.skipif(not RELEASE, reason="no release yet")


def notebook_bytes(name, answers, marker=""):
    """The release notebook ``name`` with ``answers`` filled in; ``marker`` tells versions apart."""
    notebook = cells.read_notebook(REPO / "exercises" / ASSIGNMENT / f"{name}.ipynb")
    for cell in notebook.cells:
        if cells.grade_id(cell) in answers and cells.is_answer_cell(cell):
            cell.source = answers[cells.grade_id(cell)] + (f"\n# {marker}\n" if marker else "")
    return nbformat.writes(notebook).encode("utf-8")


SOLVED = corpus.solution_answers(REPO / "solutions" / ASSIGNMENT)


def zip_bytes(entries, when=(2026, 11, 30, 9, 15, 42)):
    """A zip of ``{path: bytes}``, every entry stored with the time ``when`` (as LMS downloads do)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, data in entries.items():
            archive.writestr(zipfile.ZipInfo(path, date_time=when), data)
    return buffer.getvalue()


def student_zip(marker="", nest="numpy_cnn/", skip=()):
    """A student's own zip: the notebooks in a folder, one nested deeper, with macOS clutter."""
    entries = {}
    for i, name in enumerate(RELEASE):
        if name not in skip:
            entries[f"{nest}{'work/' if i == 1 else ''}{name}.ipynb"] = notebook_bytes(name, SOLVED, marker)
    entries[f"__MACOSX/{nest}._{RELEASE[0]}.ipynb"] = b"\x00\x05\x16\x07"
    return zip_bytes(entries)


def canvas_download(path):
    entries = {f"smithalice_101_9001_{name}.ipynb": notebook_bytes(name, SOLVED) for name in RELEASE}
    entries["jonesbob_LATE_102_9002_numpy_cnn.zip"] = student_zip()
    entries[f"leecarol_103_9003_{RELEASE[0]}-1.ipynb"] = notebook_bytes(RELEASE[0], SOLVED, "resubmitted")
    entries[f"leecarol_103_9003_{RELEASE[1].title()} (1).ipynb"] = notebook_bytes(RELEASE[1], SOLVED)
    entries["leecarol_103_9003_notes.txt"] = b"I ran out of time"
    path.write_bytes(zip_bytes(entries, when=(2026, 11, 30, 23, 59, 58)))
    return path


def blackboard_download(path):
    entries = {}
    for attempt, marker in (("2026-11-30-14-05-33", "first attempt"), ("2026-11-30-15-00-02", "second attempt")):
        entries[f"numpy_cnn_alice_attempt_{attempt}.txt"] = b"Name: Alice\nDate Submitted: ..."
        entries[f"numpy_cnn_alice_attempt_{attempt}_numpy_cnn.zip"] = student_zip(marker)
    entries["numpy_cnn_bob_attempt_2026-11-29-08-00-00_numpy_cnn.zip"] = student_zip(skip=(RELEASE[-1],))
    path.write_bytes(zip_bytes(entries))
    return path


def moodle_download(path):
    entries = {"Alice Smith_501_assignsubmission_file_/numpy_cnn.zip": student_zip(nest="deep/er/")}
    for name in RELEASE:
        entries[f"Bob Jones_502_assignsubmission_file_/{name}.ipynb"] = notebook_bytes(name, SOLVED, "final")
    entries[f"Bob Jones_502_assignsubmission_file_/old/{RELEASE[0]}.ipynb"] = notebook_bytes(RELEASE[0], {}, "old")
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            when = (2026, 11, 28, 10, 0, 0) if "/old/" in name else (2026, 11, 30, 12, 30, 6)
            archive.writestr(zipfile.ZipInfo(name, date_time=when), data)
    return path


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


def run_intake(course, download, lms, *extra, zone=BERLIN):
    """``python -m autograder intake`` run in this process (it starts no sandbox), from the course root."""
    out, err, cwd = io.StringIO(), io.StringIO(), os.getcwd()
    os.chdir(course)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(["intake", ASSIGNMENT, str(download), "--lms", lms, "--timezone", zone, *extra])
    finally:
        os.chdir(cwd)
    return Done(status, out.getvalue(), err.getvalue())


@pytest.fixture
def course(tmp_path):
    return corpus.make_course(tmp_path / "course", REPO)


def submitted(course, student):
    folder = course / "submitted" / student / ASSIGNMENT
    return {path.name: path.read_bytes() for path in folder.iterdir()}


def report_for(done, student):
    return next(line for line in done.stdout.splitlines() if line.startswith(student))


def test_canvas_loose_notebooks_zip_with_nested_folders_and_resubmission_suffixes(course, tmp_path):
    done = run_intake(course, canvas_download(tmp_path / "canvas.zip"), "canvas")
    assert done.returncode == 1, done.stdout + done.stderr        # carol's upload is incomplete
    names = sorted(f"{name}.ipynb" for name in RELEASE) + ["timestamp.txt"]
    for student in ("101", "102"):
        files = submitted(course, student)
        assert sorted(files) == names
        assert files[f"{RELEASE[0]}.ipynb"] == notebook_bytes(RELEASE[0], SOLVED)
        assert files["timestamp.txt"] == b"2026-11-30 22:59:58.000000 UTC\n"
    carol = submitted(course, "103")
    assert sorted(carol) == sorted([f"{RELEASE[0]}.ipynb", f"{RELEASE[1]}.ipynb", "timestamp.txt"])
    assert carol[f"{RELEASE[0]}.ipynb"] == notebook_bytes(RELEASE[0], SOLVED, "resubmitted")
    line = report_for(done, "103")
    assert f"MISSING {RELEASE[2]}.ipynb, {RELEASE[3]}.ipynb" in line and "notes.txt (not a notebook)" in line
    assert "submitted 2026-11-30 23:59:58 CET (from the download's file time)" in line
    assert f"{RELEASE[1]}.ipynb <- jonesbob_LATE_102_9002_numpy_cnn.zip/numpy_cnn/work/{RELEASE[1]}.ipynb" in \
        report_for(done, "102")
    assert "look at: 103" in done.stdout


def test_blackboard_takes_the_latest_attempt_with_its_time_from_the_file_name(course, tmp_path):
    done = run_intake(course, blackboard_download(tmp_path / "bb.zip"), "blackboard")
    alice = submitted(course, "alice")
    assert alice["timestamp.txt"] == b"2026-11-30 14:00:02.000000 UTC\n"
    assert alice[f"{RELEASE[0]}.ipynb"] == notebook_bytes(RELEASE[0], SOLVED, "second attempt")
    line = report_for(done, "alice")
    assert "(an earlier attempt)" in line and "2026-11-30 15:00:02 CET (from the file name)" in line
    assert f"MISSING {RELEASE[-1]}.ipynb" in report_for(done, "bob")
    assert done.returncode == 1


def test_moodle_folders_deep_zips_and_a_notebook_in_two_places(course, tmp_path):
    done = run_intake(course, moodle_download(tmp_path / "moodle.zip"), "moodle")
    assert sorted(submitted(course, "501")) == sorted(f"{name}.ipynb" for name in RELEASE) + ["timestamp.txt"]
    bob = submitted(course, "502")
    assert bob[f"{RELEASE[0]}.ipynb"] == notebook_bytes(RELEASE[0], SOLVED, "final")
    assert bob["timestamp.txt"] == b"2026-11-30 11:30:06.000000 UTC\n"
    assert f"old/{RELEASE[0]}.ipynb (another {RELEASE[0]}.ipynb, older)" in report_for(done, "502")


def test_a_second_download_replaces_only_with_update_and_only_when_newer(course, tmp_path):
    download = canvas_download(tmp_path / "canvas.zip")
    run_intake(course, download, "canvas")
    before = submitted(course, "101")
    (course / "submitted" / "101" / ASSIGNMENT / "timestamp.txt").write_text("2026-11-29 10:00:00.000000 UTC\n")
    kept = run_intake(course, download, "canvas")
    assert "kept the folder already collected (--update replaces it" in report_for(kept, "101")
    replaced = run_intake(course, download, "canvas", "--update")
    assert "replaced the earlier collection" in report_for(replaced, "101")
    assert submitted(course, "101") == before
    again = run_intake(course, download, "canvas", "--update")
    assert "is not older than this download" in report_for(again, "101")


def test_bad_options_and_foreign_downloads_get_one_clear_error(course, tmp_path):
    download = canvas_download(tmp_path / "canvas.zip")
    done = run_intake(course, download, "canvas", zone="Mars/Olympus")
    assert done.returncode == 2 and "is not a time zone name" in done.stderr
    done = run_intake(course, download, "moodle")
    assert done.returncode == 2 and "check --lms" in done.stderr and "Traceback" not in done.stderr
    assert not (course / "submitted").exists()


@pytest.mark.slow
def test_what_the_intake_collected_is_graded_and_the_missing_notebooks_are_named(course, tmp_path):
    run_intake(course, canvas_download(tmp_path / "canvas.zip"), "canvas")
    done = subprocess.run([sys.executable, "-m", "autograder", "grade", ASSIGNMENT], cwd=course,
                          env=corpus.grader_environment(course, "intake-secret"), capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    with open(course / "grades.csv", newline="", encoding="utf-8") as handle:
        totals = {row["student"]: row["total"] for row in csv.DictReader(handle)}
    # carol sent convnet (20 points) and convolution (25), not max_pooling and spatial_batchnorm.
    assert (totals["101"], totals["102"], totals["103"]) == ("80", "80", "45")
    feedback = (course / "autograded" / "103" / ASSIGNMENT / "autograder_feedback.txt").read_text()
    assert f"{RELEASE[2]}.ipynb: not submitted" in feedback and f"{RELEASE[3]}.ipynb: not submitted" in feedback


def hostile_zip(entries):
    """A zip of ``entries`` from ``corpus.HOSTILE_LMS``: NOTEBOOK becomes a solved notebook, a dict a zip."""
    built = {}
    for path, value in entries.items():
        if value is corpus.NOTEBOOK:
            value = notebook_bytes(notebook_name(path), SOLVED)
        elif isinstance(value, dict):
            value = hostile_zip(value)
        built[path] = value
    return zip_bytes(built)


def notebook_name(path):
    return next((name for name in RELEASE if path.endswith(f"{name}.ipynb")), RELEASE[0])


def test_a_student_id_that_is_a_path_is_left_out_by_name_and_writes_nothing_outside(course, tmp_path):
    lms, entries = corpus.HOSTILE_LMS["student_id_is_a_path"]
    download = tmp_path / "bb.zip"
    download.write_bytes(hostile_zip(entries))
    done = run_intake(course, download, lms)
    assert "(no student)" in done.stdout and "numpy_cnn_.._attempt_" in report_for(done, "(no student)")
    assert sorted(p.name for p in course.iterdir()) == sorted(["autograder", "exercises", "solutions",
                                                               "nbgrader_config.py", "submitted"])
    assert sorted(p.name for p in (course / "submitted").iterdir()) == ["alice"]


def test_zip_entries_that_climb_out_are_read_by_name_and_never_unpacked(course, tmp_path):
    lms, entries = corpus.HOSTILE_LMS["zip_entries_climb_out"]
    download = tmp_path / "download" / "canvas.zip"
    download.parent.mkdir()
    download.write_bytes(hostile_zip(entries))
    run_intake(course, download, lms)
    assert sorted(submitted(course, "101")) == ["convolution.ipynb", "max_pooling.ipynb", "timestamp.txt"]
    assert not any(p.name == "escaped" for p in tmp_path.rglob("*")) and not Path("/absolute").exists()


def test_zips_are_opened_two_levels_deep_and_a_deeper_one_is_named(course, tmp_path):
    lms, entries = corpus.HOSTILE_LMS["zips_all_the_way_down"]
    download = tmp_path / "canvas.zip"
    download.write_bytes(hostile_zip(entries))
    done = run_intake(course, download, lms)
    assert "outer.zip/middle.zip/inner.zip (not a notebook)" in report_for(done, "101")
    assert "nothing written" in report_for(done, "101") and done.returncode == 1


def test_a_huge_upload_is_left_out_with_its_size_not_read(course, tmp_path):
    from autograder.nbgrader_io.lms_intake import MAX_UPLOAD_BYTES
    download = tmp_path / "canvas.zip"
    with zipfile.ZipFile(download, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("smithalice_101_9001_convolution.ipynb", b"0" * (MAX_UPLOAD_BYTES + 1))
        archive.writestr("smithalice_101_9001_max_pooling.ipynb", notebook_bytes("max_pooling", SOLVED))
    done = run_intake(course, download, "canvas")
    assert "convolution.ipynb (empty, or over 200 MiB)" in report_for(done, "101")
    assert sorted(submitted(course, "101")) == ["max_pooling.ipynb", "timestamp.txt"]


def test_a_link_in_an_unpacked_download_is_never_followed(course, tmp_path):
    folder = tmp_path / "unpacked"
    folder.mkdir()
    (folder / "smithalice_101_9001_convolution.ipynb").symlink_to("/etc/passwd")
    (folder / "smithalice_101_9001_max_pooling.ipynb").write_bytes(notebook_bytes("max_pooling", SOLVED))
    done = run_intake(course, folder, "canvas")
    assert sorted(submitted(course, "101")) == ["max_pooling.ipynb", "timestamp.txt"]
    assert "MISSING " in report_for(done, "101") and "convolution.ipynb" in report_for(done, "101")
