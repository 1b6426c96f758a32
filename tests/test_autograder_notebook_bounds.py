"""A submitted notebook costs the trusted side a bounded amount, whatever its bytes hold.

The grader parses every submitted notebook in its own process, before any
sandbox starts.  A small file could make it build a huge object: a valid 7 MB
notebook of empty objects in its metadata took a grading process to 4.3 GiB and
47 s.  :func:`~autograder.nbgrader_io.json_bounds.json_shape` counts what the
bytes would build (values, objects and arrays, depth) before anything is built,
and :func:`~autograder.nbgrader_io.cells.parse_notebook` refuses a notebook over
the bounds, with a note that quotes none of it.  Here every place the grader
reads gets odd JSON (deep, wide, odd numbers, duplicate keys, a BOM, lone
surrogates, bytes that are not UTF-8): each notebook is either read whole, with
a layout the grader can rely on and that it can write back, or refused with a
NotebookError, in bounded time and memory.  The submission's time budget starts
before its notebooks are read.
"""
import base64
import copy
import json
import os
import time
import tracemalloc
from pathlib import Path

import nbformat
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from autograder import one_submission
from autograder.checks.parts import assignment_parts
from autograder.checks.runner import CheckResult, PartResult
from autograder.isolation.student import TimeLimits
from autograder.nbgrader_io import autograded, cells, json_bounds, release
from autograder.nbgrader_io.json_bounds import json_shape
from autograder.nbgrader_io.submission import SubmittedFolder, read_submission

