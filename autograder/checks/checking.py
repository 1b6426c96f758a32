"""What a hidden check may say: comparisons whose messages teach, never leak.

Every check compares a student's result with the oracle through a
:class:`Verifier`.  A failure raises :class:`CheckFailed` with a message that
names the result, what was expected (shape, dtype, tolerance) and what
happened (shape found, largest relative error and its index, how many
entries are off).  Passing comparisons leave a short note.  Neither ever
contains the hidden inputs.

:func:`forward_pass` calls a student's layer the way every forward check does:
its cache stays with the student's code.  No backward check uses it: each one
builds the cache the release's provided line stores, so that a bug in a forward
pass costs the points of the forward part only.

Relative error follows CS231n: ``|a - e| / (|a| + |e|)`` per entry, largest
over the array.  The denominator has a floor, ``floor * rms(e)``, so that an
entry that is almost zero by cancellation is judged at the scale of the
array instead of failing on rounding noise.
"""
from dataclasses import dataclass

import numpy as np


class CheckFailed(Exception):
    """A hidden check failed; the message is shown to the student."""


@dataclass(frozen=True)
class Tolerance:
    rel: float      # largest relative error accepted
    floor: float    # denominator floor, as a fraction of the expected array's RMS


# float64 forward passes agree with PyTorch to ~1e-15; 1e-7 is CS231n's "correct" line.
FORWARD = Tolerance(1e-7, 1e-6)
# Gradients: exact vector-Jacobian products, but sums in a different order.
BACKWARD = Tolerance(1e-6, 1e-6)
# float32 inputs: single precision rounding (~6e-8 per operation) accumulated over a few
# hundred terms whose size can exceed the result's (batch norm subtracts a mean of ~5 to
# get values of ~1), so entries are judged against 1% of the array's RMS at the least.
FORWARD_32 = Tolerance(1e-3, 1e-2)
BACKWARD_32 = Tolerance(1e-3, 1e-2)


def relative_errors(actual, expected, tolerance):
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    rms = float(np.sqrt(np.mean(expected ** 2))) if expected.size else 0.0
    floor = max(1e-8, tolerance.floor * rms)
    return np.abs(actual - expected) / np.maximum(np.abs(actual) + np.abs(expected), floor)


def _shape(shape):
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


