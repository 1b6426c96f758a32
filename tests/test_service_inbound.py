"""What the grading service reads that others could have written: the exchange's inbound folder and its state file.

The inbound folder is written by every student (``autograder/nbgrader_io/inbound_watch.py``:
names and ``lstat`` only, owners checked as collect checks them, a bound on entries, a folder
taken only once it is still); the state file by whoever can write the course
(``autograder/service_state.py``: fail closed, every malformed file means a fresh scan).  The
"received, not graded" page is the service's own text, escaped all the same
(``autograder/nbgrader_io/received_page.py``).  These need no exchange of real users; the whole
service with one is ``tests/test_service_exchange.py``.
"""
import json
import os
import pwd
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder import service_state
from autograder.nbgrader_io import inbound_watch
from autograder.nbgrader_io.inbound_watch import InboundWatch
from autograder.nbgrader_io.received_page import write_received_pages
from autograder.service_state import StudentState, load_state, save_state

ASSIGNMENT = "numpy_cnn"
LATER = 10.0          # seconds past every change: every folder has settled


def submission(inbound, student, stamp="2026-12-01 10:00:00.000000 UTC", random="r", assignment=ASSIGNMENT):
    folder = inbound / f"{student}+{assignment}+{stamp}+{random}"
    folder.mkdir()
    (folder / "convolution.ipynb").write_text("{}")
    return folder


def watch(inbound, said, check_owner=True):
    return InboundWatch(inbound, ASSIGNMENT, check_owner, said.append)


def test_each_student_with_new_folders_is_one_arrival_at_the_latest_change_oldest_first(tmp_path):
    first = submission(tmp_path, "alice", random="1")
    time.sleep(0.02)
    submission(tmp_path, "bob")
    time.sleep(0.02)
    last = submission(tmp_path, "alice", random="2")
    submission(tmp_path, "alice", assignment="other_homework")
    said = []
    arrivals = watch(tmp_path, said).scan({}, time.time() + LATER)
    assert [(a.student, a.folders) for a in arrivals] == [("bob", 1), ("alice", 2)]
    assert arrivals[1].changed_at == os.lstat(last).st_ctime
    handled = {"alice": os.lstat(first).st_ctime}
    assert [(a.student, a.folders) for a in watch(tmp_path, said).scan(handled, time.time() + LATER)] == [
        ("bob", 1), ("alice", 1)]
    handled = {"alice": os.lstat(last).st_ctime, "bob": time.time() + 1}
    assert watch(tmp_path, said).scan(handled, time.time() + LATER) == [] and said == []


def test_a_folder_still_being_written_is_not_taken_until_it_has_been_still_for_a_second(tmp_path):
    folder = submission(tmp_path, "alice")
    changed = os.lstat(folder).st_ctime
    assert watch(tmp_path, []).scan({}, changed + 0.2) == []
    assert [a.student for a in watch(tmp_path, []).scan({}, changed + inbound_watch.SETTLE_S)] == ["alice"]


def test_links_files_and_names_that_are_no_student_are_ignored_said_once_and_left_in_place(tmp_path):
    target = submission(tmp_path, "bob")
    (tmp_path / f"carol+{ASSIGNMENT}+t+link").symlink_to(target)
    (tmp_path / f"dave+{ASSIGNMENT}+t+file").write_text("x")
    submission(tmp_path, "eve\n[pass] forged\x1b[2J" + "x" * 150)
    os.mkfifo(tmp_path / f"fred+{ASSIGNMENT}+t+fifo")
    said = []
    seeing = watch(tmp_path, said)
    for _ in range(2):
        assert [a.student for a in seeing.scan({}, time.time() + LATER)] == ["bob"]
    assert len(said) == 4 and all("it stays in the exchange" in line for line in said)
    assert sum("not a folder (a link or a file)" in line for line in said) == 3
    [odd] = [line for line in said if "plain folder name" in line]
    assert "\n" not in odd and "\x1b" not in odd and len(odd) < 250
    assert len(list(tmp_path.iterdir())) == 5


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another user needs root")
def test_a_folder_in_a_classmates_name_owned_by_another_user_is_ignored_unless_owners_are_not_checked(tmp_path):
    forged = submission(tmp_path, "alice")
    nobody = pwd.getpwnam("nobody")
    os.chown(forged, nobody.pw_uid, nobody.pw_gid)
    said = []
    assert watch(tmp_path, said).scan({}, time.time() + LATER) == []
    assert said == [f"inbound: ignored {forged.name!r}: it names alice but another user owns it; it stays in the "
                    "exchange"]
    assert [a.student for a in watch(tmp_path, [], check_owner=False).scan({}, time.time() + LATER)] == ["alice"]


