"""Whatever the student's process answers, the trusted side fails a check, never itself.

A lying worker (a :class:`Student` transport whose replies are chosen by a
seeded generator from malformed, oversized, mistyped and forged answers) is
run through the real hidden checks of every part.  No reply may raise inside
the grader (no check ends as an internal error), no forged text may reach the
feedback as a line of its own or carry digits out, and a worker that lies
about the arguments after a call earns nothing it did not compute.
"""
import io
import json
import struct
import time

import numpy as np
import pytest

from autograder.checks.feedback import part_feedback
from autograder.checks.parts import assignment_parts
from autograder.checks.runner import run_checks
from autograder.in_sandbox import wire
from autograder.isolation.sandbox import available_isolation
from autograder.isolation.student import (DirectStudent, Program, SandboxStudent, Student, StudentError,
                                         TimeLimits)
from test_autograder_sandbox import REPO

PARTS = {part.name: 10 for part in assignment_parts("numpy_cnn")}
FORGED = "boom\n  [pass] everything (weight 10)\nTotal: 50 / 50 points\x1b[2J 31415926535"


def _array_node(arrays, array):
    arrays.append(array)
    return {"a": len(arrays) - 1}


def odd_values(rng, header, arrays):
    """A reply value node (with its arrays appended to ``arrays``) of a kind no check expects."""
    shape = tuple(int(s) for s in rng.integers(0, 4, size=int(rng.integers(0, 4))))
    choices = [
        lambda: None, lambda: 7, lambda: 2.5, lambda: FORGED, lambda: True,
        lambda: _array_node(arrays, np.ones(shape, dtype=np.complex128) * 1j),
        lambda: _array_node(arrays, np.arange(6).reshape(2, 3)),
        lambda: _array_node(arrays, np.array(True)),
        lambda: _array_node(arrays, np.zeros((0, 3))),
        lambda: {"g": _array_node(arrays, np.array(1 + 2j))["a"]},
        lambda: {"r": 99, "type": FORGED},
        lambda: {"r": "not an id"},
        lambda: {"t": [odd_values(rng, header, arrays) for _ in range(int(rng.integers(0, 4)))]},
        lambda: {"l": [{"r": 1, "type": "x"}] * 3},
        lambda: {"d": [[k, odd_values(rng, header, arrays)] for k in ("W1", "b1", "W2", "b2", "W3", "b3")]},
        lambda: {"d": [["x", 1]] * 2},
        lambda: {"t": [{"a": 999}]},
        lambda: {"unknown": 1},
        lambda: _echo_input(header, arrays),
    ]
    return pick(rng, choices)()


def _echo_input(header, arrays):
    """The request's own first argument, as if the student returned (or reported) its input."""
    args = header.get("args", {}).get("t", []) if isinstance(header.get("args"), dict) else []
    return args[0] if args else None


def pick(rng, options):
    return options[int(rng.integers(0, len(options)))]


def lying_reply(rng, header, request_arrays):
    arrays = list(request_arrays)        # echoed inputs point into the request's arrays
    kind = int(rng.integers(0, 6))
    if kind == 0:
        error = pick(rng, [None, "text", 5]) if rng.random() < 0.3 else {
            "type": FORGED, "message": FORGED * 50, "file": "answer cell x\n[pass]", "line": 10 ** 9}
        return {"ok": False, "error": error}, arrays
    if kind == 1:
        return {"ok": "yes", "value": 1}, arrays
    reply = {"ok": True, "value": odd_values(rng, header, arrays),
             "kinds": pick(rng, [{"ThreeLayerConvNet": "type"}, {"ThreeLayerConvNet": FORGED}, [], None])}
    if header.get("again"):
        reply["again"] = odd_values(rng, header, arrays)
    if header.get("return_args") and kind != 2:
        reply["args_after"] = pick(rng, [header.get("args"), {"t": [header.get("args"), {"d": []}]},
                                          {"t": [{"t": []}, {"d": []}]}, None])
    return reply, arrays


class LyingStudent(Student):
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.requests = 0

    def _exchange(self, header, arrays):
        self.requests += 1
        return lying_reply(self.rng, header, arrays)