REPO = Path(__file__).resolve().parents[1]
RELEASE_DIR = REPO / "exercises" / "numpy_cnn"
RELEASE = release.load_release(RELEASE_DIR, assignment_parts("numpy_cnn"))
NAME = "convolution"
BASE = json.loads((RELEASE_DIR / f"{NAME}.ipynb").read_bytes())
BASE_SHAPE = json_shape((RELEASE_DIR / f"{NAME}.ipynb").read_bytes())
MARKER = "TOPSECRET-77c1"
MiB = 1 << 20
# Modest and reproducible: the whole file runs in well under a minute.
PROPERTIES = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def measured(function, *args):
    """``(result or the exception raised, seconds, peak bytes allocated meanwhile)``."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        result = function(*args)
    except Exception as error:  # noqa: BLE001 - the caller asserts on its type
        result = error
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return result, seconds, peak


def with_slot(path, tree=None):
    """JSON text of ``tree`` (the release notebook) with ``@@`` where ``path`` points, for a fragment."""
    tree = copy.deepcopy(BASE if tree is None else tree)
    node = tree
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = "@@SLOT@@"
    return json.dumps(tree)


def notebook_bytes(fragment, path=("metadata", "x"), tree=None):
    return with_slot(path, tree).replace('"@@SLOT@@"', fragment, 1).encode("utf-8", "surrogatepass")


def repeated(item, count):
    return "[" + ",".join([item] * count) + "]"


def assert_refused_quoting_nothing(result):
    assert isinstance(result, cells.NotebookError), f"expected a NotebookError, got {result!r:.200}"
    assert MARKER not in str(result) and len(str(result)) < 300


# ---------------------------------------------------------------------------
# The pre-scan counts what json would build
# ---------------------------------------------------------------------------

TRICKY = st.sampled_from(['"', "\\", "{", "}", "[", "]", ",", ":", "a", "\u00e9", "\U0001f600", "\n", "\x00", "u"])
TEXT = st.text(TRICKY, max_size=6)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4), max_leaves=40)


def counted(value, depth=0):
    """``(values, containers, deepest)`` of a parsed JSON value, counted the slow way."""
    children = list(value.values()) if isinstance(value, dict) else value if isinstance(value, list) else None
    if children is None:
        return 1, 0, depth
    values, containers, deepest = 1, 1, depth + 1
    for child in children:
        child_values, child_containers, child_deepest = counted(child, depth + 1)
        values, containers = values + child_values, containers + child_containers
        deepest = max(deepest, child_deepest)
    return values, containers, deepest


@PROPERTIES
@given(JSON_VALUES, st.booleans(), st.sampled_from([None, 0, 2]), st.sampled_from([1, 2, 3, 5, 8, 64, 1 << 18]))
def test_the_pre_scan_counts_exactly_what_json_builds(value, ascii_only, indent, piece_bytes):
    data = json.dumps(value, ensure_ascii=ascii_only, indent=indent).encode("utf-8")
    original, json_bounds.CHUNK = json_bounds.CHUNK, piece_bytes      # pieces end anywhere, escapes too
    try:
        shape = json_shape(data)
    finally:
        json_bounds.CHUNK = original
    values, containers, deepest = counted(json.loads(data))
    assert (shape.containers, shape.depth) == (containers, deepest)
    # 1 + commas + containers: exact but for empty containers, which it counts as one value each.
    assert values <= shape.values <= values + containers


ESCAPES_AND_STRUCTURE = st.lists(st.sampled_from([b"\\", b'"', b"[", b"]", b"{", b"}", b",", b"a", b"\xff"]),
                                 max_size=60).map(b"".join)


@PROPERTIES
@given(st.binary(max_size=200) | ESCAPES_AND_STRUCTURE, st.sampled_from([1, 2, 3, 5, 1 << 18]))
@example(b'\\"', 1 << 18)        # a piece that is all escapes once they are removed
def test_the_pre_scan_reads_any_bytes_in_pieces_of_any_size(data, piece_bytes):
    original, json_bounds.CHUNK = json_bounds.CHUNK, piece_bytes
    try:
        shape = json_shape(data)
    finally:
        json_bounds.CHUNK = original
    assert shape.values >= 1 + shape.containers >= 1


def test_the_pre_scan_costs_under_a_few_milliseconds_on_a_course_notebook():
    for path in sorted(RELEASE_DIR.glob("*.ipynb")):
        data = path.read_bytes()
        timings = []
        for _ in range(21):
            started = time.perf_counter()
            json_shape(data)
            timings.append(time.perf_counter() - started)
        assert sorted(timings)[10] < 0.005, f"{path.name}: {sorted(timings)[10] * 1000:.1f} ms"


FIFTY_MB = cells.MAX_NOTEBOOK_BYTES - 16


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["one string", "short strings", "empty objects", "open brackets",
                                  "backslashes", "escaped quotes", "structure inside a string", "zeros"])
def test_the_pre_scan_reads_50_mb_of_anything_in_linear_time_and_small_memory(kind):
    unit, head, tail = {"one string": (b"a", b'["', b'"]'), "short strings": (b'"ab",', b"[", b'""]'),
                        "empty objects": (b"{},", b"[", b"{}]"), "open brackets": (b"[", b"", b""),
                        "backslashes": (b"\\\\", b'["', b'"]'), "escaped quotes": (b'\\"', b'["', b'"]'),
                        "structure inside a string": (b"{[,:", b'["', b'"]'), "zeros": (b"0,", b"[", b"0]")}[kind]
    data = head + unit * ((FIFTY_MB - len(head) - len(tail)) // len(unit)) + tail
    shape, seconds, peak = measured(json_shape, data)
    assert seconds < 5, f"{kind}: {seconds:.1f} s"
    # A few MiB of work arrays (one piece; one run of backslashes makes a piece as long as the run).
    assert peak < (len(data) if kind == "backslashes" else 0) + 16 * MiB, f"{kind}: {peak / MiB:.0f} MiB"
    assert shape.depth >= 1


# ---------------------------------------------------------------------------
# Odd JSON everywhere the grader reads: read whole, or refused quoting nothing
# ---------------------------------------------------------------------------

ANSWER = next(i for i, c in enumerate(BASE["cells"]) if cells.is_answer_cell(c))
TEST = next(i for i, c in enumerate(BASE["cells"]) if cells.is_test_cell(c))
PLAIN = next(i for i, c in enumerate(BASE["cells"]) if c["cell_type"] == "markdown")
WITH_OUTPUT = copy.deepcopy(BASE)
WITH_OUTPUT["cells"][TEST]["outputs"] = [
    {"output_type": "stream", "name": "stdout", "text": ["x\n"]},
    {"output_type": "execute_result", "execution_count": 1, "metadata": {}, "data": {"text/plain": ["1"]}}]
PLACES = ([("metadata",), ("metadata", "x"), ("metadata", "kernelspec"), ("cells",), ("nbformat",),
           ("nbformat_minor",)]
          + [("cells", index) for index in (ANSWER, TEST, PLAIN)]
          + [("cells", index, key) for index in (ANSWER, TEST, PLAIN)
             for key in ("source", "metadata", "cell_type", "outputs", "execution_count", "id", "attachments")]
          + [("cells", index, "metadata", "nbgrader", key) for index in (ANSWER, TEST)
             for key in ("grade_id", "points", "solution", "grade", "locked")]
          + [("cells", TEST, "outputs", 0, key) for key in ("output_type", "name", "text")]
          + [("cells", TEST, "outputs", 1, key) for key in ("data", "metadata")]
          + [("cells", TEST, "outputs", 1, "data", mime) for mime in ("text/plain", "image/png")])
KEYS = st.sampled_from(["nbgrader", "grade_id", "points", "cells", "source", "outputs", "output_type", "text",
                        "data", "text/plain", "name", "metadata", "cell_type", "execution_count", "id", "x",
                        MARKER])
ODD_LITERALS = ["null", "true", "false", "0", "-0", "1e999", "-1e999", "1E400", "NaN", "Infinity", "-Infinity",
                "12345678901234567890", "1" * 101, "-" + "9" * 5000, "0.1e-999", '"\\ud800"', '"a\\udfff\\ud800"',
                '"\\ud83d\\ude00"', '"\\\\ud800"', '"\\u0000"', '"\\"\\\\"', '""']
SCALARS = (st.sampled_from(ODD_LITERALS)
           | st.text(max_size=20).map(lambda text: json.dumps(MARKER + text, ensure_ascii=False)))


def _object(pairs):
    return "{" + ",".join(f"{json.dumps(key)}:{value}" for key, value in pairs) + "}"


def _array(items):
    return "[" + ",".join(items) + "]"


FRAGMENTS = st.recursive(SCALARS, lambda inner: (st.lists(inner, max_size=5).map(_array)
                                                 | st.lists(st.tuples(KEYS, inner), max_size=5).map(_object)),
                         max_leaves=25)


@st.composite
def odd_notebooks(draw):
    """The bytes of a release notebook with one odd JSON fragment somewhere the grader reads."""
    fragment = draw(FRAGMENTS)
    depth = draw(st.sampled_from([0, 0, 1, 50, 94, 95, 96, 150]))
    width = draw(st.sampled_from([1, 1, 2, 100, 5000]))
    if width > 1:
        fragment = "[" + ",".join([fragment] * width) + "]"
    fragment = "[" * depth + fragment + "]" * depth
    data = notebook_bytes(fragment, draw(st.sampled_from(PLACES)), WITH_OUTPUT)
    twist = draw(st.sampled_from(["none", "none", "bom", "not utf-8", "cut", "duplicate cells"]))
    if twist == "bom":
        data = b"\xef\xbb\xbf" + data
    elif twist == "not utf-8":
        data = data.replace(b'"', b'"\xff', 1)
    elif twist == "cut":
        data = data[:draw(st.integers(0, len(data)))]
    elif twist == "duplicate cells":
        data = data[:-1] + b', "cells": ' + json.dumps(BASE["cells"][:1]).encode() + b"}"
    return data


def written_back(data):
    """What the trusted side does with a notebook it reads: locate, flag, build and write the autograded one."""
    parsed = read_submission(SubmittedFolder("fuzz", {NAME: data}), RELEASE)
    for name, read in parsed.notebooks.items():
        graded = autograded.build(RELEASE.notebooks[name], read, parsed.located[name], {})
        nbformat.writes(graded).encode("utf-8")
    return parsed


@PROPERTIES
@given(odd_notebooks())
def test_odd_json_anywhere_is_read_whole_or_refused_quoting_nothing(data):
    result, seconds, peak = measured(cells.parse_notebook, data, f"{NAME}.ipynb")
    assert seconds < 5 and peak < 64 * MiB + 8 * len(data), f"{seconds:.1f} s, {peak / MiB:.0f} MiB"
    if isinstance(result, Exception):
        assert_refused_quoting_nothing(result)
        event(f"refused: {str(result).partition('(')[2][:40]}")
        return
    event("read whole")
    assert cells.layout_problem(result) == ""
    assert NAME in written_back(data).notebooks


def seen(notebook):
    return [(cell.get("cell_type"), cell.get("source"), cell.get("metadata"), cell.get("outputs"))
            for cell in notebook["cells"]]


@PROPERTIES
@given(FRAGMENTS, st.sampled_from(PLACES))
def test_what_the_grader_reads_is_what_nbformat_reads(fragment, place):
    # nbgrader, formgrader and Jupyter read notebooks with nbformat (Python's json: the last of duplicate
    # keys wins): the grader must grade the very cells they show, never another parse of the same bytes.
    data = notebook_bytes(fragment, place, WITH_OUTPUT)
    try:
        notebook = cells.parse_notebook(data, f"{NAME}.ipynb")
    except cells.NotebookError:
        return
    theirs = nbformat.reads(data.decode("utf-8"), as_version=4, capture_validation_error={})
    assert seen(notebook) == seen(theirs)


def test_duplicate_grade_ids_and_keys_are_read_as_nbgrader_reads_them():
    tree = copy.deepcopy(BASE)
    answer = tree["cells"][ANSWER]
    tree["cells"].insert(ANSWER, dict(copy.deepcopy(answer), id="copy", source="def conv_forward_naive(): pass"))
    text = json.dumps(tree).replace('"source": "def conv_forward_naive(): pass"',
                                    '"source": "first", "source": "def conv_forward_naive(): pass"')
    parsed = read_submission(SubmittedFolder("alice", {NAME: text.encode()}), RELEASE)
    where = parsed.located[NAME]["conv_forward_naive"]
    assert where.index == ANSWER and where.source == "def conv_forward_naive(): pass"
    assert "several cells carry the grade_id conv_forward_naive; the first one was graded" in where.note


@PROPERTIES
@given(st.binary(max_size=2000) | ESCAPES_AND_STRUCTURE)
def test_any_bytes_are_read_or_refused_with_a_notebook_error(data):
    result, seconds, _ = measured(cells.parse_notebook, data, "any.ipynb")
    assert seconds < 2
    assert isinstance(result, cells.NotebookError) or cells.layout_problem(result) == ""


# ---------------------------------------------------------------------------
# The issue's notebook, and the bounds themselves
# ---------------------------------------------------------------------------

ISSUE_PLACES = {"notebook metadata": ("metadata", "x"), "a cell's metadata": ("cells", PLAIN, "metadata"),
                "an output's data": ("cells", TEST, "outputs", 1, "data")}


@pytest.mark.parametrize("megabytes", [7, 14])
@pytest.mark.parametrize("where", ISSUE_PLACES)
def test_megabytes_of_empty_objects_are_refused_at_once_in_little_memory(where, megabytes):
    path = ISSUE_PLACES[where]
    filler = (megabytes * 1_000_000 - len(json.dumps(WITH_OUTPUT))) // 3
    fragment = repeated("{}", filler) if where == "notebook metadata" else '{"x": ' + repeated("{}", filler) + "}"
    data = notebook_bytes(fragment, path, WITH_OUTPUT)
    result, seconds, peak = measured(cells.parse_notebook, data, f"{NAME}.ipynb")
    # It took 47 s and 4.3 GiB (7 MB) before; now the bytes are counted, never built.
    assert_refused_quoting_nothing(result)
    assert "objects and arrays, more than 100000" in str(result)
    assert seconds < 3, f"{seconds:.1f} s"
    assert peak < 16 * MiB, f"{peak / MiB:.0f} MiB"
    noted = read_submission(SubmittedFolder("mallory", {NAME: data}), RELEASE)
    assert NAME not in noted.notebooks
    assert any(note.startswith(f"{NAME}.ipynb: unreadable (not a readable Jupyter notebook (its JSON holds")
               for note in noted.notes)


BOUNDS = {"containers": cells.MAX_JSON_CONTAINERS, "values": cells.MAX_JSON_VALUES, "depth": cells.MAX_JSON_DEPTH}


def at_bound(kind, extra):
    """A notebook whose JSON is ``extra`` past the bound of ``kind`` (0: exactly at it)."""
    if kind == "depth":
        levels = cells.MAX_JSON_DEPTH - 2 + extra          # metadata.x is at depth 2
        return notebook_bytes("[" * levels + "]" * levels)
    item = "{}" if kind == "containers" else '"ab"'       # each adds one of its kind (and a comma)
    one = getattr(json_shape(notebook_bytes(repeated(item, 1))), kind)
    return notebook_bytes(repeated(item, 1 + BOUNDS[kind] - one + extra))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["containers", "values", "depth"])
def test_a_notebook_at_a_bound_is_read_and_one_past_it_is_refused(kind):
    notebook, seconds, peak = measured(cells.parse_notebook, at_bound(kind, 0), "at.ipynb")
    assert cells.layout_problem(notebook) == "", notebook
    # Measured here: 1.0 s and 48 MiB at the bound of containers, 0.7 s and 70 MiB at that of values.
    assert seconds < 10 and peak < 256 * MiB, f"{seconds:.1f} s, {peak / MiB:.0f} MiB"
    assert getattr(json_shape(at_bound(kind, 0)), kind) == BOUNDS[kind]
    with pytest.raises(cells.NotebookError, match="more than"):
        cells.parse_notebook(at_bound(kind, 1), "past.ipynb")


def honest_executed_notebook(target_bytes):
    """The release notebook as a student might save it: every code cell run, each with a large figure."""
    notebook = copy.deepcopy(BASE)
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    image_bytes = target_bytes // len(code) * 3 // 4
    for number, cell in enumerate(code, start=1):
        cell["execution_count"] = number
        cell["outputs"] = [
            {"output_type": "stream", "name": "stdout",
             "text": [f"step {k}: loss 0.{k:04d}\n" for k in range(20)]},
            {"output_type": "display_data", "metadata": {"needs_background": "light"},
             "data": {"image/png": base64.b64encode(os.urandom(image_bytes)).decode() + "\n",
                      "text/plain": ["<Figure size 640x480 with 2 Axes>"]}}]
    return json.dumps(notebook, indent=1).encode()


def test_an_honest_notebook_with_big_figures_near_the_byte_limit_is_read():
    data = honest_executed_notebook(cells.MAX_NOTEBOOK_BYTES - 2 * MiB)
    assert cells.MAX_NOTEBOOK_BYTES - 4 * MiB < len(data) <= cells.MAX_NOTEBOOK_BYTES
    shape = json_shape(data)
    # Far inside every bound: 891 values, 152 containers, depth 7 when measured.
    assert shape.values < cells.MAX_JSON_VALUES // 100 and shape.containers < cells.MAX_JSON_CONTAINERS // 100
    assert shape.depth < cells.MAX_JSON_DEPTH // 10
    notebook, seconds, _ = measured(cells.parse_notebook, data, f"{NAME}.ipynb")
    assert cells.layout_problem(notebook) == "" and seconds < 5
    figures = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if "data" in o]
    assert figures and all(len(o.data["image/png"]) > MiB for o in figures)


def test_the_course_notebooks_are_far_inside_every_bound():
    for path in sorted(REPO.glob("*/numpy_cnn/*.ipynb")) + sorted((REPO / "book").rglob("*.ipynb")):
        shape = json_shape(path.read_bytes())
        assert shape.values * 1000 <= cells.MAX_JSON_VALUES and shape.containers * 500 <= cells.MAX_JSON_CONTAINERS
        assert shape.depth * 10 <= cells.MAX_JSON_DEPTH, path


# ---------------------------------------------------------------------------
# What json or nbformat would have spent time on
# ---------------------------------------------------------------------------

def test_long_integers_are_refused_before_python_converts_them():
    # 12,000 integers of 4,299 digits (50 MB) took 2.9 s to read, and as long again to write.
    data = notebook_bytes(repeated("7" * 4299, 2000))
    result, seconds, _ = measured(cells.parse_notebook, data, "long.ipynb")
    assert_refused_quoting_nothing(result)
    assert "not JSON of nbformat 4" in str(result) and seconds < 1
    assert cells.layout_problem(cells.parse_notebook(notebook_bytes(repeated("9" * 100, 10)), "ok.ipynb")) == ""


def test_schema_invalid_outputs_are_not_validated_at_a_cost():
    # 30,000 such outputs took nbformat's validation 20 s and 1.6 GiB; the grader checks its own layout.
    tree = copy.deepcopy(BASE)
    tree["cells"][TEST]["outputs"] = "@@SLOT@@"
    output = json.dumps({"output_type": "stream", "name": "stdout", "text": "x", "unknown": 1})
    data = json.dumps(tree).replace('"@@SLOT@@"', repeated(output, 30_000)).encode()
    notebook, seconds, _ = measured(cells.parse_notebook, data, "invalid.ipynb")
    assert cells.layout_problem(notebook) == "" and seconds < 3, f"{seconds:.1f} s"


@pytest.mark.parametrize("fragment", ['"\\ud800"', '"ok \\udc00 then \\ud83d"', '{"\\udfff": 1}'])
def test_a_lone_surrogate_is_refused_since_no_utf8_file_can_hold_it(fragment):
    # Before, one such escape in a markdown cell stopped the whole class at writing its autograded notebook.
    result = measured(cells.parse_notebook, notebook_bytes(fragment), "lone.ipynb")[0]
    assert_refused_quoting_nothing(result)
    assert "half of a surrogate pair" in str(result)


@pytest.mark.parametrize("fragment", ['"\\ud83d\\ude00"', '"\\\\ud800"', '"\\\\\\ud83d\\ude00"'])
def test_a_surrogate_pair_or_an_escaped_backslash_is_read_and_written_back(fragment):
    data = notebook_bytes(fragment, ("cells", PLAIN, "source"))
    assert cells.layout_problem(cells.parse_notebook(data, "pair.ipynb")) == ""
    assert NAME in written_back(data).notebooks


def test_only_nbformat_4_is_read():
    # Without nbformat's validation on reading, a version 4.0 or a minor that is no integer would be read
    # and then fail nbformat's writer (the autograded notebook).  Found by the property above.
    for version, minor in ((3, 0), ("4", 5), (True, 5), (None, 5), (4.0, 5), (4, None), (4, "5"), (4, 5.0)):
        tree = dict(copy.deepcopy(BASE), nbformat=version, nbformat_minor=minor)
        with pytest.raises(cells.NotebookError, match="not JSON of nbformat 4"):
            cells.parse_notebook(json.dumps(tree).encode(), "old.ipynb")


def test_reading_leaves_no_state_behind_in_nbformat():
    # nbformat's validation compiled and kept a validator for each nbformat_minor a notebook named
    # (0.34 s and 0.2 MiB each, for the life of the grading process); reading validates nothing now.
    from nbformat import validator
    before = dict(validator.validators)
    for minor in (6, 77, 10**30):
        cells.parse_notebook(json.dumps(dict(BASE, nbformat_minor=minor)).encode(), "future.ipynb")
    assert validator.validators == before


@pytest.mark.parametrize("outputs", [[None], ["text"], [{"output_type": 1}], {}])
def test_outputs_of_a_markdown_cell_are_checked_like_any_outputs(outputs):
    # The search for a fake score reads the outputs of every cell: a markdown cell with [null] as outputs
    # made it raise, a grader error for that student (found by the property above).
    tree = copy.deepcopy(BASE)
    tree["cells"][PLAIN]["outputs"] = outputs
    with pytest.raises(cells.NotebookError, match=f"cell {PLAIN + 1}: (malformed output|its outputs are not)"):
        cells.parse_notebook(json.dumps(tree).encode(), "markdown.ipynb")


def test_an_answer_that_lost_its_metadata_is_found_without_parsing_every_cell():
    # The last cell defining the function is graded; parsing each code cell for each part (65 ms for
    # 32 KiB of a list literal) took 195 s for a 46 MB notebook of them.
    tree = json.loads((REPO / "solutions" / "numpy_cnn" / f"{NAME}.ipynb").read_bytes())
    for cell in tree["cells"]:
        cell["metadata"].pop("nbgrader", None)
        cell["id"] = f"renamed-{cell.get('id')}"
    heavy = {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
             "source": "# def conv_forward_naive\nx = [" + "0," * 16_000 + "0]\n"}
    tree["cells"] = [dict(heavy, id=f"h{i}") for i in range(300)] + tree["cells"] + [
        dict(heavy, id=f"t{i}", source=heavy["source"].replace("# def", "#")) for i in range(100)]
    parsed, seconds, _ = measured(read_submission, SubmittedFolder("alice", {NAME: json.dumps(tree).encode()}),
                                  RELEASE)
    assert seconds < 5, f"{seconds:.1f} s"
    assert set(parsed.located[NAME]) == {part.name for part in RELEASE.notebooks[NAME].parts}
    assert all("the last cell defining" in where.note for where in parsed.located[NAME].values())


def strip_magics_whole(source):
    """What :func:`cells.strip_magics` computed before it worked in pieces (the oracle)."""
    return "\n".join("# " + line if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


LINE_PARTS = st.sampled_from(["a", " ", "\t", "%", "!", "#", "\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x85",
                              "\xa0", "\u2028", "\u3000", "\U0001f600"])


@PROPERTIES
@given(st.lists(LINE_PARTS, max_size=40).map("".join), st.integers(1, 8))
def test_magics_are_stripped_piece_by_piece_as_they_were_whole(source, piece_chars):
    original = cells.MAGIC_PIECE_CHARS
    cells.MAGIC_PIECE_CHARS = piece_chars
    try:
        assert cells.strip_magics(source) == strip_magics_whole(source)
    finally:
        cells.MAGIC_PIECE_CHARS = original


@pytest.mark.parametrize("line", ["ab\n", "%a\n"])
def test_magics_of_a_huge_answer_cell_are_stripped_in_little_memory(line):
    # 48 MB of short lines, split whole into 16 million strings, cost 1.1 to 1.9 GiB (tracemalloc); 6 MB here.
    source = line * 2_000_000
    stripped, seconds, peak = measured(cells.strip_magics, source)
    assert stripped.startswith(strip_magics_whole(source[:3_000])) and len(stripped) < 2 * len(source)
    # The pieces and their join, and the lines of one piece (up to about 40 MiB): no more than that.
    assert peak < 3 * len(stripped) + 48 * MiB, f"{peak / MiB:.0f} MiB"
    assert seconds < 10, f"{seconds:.1f} s"


# ---------------------------------------------------------------------------
# Reading runs inside the submission's time budget; writing back costs no more than reading
# ---------------------------------------------------------------------------

def job(limits):
    files = {name: (RELEASE_DIR / f"{name}.ipynb").read_bytes() for name in RELEASE.notebooks}
    return one_submission.Job("numpy_cnn", "alice", one_submission.release_files(RELEASE_DIR),
                              SubmittedFolder("alice", files), "process", "key", limits)


def passing_checks(graded, student_for, key, log):
    return {name: PartResult(name, points, [CheckResult("c", "c", 1.0, True)]) for name, points in graded.items()}


def test_a_code_cell_of_newlines_is_written_back_as_one_string(monkeypatch):
    # Split into lines as Jupyter saves them, 40 MB of newlines became 20 million strings: 190 MB of
    # autograded notebook, 1.8 GiB more in the grading process, and a notebook the gradebook refused.
    tree = copy.deepcopy(BASE)
    tree["cells"].append({"cell_type": "code", "id": "lines", "metadata": {}, "outputs": [],
                          "execution_count": None, "source": "\n" * 2_000_000})
    data = json.dumps(tree).encode()
    monkeypatch.setattr(one_submission, "run_checks", passing_checks)
    graded = job(TimeLimits())
    graded = one_submission.Job(**{**graded.__dict__, "submitted": SubmittedFolder("alice", {NAME: data})})
    outcome, seconds, _ = measured(one_submission.grade_submission, graded, REPO)
    assert outcome.summary["status"] == "graded" and outcome.summary["notebooks"][NAME]
    assert len(outcome.notebooks[NAME]) < 1.2 * len(data) and seconds < 10, f"{seconds:.1f} s"


def slow_reading(monkeypatch, seconds):
    real = one_submission.read_submission

    def read_slowly(*args):
        time.sleep(seconds)
        return real(*args)
    monkeypatch.setattr(one_submission, "read_submission", read_slowly)


def test_the_budget_starts_before_the_notebooks_are_read(monkeypatch):
    slow_reading(monkeypatch, 0.5)
    left = {}

    def checks_seen(graded, student_for, key, log):
        left["s"] = student_for(next(iter(graded)))._deadline - time.monotonic()
        return passing_checks(graded, student_for, key, log)
    monkeypatch.setattr(one_submission, "run_checks", checks_seen)
    one_submission.grade_submission(job(TimeLimits(part_s=1000, submission_s=100)), REPO)
    assert 90 < left["s"] <= 99.5


def test_a_budget_spent_on_reading_says_so_and_runs_no_check(monkeypatch):
    slow_reading(monkeypatch, 0.3)
    monkeypatch.setattr(one_submission, "run_checks", lambda *args: pytest.fail("a check ran past the budget"))
    outcome = one_submission.grade_submission(job(TimeLimits(submission_s=0.2)), REPO)
    assert outcome.summary["status"] == "graded" and set(outcome.summary["points"].values()) == {0}
    spent = [flag for flag in outcome.summary["flags"] if "all of this submission's time budget (0.2 s)" in flag]
    assert spent and "no check could run" in spent[0] and "no check could run" in outcome.feedback
    assert "not read (this submission's time budget was used up before it was reached)" in outcome.feedback
