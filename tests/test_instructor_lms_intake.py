"""``python -m autograder intake``: Canvas, Blackboard and Moodle bulk downloads, as real zip files.

Each layout is built the way the system names its files: loose notebooks, a zip per student,
notebooks nested in folders inside the zip, archiver clutter, resubmission suffixes, several
attempts, a notebook in two places, files that are not notebooks.  Every student's folder must
hold exactly the release's notebooks (the right version of each) and the submission time in UTC,
and every notebook not taken must be named in the report.  The slow test grades what was collected.
"""
import bz2
import contextlib
import csv
import functools
import io
import os
import struct
import subprocess
import sys
import time
import tracemalloc
import zipfile
import zlib
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
    """A zip of ``entries`` from ``corpus.HOSTILE_LMS``, each value resolved by :func:`hostile_bytes`."""
    return zip_bytes({path: hostile_bytes(path, value) for path, value in entries.items()})


def hostile_bytes(path, value):
    """NOTEBOOK becomes a solved notebook, Zeros its zero bytes, a dict a zip, Crafted a crafted zip."""
    if value is corpus.NOTEBOOK:                  # marked with its own path: whose it is shows in any folder
        return notebook_bytes(notebook_name(path), SOLVED, marker=ascii(path))
    if isinstance(value, corpus.Zeros):
        return bytes(value.size)
    if isinstance(value, dict):
        return hostile_zip(value)
    if isinstance(value, corpus.Crafted):
        return crafted_zip(value.how, {name: inner if isinstance(inner, corpus.Zeros) else hostile_bytes(name, inner)
                                       for name, inner in value.entries.items()})
    return value


DOS_TIME, DOS_DATE = (9 << 11) | (15 << 5) | 21, ((2026 - 1980) << 9) | (11 << 5) | 30   # 2026-11-30 09:15:42


@functools.lru_cache(maxsize=None)
def deflated_zeros(size):
    """(raw deflate of ``size`` zero bytes, their CRC): made once, however many entries hold them."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk, packed, crc = bytes(2**20), [], 0
    for start in range(0, size, len(chunk)):
        piece = chunk[:min(len(chunk), size - start)]
        packed.append(packer.compress(piece))
        crc = zlib.crc32(piece, crc)
    return b"".join(packed) + packer.flush(), crc


def deflated(data):
    if isinstance(data, corpus.Zeros):
        return (*deflated_zeros(data.size), data.size)
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush(), zlib.crc32(data), len(data)


def bzip2ed(data):
    data = bytes(data.size) if isinstance(data, corpus.Zeros) else data
    return bz2.compress(data), zlib.crc32(data), len(data)


def crafted_zip(how, entries):
    """A zip of ``entries`` written field by field (see ``corpus.Crafted`` for ``how``)."""
    if how.startswith("20000_entries"):
        entries = {**entries, **{f"padding/{i}.txt": b"" for i in range(20000)}}
    flags, method = (0x1 if how == "encrypted" else 0), {"deflate64": 9, "bzip2": 12}.get(how, zipfile.ZIP_DEFLATED)
    local, directory = io.BytesIO(), io.BytesIO()
    for name, data in entries.items():
        packed, crc, size = deflated(data) if how != "bzip2" else bzip2ed(data)
        size = {"declares_3_gib": 3 * 2**30, "declares_1000_bytes": 1000}.get(how, size)
        fields = struct.pack("<HHHHIII", flags, method, DOS_TIME, DOS_DATE, crc, len(packed), size)
        encoded, offset = name.encode("utf-8"), local.tell()
        local.write(b"PK\x03\x04" + struct.pack("<H", 20) + fields + struct.pack("<HH", len(encoded), 0) + encoded + packed)
        directory.write(b"PK\x01\x02" + struct.pack("<HH", 20, 20) + fields
                        + struct.pack("<HHHHHII", len(encoded), 0, 0, 0, 0, 0, offset) + encoded)
    count = 1 if how.endswith("counted_as_1") else len(entries)
    end = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, count, count, directory.tell(), local.tell(), 0)
    return local.getvalue() + directory.getvalue() + end


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
    assert "outer.zip/middle.zip/inner.zip (a zip nested more than 2 deep, not opened" in report_for(done, "101")
    assert "nothing written" in report_for(done, "101") and done.returncode == 1


def test_a_huge_notebook_is_left_out_with_its_size_not_read(course, tmp_path):
    download = tmp_path / "canvas.zip"
    with zipfile.ZipFile(download, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("smithalice_101_9001_convolution.ipynb", b"0" * (cells.MAX_NOTEBOOK_BYTES + 1))
        archive.writestr("smithalice_101_9001_max_pooling.ipynb", notebook_bytes("max_pooling", SOLVED))
    done = run_intake(course, download, "canvas")
    assert "convolution.ipynb (50 MiB expanded, over the notebook limit of 50 MiB: clear its outputs)" in \
        report_for(done, "101")
    assert sorted(submitted(course, "101")) == ["max_pooling.ipynb", "timestamp.txt"]


def test_a_link_in_an_unpacked_download_is_never_followed(course, tmp_path):
    folder = tmp_path / "unpacked"
    folder.mkdir()
    (folder / "smithalice_101_9001_convolution.ipynb").symlink_to("/etc/passwd")
    (folder / "smithalice_101_9001_max_pooling.ipynb").write_bytes(notebook_bytes("max_pooling", SOLVED))
    done = run_intake(course, folder, "canvas")
    assert sorted(submitted(course, "101")) == ["max_pooling.ipynb", "timestamp.txt"]
    assert "MISSING " in report_for(done, "101") and "convolution.ipynb" in report_for(done, "101")


def hostile_intake(course, tmp_path, case):
    """``python -m autograder intake`` of ``corpus.HOSTILE_LMS[case]``, with its peak traced memory and time."""
    lms, entries = corpus.HOSTILE_LMS[case]
    download = tmp_path / f"{case}.zip"
    download.write_bytes(hostile_zip(entries))
    tracemalloc.start()
    started = time.perf_counter()
    try:
        done = run_intake(course, download, lms)
        done.seconds, done.peak = time.perf_counter() - started, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return lms, done


def assert_classmates_collected(course, done, lms):
    """Each honest classmate's folder holds exactly their own notebooks, and their line says written."""
    for student, prefix in corpus.CLASSMATES[lms].items():
        files = submitted(course, student)
        assert sorted(files) == sorted(f"{name}.ipynb" for name in RELEASE) + ["timestamp.txt"], done.stdout
        for name in RELEASE:
            assert files[f"{name}.ipynb"] == notebook_bytes(name, SOLVED, marker=ascii(f"{prefix}{name}.ipynb"))
        assert report_for(done, student).endswith("; written") and "left out" not in report_for(done, student)
    assert "Traceback" not in done.stderr and done.returncode == 1