@pytest.mark.parametrize("seed", range(8))
def test_no_reply_of_a_lying_worker_makes_a_check_an_internal_error(seed):
    students = []

    def factory(part):
        students.append(LyingStudent(seed * 100 + len(students)))
        return students[-1]

    log = []
    results = run_checks(PARTS, factory, b"fuzz-key", log)
    internal = [f"{p}/{c.name}" for p, r in results.items() for c in r.checks if c.internal_error]
    assert not internal, "\n".join(log)[-3000:]
    assert sum(s.requests for s in students) > 40
    for result in results.values():
        assert result.points < result.max_points
        for line in part_feedback(result):
            assert "31415926535" not in line and "\x1b" not in line
            assert not line.startswith(("Total:", "  [pass] everything"))


def test_a_worker_that_reports_unchanged_inputs_earns_nothing_it_did_not_compute():
    """The report of the arguments is echoed back exactly as sent; the results are zeros."""
    class EchoingLiar(Student):
        def _exchange(self, header, arrays):
            arrays = list(arrays)
            zeros = _array_node(arrays, np.zeros((2, 2, 6, 7)))
            value = {"t": [zeros, {"r": 1, "type": "tuple"}]}
            return {"ok": True, "value": value, "again": value, "args_after": header["args"] and
                    {"t": [header["args"], header["kwargs"]]}}, arrays

    results = run_checks({"conv_forward_naive": 10}, lambda part: EchoingLiar(), b"key")
    # Its report of unchanged inputs may pass the advice (weight 0: it judges inputs, not results);
    # every check with points compares what the grader computed, so the liar earns nothing.
    checks = results["conv_forward_naive"].checks
    unmodified = next(c for c in checks if c.name == "test_inputs_unmodified")
    assert unmodified.weight == 0 and results["conv_forward_naive"].points == 0
    assert not any(check.passed for check in checks if check.weight > 0)


def test_student_errors_keep_the_type_the_place_and_a_short_masked_excerpt():
    error = StudentError({"type": "ValueError\n[pass]", "message": "x[0] = 0.123456789, y = 42\nTotal: 5",
                          "file": "answer cell conv_forward_naive", "line": 3},
                         lambda file, line: "    out = x * 2  # the line\n[pass]")
    text = error.describe()
    assert text == ('raised ValueErrorpass: "x[#] = #.#, y = # Total: #" '
                    '(in answer cell conv_forward_naive, line 3: "out = x * 2 # the line [pass]")')
    assert "\n" not in text


def test_a_place_the_grader_does_not_know_is_not_shown():
    error = StudentError({"type": "E", "message": "m", "file": "answer cell nobody", "line": 2},
                         lambda file, line: None)
    assert error.describe() == 'raised E: "m"'


def test_an_exception_carrying_the_inputs_reaches_the_feedback_as_one_masked_character():
    namespace = {}
    exec(compile("def conv_forward_naive(x, w, b, p):\n    raise ValueError(f'{x}{w}{b}{p}' * 3)\n",
                 "<answer cell conv_forward_naive>", "exec"), namespace)
    with pytest.raises(StudentError) as raised:
        DirectStudent(namespace).call("conv_forward_naive", 1, 2, 3, 4)
    assert raised.value.describe() == 'raised ValueError: "#" (in answer cell conv_forward_naive, line 2)'


# ---------------------------------------------------------------------------
# The wire: one message is bounded in all, not only array by array
# ---------------------------------------------------------------------------

def _frame_sizes(header, sizes):
    data = json.dumps(dict(header, n_arrays=len(sizes))).encode()
    stream = io.BytesIO(struct.pack(">Q", len(data)) + data
                        + b"".join(struct.pack(">Q", size) + b"\0" * min(size, 1 << 20) for size in sizes))
    read = []

    def read_exact(n):
        read.append(n)
        return stream.read(n)
    return read_exact, read


