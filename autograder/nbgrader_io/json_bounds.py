"""Count what a JSON text would build, before any parser builds it.

A parser turns three bytes, ``{},``, into a Python dict of 64 bytes, and
nbformat copies every dict into a ``NotebookNode``; the grader later copies the
notebook again (the autograded notebook) and serialises it.  So a small file
can cost a lot: a valid 7 MB notebook holding two million empty objects in its
metadata took a grading process to 4.3 GiB and 47 s.  :func:`json_shape`
tells, from the bytes alone, how many values, objects and arrays a text holds
and how deep they nest, so that a caller can refuse it before parsing.

How, for bytes ``data`` (nothing is decoded, nothing is built), piece by piece
(about :data:`CHUNK` bytes each, every piece ending on a byte that is not a
backslash, so that no escape is cut in two):

1. Escapes out.  In a piece with a backslash, every ``\\\\`` pair is removed,
   then every ``\\"`` (``bytes.replace``, left to right).  Inside a JSON string
   a maximal run of backslashes pairs up from its first backslash, exactly as
   ``replace`` pairs them, so what is left of a run is one backslash or none,
   and a ``\\"`` left is an escaped quote.  Afterwards every quote opens or
   closes a string.
2. numpy marks what lies inside strings (the parity of the quotes so far,
   carried from piece to piece; a piece wholly inside one string, as most of an
   image is, is skipped) and counts, outside them, the brackets ``{[`` and
   commas; the running sum of +1 for ``{[`` and -1 for ``}]`` is the depth.

For a text that Python's ``json`` accepts the counts are exact: backslashes
and quotes occur only as above, and a value is the root or an element of a
container, so there are at most ``1 + commas + containers`` values (keys are
no more than that either).  For any other text the counts may be anything, but
``json`` refuses that text anyway.  UTF-8 never uses a byte below 128 inside a
multi-byte character, so the structural bytes are the same in any text.

Cost: linear in ``len(data)``, and a few MiB of memory (one piece and its work
arrays; a run of backslashes, which ``replace`` removes, may lengthen a piece).
Measured on a loaded two-core machine: 0.3 ms for a course notebook (25 KB);
for 50 MB, 0.03 s of figures and up to 0.55 s of the densest structure
(brackets, commas, short strings, escapes).
"""
import re
from dataclasses import dataclass

import numpy as np

# Bytes per piece: its work arrays (a few times this) stay in the processor's cache; 256 KiB read
# 50 MB a quarter faster than 1 MiB.
CHUNK = 1 << 18
_NOT_BACKSLASH = re.compile(rb"[^\\]")
_QUOTE, _COMMA = ord('"'), ord(",")
# +1 for an opening bracket, -1 for a closing one, 0 for any other byte.
_DEPTH_STEP = np.zeros(256, dtype=np.int8)
_DEPTH_STEP[[ord("{"), ord("[")]] = 1
_DEPTH_STEP[[ord("}"), ord("]")]] = -1


@dataclass(frozen=True)
class JsonShape:
    """What a JSON text holds, counted outside its strings."""
    values: int        # at most this many values: 1 + commas + containers
    containers: int    # objects and arrays (each ``{`` and ``[``)
    depth: int         # deepest nesting of objects and arrays (0 for a bare scalar)


def json_shape(data):
    """The :class:`JsonShape` of the JSON text in the bytes ``data`` (exact if ``json`` accepts it)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"json_shape(data): expected bytes, got {type(data).__name__}")
    data = bytes(data)
    inside, depth, deepest, containers, commas = 0, 0, 0, 0, 0
    start = 0
    while start < len(data):
        end = _piece_end(data, start + CHUNK)
        piece = data[start:end]
        start = end
        if b"\\" in piece:
            piece = piece.replace(b"\\\\", b"").replace(b'\\"', b"")
        chunk = np.frombuffer(piece, dtype=np.uint8)
        quotes = chunk == _QUOTE
        if not len(chunk) or (inside and not quotes.any()):
            continue                      # only escapes, or all of it inside one string (an image)
        # Parity of the quotes up to and including each byte: 1 inside a string (its opening quote too).
        parity = np.cumsum(quotes, dtype=np.uint8)
        parity += inside
        outside = (parity & 1) == 0
        step = _DEPTH_STEP[chunk]
        step *= outside
        containers += int(np.count_nonzero(step == 1))
        commas += int(np.count_nonzero((chunk == _COMMA) & outside))
        running = np.cumsum(step, dtype=np.int64)
        deepest = max(deepest, depth + int(running.max()))
        depth += int(running[-1])
        inside = int(parity[-1]) & 1
    return JsonShape(1 + commas + containers, containers, deepest)


def _piece_end(data, end):
    """``end``, or just past the first byte after a run of backslashes that reaches it."""
    if end >= len(data) or data[end - 1] != 0x5C:
        return min(end, len(data))
    after_run = _NOT_BACKSLASH.search(data, end)
    return len(data) if after_run is None else after_run.start() + 1
