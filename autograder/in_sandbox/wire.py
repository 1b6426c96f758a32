"""Messages between the grader and the sandboxed worker: JSON and ``.npy``, never pickle.

A message is an 8-byte big-endian length, a UTF-8 JSON header, then as many
length-prefixed ``.npy`` blobs as the header's ``n_arrays`` says.  Values are
encoded as JSON trees whose tagged nodes point into the blob list:

* ``{"a": i}`` array ``i``; ``{"g": i}`` the numpy scalar stored as 0-d array ``i``;
* ``{"t": [...]}`` tuple, ``{"l": [...]}`` list, ``{"d": [[key, value], ...]}`` dict;
* ``{"r": id, "type": name}`` a reference to an object that stays in the worker
  (a layer's cache, a model), usable as an argument of a later call;
* JSON scalars (None, bools, numbers, strings) stand for themselves.

The grader decodes with :func:`numpy.load` and ``allow_pickle=False`` and
checks every size against the limits below (each array, and each message in
all), so a hostile worker can send wrong answers but cannot make the grader
run code or exhaust its memory.

This file is copied into the sandbox, so it imports nothing but the standard
library and numpy.
"""
import io
import json
import struct

import numpy as np

MAX_HEADER_BYTES = 4 << 20
# One message in all (header and arrays): a hidden check's inputs and results are kilobytes, so a
# reply may not stream more than this into the grader before anything is checked.
MAX_MESSAGE_BYTES = 64 << 20
MAX_ARRAY_BYTES = MAX_MESSAGE_BYTES
MAX_ARRAYS = 256
MAX_DEPTH = 8
MAX_ITEMS = 512
MAX_STRING = 4000
# Integers, unsigned, floats, complex and bools: the only dtypes that travel.
PLAIN_KINDS = "biufc"
_LENGTH = struct.Struct(">Q")


class ProtocolError(Exception):
    """A message broke the protocol (too large, malformed, or an unsafe dtype)."""


class RemoteRef:
    """An object that lives in the worker; only its id and type name travel."""

    def __init__(self, ref_id, type_name):
        self.ref_id = ref_id
        self.type_name = type_name

    def __repr__(self):
        return f"<{self.type_name} object in the worker>"


# ---------------------------------------------------------------------------
# Framing
# ---------------------------------------------------------------------------

def write_message(stream, header, arrays=()):
    """Write one message (a JSON-able ``header`` dict and a list of arrays) and flush."""
    header = dict(header, n_arrays=len(arrays))
    data = json.dumps(header).encode("utf-8")
    parts = [_LENGTH.pack(len(data)), data]
    for array in arrays:
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        blob = buffer.getvalue()
        parts += [_LENGTH.pack(len(blob)), blob]
    stream.write(b"".join(parts))
    stream.flush()


