"""The trusted side reads a submitted folder with bounded cost and never follows a link.

Everything here attacks :mod:`autograder.nbgrader_io.submission` and
:mod:`autograder.nbgrader_io.cells` with what a student controls: the files
under ``submitted/`` (links, odd files, huge or malformed notebooks, a forged
``timestamp.txt``) and every value inside a notebook.  Each case must end as a
note and a flag for that student, never as an exception in the grader, and no
note may quote a file's content.
"""
import copy
import json
import os
import time
from pathlib import Path

import nbformat
import pytest

import corpus
from autograder.checks.parts import assignment_parts
from autograder.nbgrader_io import autograded, cells, release, submission
from autograder.nbgrader_io.submission import SubmittedFolder, read_submission, read_submitted_folder

REPO = Path(__file__).resolve().parents[1]
RELEASE_DIR = REPO / "exercises" / "numpy_cnn"
RELEASE = release.load_release(RELEASE_DIR, assignment_parts("numpy_cnn"))
NAMES = list(RELEASE.notebooks)
SECRETISH = "TOPSECRET-4f2a9c"


def submitted_folder(tmp_path, student="alice"):
    folder = tmp_path / "submitted" / student / "numpy_cnn"
    folder.mkdir(parents=True)
    return folder


def release_bytes(name):
    return (RELEASE_DIR / f"{name}.ipynb").read_bytes()


def test_a_regular_folder_is_read_whole_and_parses(tmp_path):
    folder = corpus.write_submission(corpus.make_course(tmp_path / "course", REPO), "alice", "numpy_cnn", {})
    read = read_submitted_folder(folder, NAMES)
    assert sorted(read.files) == sorted(NAMES) and read.refused == {}
    assert read.timestamp == "2026-03-01 12:00:00"
    parsed = read_submission(read, RELEASE)
    assert sorted(parsed.notebooks) == sorted(NAMES) and parsed.timestamp == read.timestamp


@pytest.mark.parametrize("what", ["notebook", "timestamp", "assignment_folder", "student_folder"])
def test_symbolic_links_are_never_followed(tmp_path, what):
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRETISH + "\n")
    victim = submitted_folder(tmp_path, "victim")
    victim_files = {}
    for name in NAMES:
        (victim / f"{name}.ipynb").write_bytes(release_bytes(name))
        victim_files[name] = release_bytes(name)
    if what in ("assignment_folder", "student_folder"):
        base = tmp_path / "submitted"
        if what == "student_folder":
            (base / "mallory").symlink_to(base / "victim")
        else:
            (base / "mallory").mkdir()
            (base / "mallory" / "numpy_cnn").symlink_to(victim)
        read = read_submitted_folder(base / "mallory" / "numpy_cnn", NAMES)
        assert read.files == {} and set(read.refused) == {f"{n}.ipynb" for n in NAMES}
    else:
        folder = submitted_folder(tmp_path, "mallory")
        for name in NAMES:
            (folder / f"{name}.ipynb").write_bytes(release_bytes(name))
        if what == "notebook":
            (folder / f"{NAMES[0]}.ipynb").unlink()
            (folder / f"{NAMES[0]}.ipynb").symlink_to(secret)
        else:
            (folder / "timestamp.txt").symlink_to(secret)
        read = read_submitted_folder(folder, NAMES)
        refused = f"{NAMES[0]}.ipynb" if what == "notebook" else "timestamp.txt"
        assert list(read.refused) == [refused] and "symbolic link" in read.refused[refused]
    parsed = read_submission(read, RELEASE)
    assert SECRETISH not in repr(parsed.notes + parsed.flags) and SECRETISH not in repr(read)
    assert any("symbolic link" in note for note in parsed.notes)


def test_odd_files_too_large_files_and_fifos_are_refused_without_blocking(tmp_path):
    folder = submitted_folder(tmp_path)
    os.mkfifo(folder / f"{NAMES[0]}.ipynb")      # opening it for reading would block forever
    (folder / f"{NAMES[1]}.ipynb").mkdir()
    with open(folder / f"{NAMES[2]}.ipynb", "wb") as handle:
        handle.truncate(cells.MAX_NOTEBOOK_BYTES + 10)
    (folder / "timestamp.txt").write_text("9" * 5000)
    started = time.monotonic()
    read = read_submitted_folder(folder, NAMES)
    assert time.monotonic() - started < 5
    assert set(read.refused) == {f"{n}.ipynb" for n in NAMES[:3]} | {"timestamp.txt"}
    assert "too large" in read.refused[f"{NAMES[2]}.ipynb"] and read.timestamp == ""
    parsed = read_submission(read, RELEASE)
    assert not set(parsed.notebooks) & set(NAMES[:3])
    assert all(f"{n}.ipynb was unreadable" in parsed.missing[p.name]
               for n in NAMES[:3] for p in RELEASE.notebooks[n].parts)