class Verifier:
    """Comparisons for one check; collects notes about what passed."""

    def __init__(self):
        self.notes = []

    def note(self, text):
        self.notes.append(text)

    def result(self, value, names, function):
        """``value`` is a tuple with one item per name; returns it."""
        expected = "(" + ", ".join(names) + ")"
        if value is None:
            raise CheckFailed(f"{function} returned None instead of {expected}; "
                              "is the return statement missing?")
        if len(names) == 1:
            return (value,)
        if type(value) not in (tuple, list) or len(value) != len(names):
            got = (f"a {type(value).__name__} of length {len(value)}"
                   if type(value) in (tuple, list) else f"a {_kind(value)}")
            raise CheckFailed(f"{function} must return {expected}; it returned {got}")
        return tuple(value)

    def array(self, name, value, shape, dtype=None):
        """``value`` is a finite, real floating-point numpy array of ``shape`` (and ``dtype``, when given).

        Complex or integer arrays are refused rather than converted: a complex result
        compared on its real part could pass with anything in its imaginary part.
        """
        if not isinstance(value, np.ndarray):
            raise CheckFailed(f"{name} should be a numpy array of shape {_shape(shape)}, "
                              f"got a {_kind(value)}")
        if value.shape != tuple(shape):
            raise CheckFailed(f"{name} has shape {_shape(value.shape)}, expected {_shape(shape)}")
        if dtype is not None and value.dtype != np.dtype(dtype):
            raise CheckFailed(f"{name} has dtype {value.dtype}, expected {np.dtype(dtype)} "
                              "(the dtype of the input)")
        if value.dtype.kind != "f":
            raise CheckFailed(f"{name} has dtype {value.dtype}, expected real floating point "
                              "(float64 for float64 inputs)")
        if not np.all(np.isfinite(value)):
            count = int(np.size(value) - np.count_nonzero(np.isfinite(value)))
            raise CheckFailed(f"{name} contains {count} NaN or infinite value(s)")
        return value

    def close(self, name, actual, expected, tolerance, dtype=None):
        """``actual`` has the shape of ``expected`` and matches it within ``tolerance``."""
        expected = np.asarray(expected)
        actual = self.array(name, actual, expected.shape, dtype)
        errors = relative_errors(actual, expected, tolerance)
        worst = float(errors.max()) if errors.size else 0.0
        if worst > tolerance.rel:
            index = np.unravel_index(int(np.argmax(errors)), errors.shape)
            bad = int(np.count_nonzero(errors > tolerance.rel))
            raise CheckFailed(
                f"{name}: largest relative error {worst:.1e} at index {tuple(int(i) for i in index)} "
                f"exceeds the tolerance {tolerance.rel:.0e} ({bad} of {errors.size} entries are off)")
        self.note(f"{name} {_shape(expected.shape)} within {tolerance.rel:.0e} "
                  f"(largest relative error {worst:.1e})")

    def inputs_unchanged(self, names, before, after):
        """Each input ``before`` is exactly as the call left it (``after``: the arguments after the call).

        ``after`` is the worker's report: it can fail the check, never pass it alone
        (see :func:`left_unmodified`).  The first ``len(names)`` arguments are compared.
        """
        if len(names) != len(before) or type(after) is not tuple or len(after) < len(before):
            raise CheckFailed("the arguments after the call could not be compared with the inputs")
        for name, old, new in zip(names, before, after):
            self.unchanged(name, old, new)
        self.note(f"{_and_list(names)} unchanged")

    def unchanged(self, name, before, after):
        """An input array or dict is exactly as it was before the call."""
        if isinstance(before, dict):
            if type(after) is not dict:
                raise CheckFailed(f"the call replaced its input {name} by a {_kind(after)}")
            for key, value in before.items():
                if key not in after:
                    raise CheckFailed(f"the call removed the key {key!r} from {name}")
                self.unchanged(f"{name}[{key!r}]", value, after[key])
            return
        if isinstance(before, np.ndarray):
            same = (isinstance(after, np.ndarray) and after.shape == before.shape
                    and after.dtype == before.dtype and np.array_equal(after, before))
        else:
            same = type(after) is type(before) and after == before
        if not same:
            raise CheckFailed(f"the call modified its input {name}; "
                              "work on a copy (for example np.pad or x.copy()) instead")


def left_unmodified(student, verify, function, args, input_names, returned, tolerance, keep=()):
    """The inputs ``args[:len(input_names)]`` of ``function`` were left as they were: advice, no points.

    The function is called twice on the very same objects (they stay in the
    student's process in between), and what the second call returns must match
    what the first returned (``returned``: the names, in order, of everything it
    returns; the items listed in ``keep`` stay with the student and are not
    compared, such as a cache), and the worker's report of the arguments after
    the calls must show them unchanged.  An honest function that changed its
    inputs fails here, and its feedback says which input.  A function that is
    merely wrong passes: its error is the other checks' to report, not this one's.

    Why these checks carry weight 0: every piece of this evidence comes from the
    student's process.  Only that process holds the inputs after the call, so a
    function that recognises the very same objects on the second call can answer
    from memory, and a patched worker can report anything.  No call the grader
    controls can see the inputs afterwards (a fresh sandbox holds equal inputs,
    never the ones that were modified), so a check that earned points here could
    be bought; the guide says so.
    """
    tracked = student.call_tracked(function, *args, _keep=keep, _again=True)
    first = verify.result(tracked.value, returned, function)
    again = verify.result(tracked.again, returned, function)
    # The report first: it names the input that changed, which is what the student needs to read.
    verify.inputs_unchanged(input_names, tuple(args[:len(input_names)]), tracked.args)
    for index, name in enumerate(returned):
        if index not in keep:
            verify.close(f"{name} of a second call on the same inputs", again[index], first[index], tolerance)


def forward_pass(student, verify, function, *args):
    """``(out, cache)`` of the student's layer ``function(*args)``; the cache stays with the student's code."""
    return verify.result(student.call(function, *args, _keep=(1,)), ("out", "cache"), function)


def _and_list(names):
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _kind(value):
    if value is None:
        return "None"
    return getattr(value, "type_name", None) or type(value).__name__