def read_message(read_exact):
    """Read one message with ``read_exact(n) -> bytes``; returns ``(header, arrays)``."""
    header_size = _LENGTH.unpack(read_exact(_LENGTH.size))[0]
    if header_size > MAX_HEADER_BYTES:
        raise ProtocolError(f"message header of {header_size} bytes exceeds the limit")
    try:
        header = json.loads(read_exact(header_size).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:  # a deeply nested header recurses
        raise ProtocolError(f"message header is not JSON ({type(error).__name__})") from None
    if not isinstance(header, dict):
        raise ProtocolError("message header is not a JSON object")
    count = header.get("n_arrays", 0)
    if not isinstance(count, int) or not 0 <= count <= MAX_ARRAYS:
        raise ProtocolError(f"bad array count (not an integer from 0 to {MAX_ARRAYS})")
    arrays, total = [], header_size
    for _ in range(count):
        size = _LENGTH.unpack(read_exact(_LENGTH.size))[0]
        total += size
        if size > MAX_ARRAY_BYTES or total > MAX_MESSAGE_BYTES:
            raise ProtocolError(f"message of more than {MAX_MESSAGE_BYTES} bytes exceeds the limit")
        arrays.append(_load_array(read_exact(size)))
    return header, arrays


def _load_array(blob):
    try:
        array = np.load(io.BytesIO(blob), allow_pickle=False)
    except Exception as error:
        raise ProtocolError(f"unreadable array ({type(error).__name__})") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in PLAIN_KINDS:
        raise ProtocolError("array of an unsupported dtype")
    return array


# ---------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------

def encode(value, arrays, make_ref, depth=0):
    """JSON tree for ``value``; arrays are appended to ``arrays``.

    ``make_ref(obj)`` returns the node for an object that cannot travel by
    value (the worker stores it and returns ``{"r": id, ...}``; the grader
    passes :class:`RemoteRef` back as such a node).
    """
    if value is None or type(value) in (bool, int, float):
        return value
    if type(value) is str:
        return value[:MAX_STRING]
    if isinstance(value, RemoteRef):
        return {"r": value.ref_id, "type": value.type_name}
    if isinstance(value, np.ndarray) and value.dtype.kind in PLAIN_KINDS:
        arrays.append(np.ascontiguousarray(np.asarray(value)))
        return {"a": len(arrays) - 1}
    if isinstance(value, np.generic) and value.dtype.kind in PLAIN_KINDS:
        arrays.append(np.asarray(value))
        return {"g": len(arrays) - 1}
    if depth < MAX_DEPTH:
        if type(value) in (tuple, list) and len(value) <= MAX_ITEMS:
            tag = "t" if type(value) is tuple else "l"
            return {tag: [encode(item, arrays, make_ref, depth + 1) for item in value]}
        if type(value) is dict and len(value) <= MAX_ITEMS and all(type(k) is str for k in value):
            return {"d": [[key, encode(item, arrays, make_ref, depth + 1)] for key, item in value.items()]}
    return make_ref(value)


def decode(node, arrays, resolve_ref, depth=0):
    """The value a tree from :func:`encode` stands for; :class:`ProtocolError` if malformed.

    ``resolve_ref(ref_id, type_name)`` turns a reference node into an object.
    """
    if node is None or type(node) in (bool, int, float):
        return node
    if type(node) is str:
        if len(node) > MAX_STRING:
            raise ProtocolError("string too long")
        return node
    if depth > MAX_DEPTH + 1 or type(node) is not dict or len(node) not in (1, 2):
        raise ProtocolError("malformed value")
    if "a" in node or "g" in node:
        index = node.get("a", node.get("g"))
        if type(index) is not int or not 0 <= index < len(arrays):
            raise ProtocolError("array index out of range")
        return arrays[index] if "a" in node else arrays[index][()]
    if "t" in node or "l" in node:
        items = node.get("t", node.get("l"))
        if type(items) is not list or len(items) > MAX_ITEMS:
            raise ProtocolError("malformed sequence")
        values = [decode(item, arrays, resolve_ref, depth + 1) for item in items]
        return tuple(values) if "t" in node else values
    if "d" in node:
        return _decode_dict(node["d"], arrays, resolve_ref, depth)
    if "r" in node:
        ref_id, type_name = node["r"], node.get("type", "object")
        if type(ref_id) is not int or type(type_name) is not str:
            raise ProtocolError("malformed reference")
        return resolve_ref(ref_id, type_name[:200])
    raise ProtocolError("unknown value tag")


def _decode_dict(pairs, arrays, resolve_ref, depth):
    if type(pairs) is not list or len(pairs) > MAX_ITEMS:
        raise ProtocolError("malformed dict")
    result = {}
    for pair in pairs:
        if type(pair) is not list or len(pair) != 2 or type(pair[0]) is not str:
            raise ProtocolError("malformed dict entry")
        result[pair[0][:MAX_STRING]] = decode(pair[1], arrays, resolve_ref, depth + 1)
    return result