@pytest.mark.parametrize("text", ["next tuesday", "2026-13-45 99:99:99", "2026-03-01 12:00:00 /etc/passwd",
                                  "1" * 60, "2026-03-01\n[pass] 12:00:00", ""])
def test_a_forged_timestamp_is_refused_and_noted(tmp_path, text):
    folder = submitted_folder(tmp_path)
    (folder / "timestamp.txt").write_text(text)
    read = read_submitted_folder(folder, NAMES)
    assert read.timestamp == ""
    if text:
        assert "timestamp.txt" in read.refused
        assert any("timestamp.txt was not used" in note for note in read_submission(read, RELEASE).notes)


def test_an_unreadable_notebook_note_quotes_nothing_of_the_file():
    for data in [SECRETISH.encode(), b'{"cells": "' + SECRETISH.encode() + b'"', b"\xff" + SECRETISH.encode(),
                 json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [SECRETISH]}).encode()]:
        parsed = read_submission(SubmittedFolder("alice", {NAMES[0]: data}), RELEASE)
        assert any("unreadable" in note for note in parsed.notes)
        assert SECRETISH not in " ".join(parsed.notes + parsed.flags)


def test_score_text_in_outputs_is_found_in_linear_time():
    assert submission.looks_like_a_score("max_pool_forward_naive: 5 / 5 points")
    assert submission.looks_like_a_score("4.5/10 points")
    assert not submission.looks_like_a_score("5 of 5 points") and not submission.looks_like_a_score("points")
    hostile = "1" * 2_000_000 + " / " + "2" * 2_000_000 + " point"
    started = time.monotonic()
    assert not submission.looks_like_a_score(hostile)
    assert not submission.looks_like_a_score(("9" * 40 + "points") * 20_000)
    assert not submission.looks_like_a_score("points" * 1_000_000)
    assert time.monotonic() - started < 2
    assert not submission.looks_like_a_score("1. / 2 points") and submission.looks_like_a_score("x1/2points")


def test_a_fake_score_behind_megabytes_of_padding_is_flagged():
    notebook = nbformat.reads(release_bytes(NAMES[0]).decode(), as_version=4)
    code = next(cell for cell in notebook.cells if cell.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="x" * 3_000_000),
                    nbformat.v4.new_output("stream", name="stdout", text="conv_forward_naive: 10 / 10 points\n")]
    assert "outputs contain text that looks like an autograder score" in " ".join(
        submission.integrity_flags(notebook, RELEASE.notebooks[NAMES[0]]))


def test_a_notebook_full_of_digits_is_checked_in_bounded_time():
    notebook = nbformat.reads(release_bytes(NAMES[0]).decode(), as_version=4)
    notebook.cells[0]["cell_type"] = "code"
    notebook.cells[0]["outputs"] = [nbformat.v4.new_output("stream", name="stdout", text="7" * 20_000_000)]
    notebook.cells[0]["execution_count"] = 1
    started = time.monotonic()
    parsed = read_submission(SubmittedFolder("alice", {NAMES[0]: nbformat.writes(notebook).encode()}), RELEASE)
    assert time.monotonic() - started < 20
    assert NAMES[0] in parsed.notebooks


# ---------------------------------------------------------------------------
# Fuzz: malformed values everywhere the grader reads
# ---------------------------------------------------------------------------

ODD_VALUES = [None, 5, 2.5, "text", [], [1, "a"], {}, {"a": {"b": []}}, True, float("nan"), "x" * 300]