# (case, whose line, what it says): one hostile upload each, beside two honest classmates.
HOSTILE_UPLOADS = [
    ("blackboard_second_attempt_group", "mallory", "reads as another student's upload (bob)"),
    ("moodle_second_participant_group", "504", "Mallory Evil_504_assignsubmission_file_x_502_assignsubmission_file_"
                                               "convolution.ipynb (the student's own name for it reads as another "
                                               "student's upload (502)"),
    ("moodle_second_participant_group", "504", "/Bob Jones_502_assignsubmission_file_/max_pooling.ipynb (the student's "
                                               "own name for it reads as another student's upload (502)"),
    ("canvas_name_smuggles_an_id", "(no student)", "evil_102_104_9104_convolution.ipynb (its name reads as the "
                                                   "upload of students 102, 104"),
    ("canvas_accented_name_smuggles_an_id", "(no student)", "vil_102_104_9104_convolution.ipynb (its name reads as "
                                                            "the upload of students 102, 104"),
    ("zip_entry_named_as_a_classmate", "104", "numpy_cnn.zip/jonesbob_102_9002_convolution.ipynb (the student's own "
                                              "name for it reads as another student's upload (102)"),
    ("encrypted_zip", "104", "numpy_cnn.zip/numpy_cnn/convolution.ipynb (encrypted with a password: upload it "
                             "without one)"),
    ("encrypted_loose_notebook", "104", "work.zip/convolution.ipynb (encrypted with a password"),
    ("deflate64_zip", "104", "convnet.ipynb (compressed with Deflate64, which the intake does not read: zip it "
                             "again with ordinary Deflate"),
    ("bzip2_zip", "104", "convnet.ipynb (compressed with bzip2, which the intake does not read"),
    ("declares_gigabytes", "104", "convolution.ipynb (3.0 GiB expanded, over the notebook limit of 50 MiB"),
    ("directory_lies_small", "104", "convolution.ipynb (damaged: not a readable zip, or its data fails the zip's "
                                    "checksum"),
    ("expands_past_the_budget", "104", "part3.zip (64 MiB expanded, over the 7 MiB left of the upload's 200 MiB"),
    ("twenty_thousand_entries", "104", "numpy_cnn.zip (a zip of 20004 entries, over the 10000 left of the upload's "
                                       "10000: zip only the notebooks)"),
    ("entry_count_lies", "104", "numpy_cnn.zip (a zip of 20003 entries, over the 9999 left of the upload's 10000"),
]