def test_a_scan_reads_a_bounded_number_of_names_and_says_so_once(tmp_path, monkeypatch):
    monkeypatch.setattr(inbound_watch, "MAX_ENTRIES", 5)
    for number in range(9):
        submission(tmp_path, f"s{number}")
    said = []
    seeing = watch(tmp_path, said)
    for _ in range(2):
        assert len(seeing.scan({}, time.time() + LATER)) == 5
    assert len(said) == 1 and "over 5 entries" in said[0]


# ---------------------------------------------------------------------------
# The state file
# ---------------------------------------------------------------------------

def test_the_state_is_written_whole_and_read_back_equal(tmp_path):
    path = tmp_path / ".service" / "numpy_cnn.json"
    students = {"alice": StudentState(12.5, [1.0, 2.0], "checks"), "bob": StudentState(3.0, [], "")}
    save_state(path, ASSIGNMENT, students)
    assert load_state(path, ASSIGNMENT) == (students, "")
    assert [p.name for p in path.parent.iterdir()] == ["numpy_cnn.json"]      # no temporary file left
    assert load_state(tmp_path / "missing.json", ASSIGNMENT) == ({}, "")


def sound():
    return {"format": service_state.STATE_FORMAT, "assignment": ASSIGNMENT,
            "students": {"alice": {"seen_through": 1.0, "graded_at": [1.0], "details": "checks"}}}


@pytest.mark.parametrize("spoil, why", [
    (lambda d: d.update(format="autograder-service-state/0"), "not this format"),
    (lambda d: d.update(assignment="other"), "not this assignment"),
    (lambda d: d.update(extra=1), "not a state file"),
    (lambda d: d["students"].update({"../x": d["students"]["alice"]}), "not a plain folder name"),
    (lambda d: d["students"]["alice"].update(seen_through=-1.0), "wrong type"),
    (lambda d: d["students"]["alice"].update(seen_through=True), "wrong type"),
    (lambda d: d["students"]["alice"].update(details="everything"), "wrong type"),
    (lambda d: d["students"]["alice"].update(graded_at=[1.0] * (service_state.MAX_TIMES + 1)), "at most"),
    (lambda d: d["students"]["alice"].update(graded_at="1.0"), "at most"),
    (lambda d: d["students"].update(alice=[]), "not one the service writes"),
])
def test_a_state_that_is_not_exactly_the_services_is_not_used_and_says_why(tmp_path, spoil, why):
    document = sound()
    spoil(document)
    path = tmp_path / "state.json"
    path.write_text(json.dumps(document))
    students, problem = load_state(path, ASSIGNMENT)
    assert students == {} and why in problem


def test_a_state_that_is_a_link_a_fifo_too_large_or_not_json_is_not_used(tmp_path, monkeypatch):
    real = tmp_path / "real.json"
    real.write_text(json.dumps(sound()))
    assert load_state(real, ASSIGNMENT)[0]
    (tmp_path / "link.json").symlink_to(real)
    os.mkfifo(tmp_path / "fifo.json")
    (tmp_path / "nan.json").write_text(json.dumps(sound()).replace("1.0]", "NaN]"))
    (tmp_path / "deep.json").write_text("[" * 100_000)
    monkeypatch.setattr(service_state, "MAX_STATE_BYTES", 50)
    for name in ("link.json", "fifo.json", "real.json"):
        students, problem = load_state(tmp_path / name, ASSIGNMENT)
        assert students == {} and problem, name
    monkeypatch.undo()
    for name in ("nan.json", "deep.json"):
        students, problem = load_state(tmp_path / name, ASSIGNMENT)
        assert students == {} and problem, name


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300) | st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=20).map(lambda value: json.dumps(value).encode()))
def test_no_bytes_make_reading_the_state_raise(data):
    import tempfile
    with tempfile.NamedTemporaryFile(suffix=".json") as handle:
        handle.write(data)
        handle.flush()
        students, problem = load_state(handle.name, ASSIGNMENT)
    assert isinstance(students, dict) and (problem or students == {} or all(
        isinstance(entry, StudentState) for entry in students.values()))


# ---------------------------------------------------------------------------
# The "received, not graded" page
# ---------------------------------------------------------------------------

def test_the_received_page_replaces_the_folder_with_one_escaped_page_per_notebook_and_the_time(tmp_path):
    folder = tmp_path / "feedback" / "bob" / ASSIGNMENT
    folder.mkdir(parents=True)
    (folder / "submission_secret.txt").write_text("an earlier submission's")
    (folder / "autograder_feedback.txt").write_text("an earlier grade")
    write_received_pages(folder, ["convolution", "convnet"], "2026-12-01 10:00:00.000000 UTC",
                         "Received <b>", ["made at <script>alert(1)</script>"])
    assert sorted(p.name for p in folder.iterdir()) == ["convnet.html", "convolution.html", "timestamp.txt"]
    page = (folder / "convolution.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "Received &lt;b&gt;" in page
    assert "http" not in page.replace("http-equiv", "") and "<link" not in page
    assert (folder / "timestamp.txt").read_text() == "2026-12-01 10:00:00.000000 UTC"