def mutations(notebook):
    """``(what, mutated JSON)`` for many malformed variants of a release notebook's JSON."""
    answer = next(i for i, c in enumerate(notebook["cells"]) if cells.is_answer_cell(c))
    test = next(i for i, c in enumerate(notebook["cells"]) if cells.is_test_cell(c))
    plain = next(i for i, c in enumerate(notebook["cells"]) if c["cell_type"] == "code"
                 and not cells.nbgrader_metadata(c))
    for value in ODD_VALUES:
        yield f"whole notebook = {value!r:.20}", value
        yield f"cells = {value!r:.20}", dict(notebook, cells=value)
        for index in (answer, test, plain):
            yield f"cell {index} = {value!r:.20}", _with(notebook, ["cells", index], value)
            for key in ("source", "metadata", "cell_type", "outputs", "execution_count", "id"):
                yield f"cell {index}.{key} = {value!r:.20}", _with(notebook, ["cells", index, key], value)
            yield f"cell {index} nbgrader = {value!r:.20}", _with(notebook, ["cells", index, "metadata", "nbgrader"], value)
            for key in ("grade_id", "points", "solution", "grade", "locked"):
                yield (f"cell {index} nbgrader.{key} = {value!r:.20}",
                       _with(notebook, ["cells", index, "metadata", "nbgrader", key], value))
            for output in ({"output_type": value}, {"output_type": "stream", "name": value, "text": "x"},
                           {"output_type": "stream", "name": "stdout", "text": value},
                           {"output_type": "execute_result", "data": value, "metadata": {}, "execution_count": 1},
                           {"output_type": "execute_result", "data": {"text/plain": value}, "metadata": {},
                            "execution_count": 1}, value):
                yield (f"cell {index} output {output!r:.40}",
                       _with(_with(notebook, ["cells", index, "cell_type"], "code"), ["cells", index, "outputs"],
                             [output]))


def _with(tree, path, value):
    tree = copy.deepcopy(tree)
    node = tree
    for key in path[:-1]:
        node = node.setdefault(key, {}) if isinstance(node, dict) else node[key]
    node[path[-1]] = value
    return tree


def test_no_malformed_notebook_makes_the_trusted_side_raise():
    """Hundreds of malformed notebooks built from the release; each is graded or noted unreadable."""
    checked = 0
    for name in NAMES:
        base = json.loads(release_bytes(name))
        for what, mutated in mutations(base):
            data = json.dumps(mutated).encode()
            try:
                parsed = read_submission(SubmittedFolder("fuzz", {name: data}), RELEASE)
                for nb_name, notebook in parsed.notebooks.items():
                    release_nb = RELEASE.notebooks[nb_name]
                    autograded.build(release_nb, notebook, parsed.located[nb_name], {})
                    submission.claimed_pass(notebook, release_nb.parts[0].test_cell)
            except Exception as error:  # noqa: BLE001 - the assertion names the case
                pytest.fail(f"{name}: {what}: {type(error).__name__}: {error}")
            if name not in parsed.notebooks:
                assert any(f"{name}.ipynb: unreadable" in note for note in parsed.notes), what
            checked += 1
    assert checked > 1000


def test_a_megabyte_answer_cell_is_not_parsed_in_the_grader_and_costs_little_memory():
    """A list literal of 5 MB: parsed by the trusted side it took 2.4 GiB and 17 s; now its sandbox's business."""
    import tracemalloc
    notebook = nbformat.reads(release_bytes("convolution").decode(), as_version=4)
    answer = cells.find_cell(notebook, "conv_forward_naive")
    answer.source = "TABLE = [" + "0," * 2_500_000 + "]\n" + corpus.solution_answers(
        REPO / "solutions" / "numpy_cnn")["conv_forward_naive"]
    data = nbformat.writes(notebook).encode()
    tracemalloc.start()
    started = time.monotonic()
    parsed = read_submission(SubmittedFolder("big", {"convolution": data}), RELEASE)
    seconds, (_, peak) = time.monotonic() - started, tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert seconds < 10 and peak < 400 * 2**20, (seconds, peak)
    program = parsed.programs["conv_forward_naive"]
    assert any("TABLE = [" in source for _name, source in program.cells)    # still graded, in its sandbox


def test_notebooks_over_the_submissions_total_are_refused_and_the_first_ones_read(tmp_path):
    """Each notebook under its own limit, together over the submission's: the ones that fit are read."""
    folder = submitted_folder(tmp_path)
    third = submission.MAX_SUBMISSION_BYTES // 3 + 1
    for name in NAMES:
        (folder / f"{name}.ipynb").write_bytes(b" " * third)
    read = read_submitted_folder(folder, NAMES)
    assert len(read.files) == 2 and sum(map(len, read.files.values())) <= submission.MAX_SUBMISSION_BYTES
    assert sorted(read.refused) == sorted(f"{name}.ipynb" for name in NAMES[2:])
    assert all("over 50 MB in all" in why for why in read.refused.values())
