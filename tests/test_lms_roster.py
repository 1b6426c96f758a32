"""The roster (``autograder/nbgrader_io/roster.py``): read exactly as documented, or refused one line per problem.

Its cells come from an LMS (and display names from students), so besides the honest files an
instructor saves from a spreadsheet, each class of hostile input is tried: size, encodings and byte
order marks, invisible and control characters, formulas, ids that are paths, collisions that differ
only in case, and broken CSV.  Hypothesis then writes arbitrary text into every cell: the reader
returns exactly the cells it was given or refuses with short, printable lines, and never lets an id
that is not a safe folder name through.
"""
import codecs
import csv
import io
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autograder.nbgrader_io import roster as roster_module
from autograder.nbgrader_io.gradebook import STUDENT_ID
from autograder.nbgrader_io.roster import COLUMNS, RosterError, parse_roster, read_roster

HONEST = ("nbgrader_id,name,canvas_user_id,canvas_sis_user_id,moodle_idnumber,moodle_email,blackboard_username\r\n"
          'alice,"Smith, Alice",101,S-0101,M0101,alice@example.edu,asmith\r\n'
          'bob,"Jones, ""Bobby"" Bob",102,,M0102,,bjones\r\n'
          ",,,,,,\r\n"
          "jose,Jos\u00e9 D\u00edaz,103,S-0103,,jose@example.edu,\r\n")
SETTINGS = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


def problems_of(data):
    with pytest.raises(RosterError) as refused:
        parse_roster(data)
    return refused.value.problems


def test_an_honest_roster_is_read_cell_for_cell_skipping_empty_rows():
    roster = parse_roster(HONEST.encode())
    assert [entry.nbgrader_id for entry in roster.entries] == ["alice", "bob", "jose"]
    assert roster.entries[2].name == "Jos\u00e9 D\u00edaz" and roster.entries[1].canvas_sis_user_id == ""
    assert roster.entries[0].name == "Smith, Alice" and roster.entries[1].name == 'Jones, "Bobby" Bob'
    assert roster.for_download_id("canvas", "102").nbgrader_id == "bob"
    assert roster.for_download_id("blackboard", "asmith").nbgrader_id == "alice"
    assert roster.for_download_id("canvas", "999") is None


def test_an_nbgrader_id_that_is_not_a_safe_folder_name_is_refused_with_its_line():
    assert problems_of(HONEST.replace("jose,", "Jos\u00e9-1,").encode()) == [
        "roster roster.csv line 5, column nbgrader_id: 'Jos\u00e9-1' is not a safe folder name (ASCII letters, "
        "digits and ._@-, not starting with . or -)"]
    for bad in ("../alice", "a/b", ".hidden", "-rf", "a b", "con\u0301", "x" * 101, "_x"):
        text = f"nbgrader_id,canvas_user_id\nalice,101\n{bad},102\n"
        assert "column nbgrader_id" in problems_of(text.encode())[0], bad


def test_excels_utf8_byte_order_mark_is_read_and_utf16_or_other_encodings_are_refused_with_what_to_do():
    honest = HONEST
    assert len(parse_roster(codecs.BOM_UTF8 + honest.encode()).entries) == 3
    for encoding in ("utf-16", "utf-32"):
        assert problems_of(honest.encode(encoding)) == [
            f"roster roster.csv: save it as CSV in UTF-8, not {encoding.upper()} (Excel: Save As, CSV UTF-8)"]
    assert problems_of(honest.encode("cp1252")) == [
        "roster roster.csv line 5: not UTF-8; save the file as CSV UTF-8 (Excel: Save As, CSV UTF-8)"]


@pytest.mark.parametrize("cell, says", [
    ("ali\u202ece", "U+202E"), ("alice\u200b", "U+200B"), ("\ufeffalice", "U+FEFF"), ("ali\x00ce", "U+0000"),
    ("ali\x1b[2Jce", "U+001B"), ('"ali\nce"', "U+000A"), ("ali\u2028ce", "U+2028"), (" alice", "space"),
    ("=HYPERLINK(\"http://x\")", "formula"), ("@SUM(1)", "formula"), ("+1", "formula")])
def test_invisible_characters_control_characters_and_formulas_are_refused_in_any_cell(cell, says):
    for column in ("nbgrader_id", "name"):
        row = {"nbgrader_id": "alice", "name": "Alice"}
        row[column] = cell
        text = f"nbgrader_id,name\n{row['nbgrader_id']},{row['name']}\n"
        found = problems_of(text.encode())
        assert len(found) == 1 and f"column {column}:" in found[0] and says in found[0], found


def test_ids_that_collide_ignoring_case_are_refused_each_naming_the_first_line():
    text = ("nbgrader_id,canvas_user_id,blackboard_username,moodle_email\n"
            "alice,101,asmith,a@x.edu\nAlice,102,ASmith,A@X.edu\nbob,101,bjones,b@x.edu\n")
    assert problems_of(text.encode()) == [
        "roster roster.csv line 3, column nbgrader_id: 'Alice' is already on line 2 (ignoring case); each student once",
        "roster roster.csv line 4, column canvas_user_id: '101' is already on line 2 (ignoring case); each student once",
        "roster roster.csv line 3, column moodle_email: 'A@X.edu' is already on line 2 (ignoring case); "
        "each student once",
        "roster roster.csv line 3, column blackboard_username: 'ASmith' is already on line 2 (ignoring case); "
        "each student once"]


