"""Count what a JSON text would build, before any parser builds it.

A parser turns three bytes, ``{},``, into a Python dict of 64 bytes, and
nbformat copies every dict into a ``NotebookNode``; the grader later copies the
notebook again (the autograded notebook) and serialises it.  So a small file
can cost a lot: a valid 7 MB notebook holding two million empty objects in its
metadata took a grading process to 4.3 GiB and 47 s.  :func:`json_shape`
tells, from the bytes alone, how many values, objects and arrays a text holds
and how deep they nest, so that a caller can refuse it before parsing.

How, for bytes ``data`` (nothing is decoded, nothing is built):

1. Escapes out.  Every ``\\\\`` pair is removed, then every ``\\"``
   (``bytes.replace``, left to right).  Inside a JSON string a maximal run of
   backslashes pairs up from its first backslash, exactly as ``replace`` pairs
   them, so what is left of a run is one backslash or none, and a ``\\"`` left
   is an escaped quote.  Afterwards every quote opens or closes a string.
2. In chunks of :data:`CHUNK` bytes, numpy marks what lies inside strings (the
   parity of the quotes so far, carried from chunk to chunk) and counts,
   outside them, the brackets ``{[`` and commas; the running sum of +1 for
   ``{[`` and -1 for ``}]`` is the nesting depth.

For a text that Python's ``json`` accepts the counts are exact: backslashes
and quotes occur only as above, and a value is the root or an element of a
container, so there are at most ``1 + commas + containers`` values (keys are
no more than that either).  For any other text the counts may be anything, but
``json`` refuses that text anyway.  UTF-8 never uses a byte below 128 inside a
multi-byte character, so the structural bytes are the same in any text.

Cost: linear in ``len(data)``; in memory, two copies of the input at most while escapes are
removed (none if it has none), then a few MiB of work arrays.  Measured on a loaded two-core
machine: 0.3 ms for a course notebook (25 KB); for 50 MB, 0.1 s of one long string (an image)
and 0.5 s of the densest structure (brackets, commas, short strings).
"""
from dataclasses import dataclass

import numpy as np

# Bytes per numpy step: its work arrays (a few times this) stay in the processor's cache; 256 KiB
# read 50 MB a quarter faster than 1 MiB.
CHUNK = 1 << 18
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
    text = np.frombuffer(bytes(data).replace(b"\\\\", b"").replace(b'\\"', b""), dtype=np.uint8)
    inside, depth, deepest, containers, commas = 0, 0, 0, 0, 0
    for start in range(0, len(text), CHUNK):
        chunk = text[start:start + CHUNK]
        quotes = chunk == _QUOTE
        if inside and not quotes.any():
            continue                      # all of it inside one string (an image, a long output)
        # Parity of the quotes up to and including each byte: 1 inside a string (its opening quote too).
        parity = np.cumsum(quotes, dtype=np.uint8)
        parity += inside
        outside = (parity & 1) == 0
        step = _DEPTH_STEP[chunk]
        step *= outside
        containers += int(np.count_nonzero(step == 1))
        commas += int(np.count_nonzero((chunk == _COMMA) & outside))
        running = np.cumsum(step, dtype=np.int32)   # |depth| <= CHUNK within a chunk
        deepest = max(deepest, depth + int(running.max()))
        depth += int(running[-1])
        inside = int(parity[-1]) & 1
    return JsonShape(1 + commas + containers, containers, deepest)