@pytest.mark.parametrize("case, student, says", HOSTILE_UPLOADS, ids=lambda value: str(value)[:40])
def test_one_hostile_upload_is_left_out_for_its_student_and_every_classmate_is_collected(course, tmp_path,
                                                                                         case, student, says):
    lms, done = hostile_intake(course, tmp_path, case)
    assert says in report_for(done, student), done.stdout
    assert_classmates_collected(course, done, lms)
    assert sorted(p.name for p in (course / "submitted").iterdir()) == sorted(corpus.CLASSMATES[lms])


def test_a_later_attempt_named_inside_a_file_name_does_not_replace_the_students_own(course, tmp_path):
    lms, done = hostile_intake(course, tmp_path, "blackboard_second_attempt_group")
    assert submitted(course, "bob")["timestamp.txt"] == b"2026-11-30 09:00:00.000000 UTC\n"
    assert "earlier attempt" not in done.stdout


@pytest.mark.parametrize("case", ["directory_lies_small", "expands_past_the_budget", "declares_gigabytes",
                                  "twenty_thousand_entries", "entry_count_lies"])
def test_bomb_shaped_uploads_cost_bounded_time_and_memory(course, tmp_path, case):
    _lms, done = hostile_intake(course, tmp_path, case)
    # The largest read is one 64 MiB entry; inflating it holds about twice that for a moment (measured:
    # 129 MiB peak, 1.7 s; the others under 13 MiB and 3 s, tracing included).
    assert done.peak < 3 * 64 * 2**20 and done.seconds < 20, (done.peak / 2**20, done.seconds)


def test_a_file_name_cannot_forge_a_report_line_or_reverse_one(course, tmp_path):
    _lms, done = hostile_intake(course, tmp_path, "control_characters_in_a_name")
    lines = done.stdout.splitlines()
    assert all(line.startswith(("102,", "103,", "104", "(no student)", "collected ")) for line in lines), lines
    assert "\u202e" not in done.stdout and "x\\n102: convolution.ipynb <- forged; written\\u202e.ipynb" in done.stdout


def test_ids_that_differ_only_in_case_are_both_refused(course, tmp_path):
    _lms, done = hostile_intake(course, tmp_path, "usernames_differ_in_case")
    for student in ("Alice", "alice"):
        assert "differs from this one only in case" in report_for(done, f"{student},")
    assert sorted(p.name for p in (course / "submitted").iterdir()) == ["bob"]


def test_a_damaged_bulk_download_is_one_clear_error(course, tmp_path):
    download = canvas_download(tmp_path / "canvas.zip")
    data = download.read_bytes()
    last = data.rindex(b"PK\x01\x02")                               # the directory's last entry, unsigned
    download.write_bytes(data[:last] + b"XXXX" + data[last + 4:])
    done = run_intake(course, download, "canvas")
    assert done.returncode == 2 and "is not a readable zip" in done.stderr and "Traceback" not in done.stderr
    assert not (course / "submitted").exists()