def test_lms_ids_must_have_their_systems_form():
    text = "nbgrader_id,canvas_user_id,moodle_participant_id,blackboard_username,moodle_email\na,\uff11\uff10,1_2,a b,nope\n"
    found = problems_of(text.encode())
    assert [line.split(": ")[0].rsplit(", ", 1)[1] for line in found] == [
        "column canvas_user_id", "column moodle_participant_id", "column blackboard_username", "column moodle_email"]


@pytest.mark.parametrize("text, says", [
    ("", "empty; its first row names the columns"),
    ("name,canvas_user_id\nAlice,101\n", "no nbgrader_id column"),
    ("nbgrader_id,student_id\nalice,1\n", "unknown column(s) 'student_id'; the columns are nbgrader_id, name"),
    ("nbgrader_id,nbgrader_id\nalice,alice\n", "column(s) named twice: nbgrader_id"),
    ("nbgrader_id,name\nalice\n", "line 2: 1 cells, but the header names 2"),
    ('nbgrader_id,name\nalice,"Ali"ce\n', "line 2: not CSV"),
])
def test_a_file_that_is_not_a_roster_is_refused_with_what_the_format_is(text, says):
    found = problems_of(text.encode())
    assert any(says in line for line in found), found


def test_size_rows_and_cells_are_bounded_before_and_while_reading(tmp_path, monkeypatch):
    path = tmp_path / "roster.csv"
    path.write_bytes(b"nbgrader_id\n" + b"a\n" * (roster_module.MAX_ROSTER_BYTES // 2))
    started = time.perf_counter()
    with pytest.raises(RosterError) as refused:
        read_roster(path)
    assert refused.value.problems == ["roster roster.csv: over 8 MiB; a roster is one short row per student: "
                                      "check the file"]
    assert time.perf_counter() - started < 2
    monkeypatch.setattr(roster_module, "MAX_ROWS", 3)
    rows = "".join(f"s{i}\n" for i in range(5))
    assert problems_of(f"nbgrader_id\n{rows}".encode()) == [
        "roster roster.csv: over 3 students; split the class into several rosters"]
    assert "over 255 characters" in problems_of(f"nbgrader_id,name\na,{'x' * 256}\n".encode())[0]


def test_many_problems_are_listed_up_to_a_bound_then_counted():
    rows = "".join(f"../s{i},x\n" for i in range(30))
    found = problems_of(f"nbgrader_id,canvas_user_id\n{rows}".encode())
    assert len(found) == 21 and found[-1] == "roster roster.csv: 40 more problem(s) not listed"


def test_a_roster_that_cannot_be_opened_or_is_no_file_is_one_line_naming_it_and_never_blocks(tmp_path):
    import os
    with pytest.raises(RosterError) as refused:
        read_roster(tmp_path / "missing.csv")
    assert refused.value.problems == ["roster missing.csv: cannot be read (No such file or directory); "
                                      "give the roster's path"]
    os.mkfifo(tmp_path / "fifo.csv")
    started = time.perf_counter()
    for path in (tmp_path / "fifo.csv", tmp_path):
        with pytest.raises(RosterError) as refused:
            read_roster(path)
        assert refused.value.problems[0].startswith(f"roster {path.name}: ")
    assert time.perf_counter() - started < 2


CELLS = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12) | st.sampled_from(
    ["alice", "101", "a@b.edu", "../x", "=1+1", "\ufeff", "\u202e", "A", "a", " ", '"', ",", "\r\n", ""])


@SETTINGS
@given(st.lists(st.tuples(CELLS, CELLS, CELLS), min_size=0, max_size=6))
def test_any_cells_are_read_back_exactly_or_refused_in_short_printable_lines(rows):
    buffer = io.StringIO()
    csv.writer(buffer).writerows([("nbgrader_id", "canvas_user_id", "name"), *rows])
    try:
        roster = parse_roster(buffer.getvalue().encode("utf-8"))
    except RosterError as refused:
        assert refused.problems and all(line.startswith("roster roster.csv") and line.isprintable()
                                        and len(line) < 400 for line in refused.problems), refused.problems
        return
    kept = [row for row in rows if any(row)]
    assert [(e.nbgrader_id, e.canvas_user_id, e.name) for e in roster.entries] == kept
    assert all(STUDENT_ID.fullmatch(e.nbgrader_id) for e in roster.entries)
    folded = [e.nbgrader_id.casefold() for e in roster.entries]
    assert len(folded) == len(set(folded))


@SETTINGS
@given(st.binary(max_size=300))
def test_any_bytes_are_a_roster_or_a_roster_error(data):
    try:
        roster = parse_roster(b"nbgrader_id," + ",".join(COLUMNS[1:]).encode() + b"\n" + data)
    except RosterError as refused:
        assert all(line.isprintable() for line in refused.problems)
        return
    assert all(STUDENT_ID.fullmatch(entry.nbgrader_id) for entry in roster.entries)


def test_a_roster_of_the_largest_class_is_read_in_seconds():
    rows = "".join(f"s{i},Student {i},{i},S-{i},{i},s{i}@example.edu,u{i}\n" for i in range(roster_module.MAX_ROWS))
    data = ("nbgrader_id,name,canvas_user_id,canvas_sis_user_id,moodle_participant_id,moodle_email,"
            "blackboard_username\n" + rows).encode()
    started = time.perf_counter()
    roster = parse_roster(data)
    seconds = time.perf_counter() - started
    print(f"\n{len(data) / 2**20:.1f} MiB, {len(roster.entries)} students read in {seconds:.2f} s")
    assert len(roster.entries) == roster_module.MAX_ROWS and seconds < 5