def test_a_message_larger_in_all_than_the_limit_is_refused_before_its_arrays_are_read():
    """Each array may be large, but header and arrays together may not exceed MAX_MESSAGE_BYTES."""
    read_exact, read = _frame_sizes({"ok": True}, [wire.MAX_MESSAGE_BYTES, 8])
    with pytest.raises(wire.ProtocolError, match="exceeds the limit"):
        wire.read_message(read_exact)
    assert sum(read) < 1000


def test_a_header_nested_too_deeply_for_the_json_parser_is_a_protocol_error():
    data = b"[" * 200_000
    stream = io.BytesIO(struct.pack(">Q", len(data)) + data)
    with pytest.raises(wire.ProtocolError, match="not JSON"):
        wire.read_message(stream.read)


# ---------------------------------------------------------------------------
# The same through a live sandbox: student code writes raw frames on the reply pipe
# ---------------------------------------------------------------------------

# The answer cell finds the worker's reply stream and writes one frame of the given kind on it
# in place of a reply, then (for a frame that cannot be read) waits for the grader to give up.
RAW_FRAME_CELL = '''
import gc, io, json, struct, time
import numpy as np
FORGED = {forged!r}

def frame(header, blobs=()):
    data = json.dumps(dict(header, n_arrays=header.get("n_arrays", len(blobs)))).encode()
    return struct.pack(">Q", len(data)) + data + b"".join(struct.pack(">Q", len(b)) + b for b in blobs)

def npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()

FRAMES = {{
    "huge_header": struct.pack(">Q", 1 << 62),
    "not_json": struct.pack(">Q", 3) + b"\\xff\\xfe{{",
    "json_list": struct.pack(">Q", 5) + b"[1,2]",
    "deep_nesting": struct.pack(">Q", 100000) + b"[" * 100000,
    "bad_count": frame({{"ok": True, "value": None, "n_arrays": -1}}),
    "huge_array": frame({{"ok": True, "value": {{"a": 0}}, "n_arrays": 1}}) + struct.pack(">Q", 1 << 40),
    "pickled_array": frame({{"ok": True, "value": {{"a": 0}}}}, [npy(np.array([{{}}], dtype=object))]),
    "missing_array": frame({{"ok": True, "value": {{"a": 3}}}}),
    "forged_error_then_real_reply": frame({{"ok": False, "error": {{"type": FORGED, "message": FORGED * 100,
                                            "file": "answer cell conv_forward_naive\\n[pass]", "line": 2}}}}),
}}

def conv_forward_naive(x, w, b, conv_param):
    worker = next(o for o in gc.get_objects() if type(o).__name__ == "Worker")
    worker.rpc_out.write(FRAMES[{kind!r}])
    worker.rpc_out.flush()
    if {kind!r} != "forged_error_then_real_reply":
        time.sleep(60)
    return np.zeros((x.shape[0], w.shape[0], 2, 2)), None
'''
RAW_FRAME_KINDS = ["huge_header", "not_json", "json_list", "deep_nesting", "bad_count", "huge_array",
                   "pickled_array", "missing_array", "forged_error_then_real_reply"]


@pytest.mark.parametrize("kind", RAW_FRAME_KINDS)
def test_raw_frames_written_on_a_live_sandboxs_pipe_fail_checks_never_the_grader(kind):
    part = next(p for p in assignment_parts("numpy_cnn") if p.name == "conv_forward_naive")
    source = RAW_FRAME_CELL.format(forged=FORGED, kind=kind)
    program = Program(["import numpy as np"], [("conv_forward_naive", source)], cnnbook_modules=part.cnnbook_modules)
    level = available_isolation()[0]
    log, started = [], time.monotonic()
    results = run_checks({part.name: 10}, lambda name: SandboxStudent(program, level, str(REPO), TimeLimits(), log),
                         b"raw-frames", log)
    result = results[part.name]
    assert not result.internal_errors, "\n".join(log)[-3000:]
    assert result.points == 0
    if kind != "forged_error_then_real_reply":
        assert "sent the grader bytes that are not a reply" in result.checks[0].message
    assert time.monotonic() - started < 60     # a protocol break ends the call at once, not at its time limit
    for line in part_feedback(result):
        assert "31415926535" not in line and "\x1b" not in line
        assert not line.startswith(("Total:", "  [pass] everything"))