def test_a_failed_write_leaves_no_half_written_folder_behind(course, tmp_path, monkeypatch):
    from autograder.nbgrader_io import lms_intake
    written = Path.write_text

    def disk_full(path, *args, **kwargs):
        if path.name == "timestamp.txt":
            raise OSError(28, "No space left on device")
        return written(path, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", disk_full)
    with pytest.raises(OSError):
        lms_intake.intake(course / "submitted", ASSIGNMENT, canvas_download(tmp_path / "canvas.zip"), "canvas",
                          BERLIN, RELEASE)
    assert [p.name for p in (course / "submitted").rglob("*")] == ["101"]     # the first student's parent only


def test_a_time_no_zip_can_hold_is_taken_as_the_earliest_and_stops_no_one(course, tmp_path):
    download = canvas_download(tmp_path / "canvas.zip")
    data = bytearray(download.read_bytes())
    first, = struct.unpack_from("<I", data, len(data) - 22 + 16)    # the end record's offset of the directory
    struct.pack_into("<H", data, first + 14, 0)                    # its first entry's date: month 0, day 0
    download.write_bytes(bytes(data))
    done = run_intake(course, download, "canvas")
    assert "Traceback" not in done.stderr and "collected 3 student(s)" in done.stdout, done.stdout + done.stderr


@pytest.mark.parametrize("limit, value, says", [("MAX_DOWNLOAD_ENTRIES", 7, "holds 8 files"),
                                                ("MAX_DOWNLOAD_BYTES", 1000, "of uploads, over the 1000 bytes")])
@pytest.mark.parametrize("unpacked", [False, True], ids=["zip", "folder"])
def test_a_bulk_download_over_its_budget_is_refused_before_any_student_is_read(course, tmp_path, monkeypatch,
                                                                              limit, value, says, unpacked):
    from autograder.nbgrader_io import upload_zips
    download = canvas_download(tmp_path / "canvas.zip")
    if unpacked:
        with zipfile.ZipFile(download) as archive:
            archive.extractall(tmp_path / "unpacked")
        download = tmp_path / "unpacked"
    monkeypatch.setattr(upload_zips, limit, value)
    done = run_intake(course, download, "canvas")
    assert done.returncode == 2 and says in done.stderr and "download the submissions in parts" in done.stderr
    assert not (course / "submitted").exists()


# ---------------------------------------------------------------------------
# With a roster: folders under nbgrader ids, an unmapped upload reported and never filed
# ---------------------------------------------------------------------------
ROSTER = ("nbgrader_id,canvas_user_id,moodle_participant_id,blackboard_username\n"
          "alice,101,501,alice\nbob,102,,bob\n")


def test_with_a_roster_each_upload_is_filed_under_its_nbgrader_id_and_an_unmapped_one_is_reported(course, tmp_path):
    (course / "roster.csv").write_text(ROSTER, encoding="utf-8")
    done = run_intake(course, canvas_download(tmp_path / "canvas.zip"), "canvas", "--roster", "roster.csv")
    assert done.returncode == 1, done.stdout + done.stderr
    assert sorted(p.name for p in (course / "submitted").iterdir()) == ["alice", "bob"]
    assert submitted(course, "alice")[f"{RELEASE[0]}.ipynb"] == notebook_bytes(RELEASE[0], SOLVED)
    assert report_for(done, "alice").startswith("alice (101 in the LMS), submitted 2026-11-30 23:59:58 CET")
    assert "bob (102 in the LMS)" in report_for(done, "bob")
    unmapped = report_for(done, "(not in the roster)")
    assert unmapped.startswith("(not in the roster) (103 in the LMS), submitted")
    assert all(name in unmapped for name in (f"leecarol_103_9003_{RELEASE[0]}-1.ipynb", "leecarol_103_9003_notes.txt"))
    assert "(roster.csv has no canvas_user_id 103: add the student's row to it and run intake again); " \
           "nothing written" in unmapped
    assert "look at: (not in the roster)" in done.stdout


def test_with_a_roster_blackboard_and_moodle_uploads_are_filed_under_nbgrader_ids(course, tmp_path):
    (course / "roster.csv").write_text(ROSTER.replace("alice,101,501,alice", "alice,101,502,alice"), encoding="utf-8")
    moodle = run_intake(course, moodle_download(tmp_path / "moodle.zip"), "moodle", "--roster", "roster.csv")
    assert sorted(p.name for p in (course / "submitted").iterdir()) == ["alice"]
    assert submitted(course, "alice")[f"{RELEASE[0]}.ipynb"] == notebook_bytes(RELEASE[0], SOLVED, "final")
    assert "roster.csv has no moodle_participant_id 501" in report_for(moodle, "(not in the roster) (501")
    blackboard = run_intake(course, blackboard_download(tmp_path / "bb.zip"), "blackboard", "--roster", "roster.csv",
                            "--update")
    assert report_for(blackboard, "alice").startswith("alice, submitted 2026-11-30 15:00:02 CET")
    assert submitted(course, "alice")[f"{RELEASE[0]}.ipynb"] == notebook_bytes(RELEASE[0], SOLVED, "second attempt")
    assert sorted(submitted(course, "bob")) == sorted(f"{name}.ipynb" for name in RELEASE[:-1]) + ["timestamp.txt"]


def test_a_roster_with_problems_stops_the_intake_before_anything_is_written_one_line_each(course, tmp_path):
    (course / "roster.csv").write_text(ROSTER + "../carol,103,,\nAlice,104,,\n", encoding="utf-8")
    done = run_intake(course, canvas_download(tmp_path / "canvas.zip"), "canvas", "--roster", "roster.csv")
    assert done.returncode == 2 and done.stdout == "" and not (course / "submitted").exists()
    assert done.stderr.splitlines() == [
        "error: roster roster.csv line 4, column nbgrader_id: '../carol' is not a safe folder name (ASCII letters, "
        "digits and ._@-, not starting with . or -)",
        "error: roster roster.csv line 5, column nbgrader_id: 'Alice' is already on line 2 (ignoring case); "
        "each student once"]
