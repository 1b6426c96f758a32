"""Readable checks for the graded numpy exercises (assignment ``numpy_cnn``).

Two kinds of helpers live here:

* Input validators (``check_conv_inputs``, ``check_pool_inputs``,
  ``check_bn_inputs``, ``check_dout``).  The provided first line of every graded
  function calls one, so a student who passes a wrong shape or a bad
  ``conv_param`` is stopped by one sentence that says what to fix, instead of a
  numpy broadcasting error from deep inside their loops.  They raise
  :class:`ExerciseInputError` (a ``ValueError``).
* Result checks (``check_result_tuple``, ``check_shape``, ``check_dtype``,
  ``check_close``, ``check_unmodified``), the comparisons of the visible checks
  (:mod:`cnnbook.visible_checks`) and of the worked examples.  Each one prints what it
  compared and raises :class:`ExerciseCheckFailed` (an ``AssertionError``).

A failure's first line says what is wrong, where, what came and what was expected,
with the tolerance, in at most :data:`FIRST_LINE_LIMIT` characters, so that it survives
every place a student reads it: the notebook, ``nbgrader validate`` (which cuts every
line), and the one-line summary of :func:`cnnbook.visible_checks.check_all`.  The lines
after it give the context (which case, compared with what, how many entries are off).

In a notebook, IPython shows an exception through its ``_render_traceback_`` method
when it has one: both exception classes here use it to show their message first, with
no frame of this module before it (``__tracebackhide__`` alone cannot do that: IPython
always shows the frame that raised).  An input error then names the notebook lines that
led to the bad call.  Printing goes to stdout only: nbgrader gives zero points to any
graded cell that writes to stderr.

This module runs inside the grader's sandbox too (the provided first lines call it), so
it imports nothing but numpy and the standard library.
"""
import numbers
import os
import sys
import textwrap
import traceback

import numpy as np

BN_MODES = ("train", "test")
# nbgrader 0.9.6 `validate` prints each line of an error indented by 4 spaces and cuts it
# after 87 characters (Validator.width 90, minus 3 for "..."): 83 characters of a line
# survive.  80, the style guide's limit, leaves room for the indentation of other tools.
FIRST_LINE_LIMIT = 80
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_RED, _PLAIN = "\x1b[1;31m", "\x1b[0m"


def _wrapped(line):
    """A detail line, indented by two spaces and wrapped at FIRST_LINE_LIMIT after a comma or colon.

    Breaking only there keeps "stride 2" or "(2, 3, 7, 9)" together (a tuple's own commas are
    not followed by a break: its pieces are joined back first); a piece too long for a line of
    its own is broken between words.
    """
    pieces, depth = [], 0
    for token in line.split(" "):
        if pieces and (depth > 0 or not pieces[-1].endswith((",", ":", ";"))):
            pieces[-1] += " " + token
        else:
            pieces.append(token)
        depth += token.count("(") + token.count("[") - token.count(")") - token.count("]")
    lines, current = [], "  "
    for piece in pieces:
        if current.strip() and len(current) + 1 + len(piece) > FIRST_LINE_LIMIT:
            lines.append(current)
            current = "    "
        current += ("" if not current.strip() else " ") + piece
    return [part for line in lines + [current]
            for part in textwrap.wrap(line.lstrip(), FIRST_LINE_LIMIT, break_long_words=False,
                                      initial_indent=line[:len(line) - len(line.lstrip())], subsequent_indent="    ")]


def cell_label(filename):
    """``Cell In[5]`` for a notebook cell's code (when IPython runs it), else the file's name."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    compiler = getattr(shell, "compile", None)
    label = compiler.format_code_name(filename) if hasattr(compiler, "format_code_name") else None
    return " ".join(label) if label else os.path.basename(filename)


def student_frames(tb):
    """The frames of a traceback in the student's own code: not in cnnbook, IPython or another library."""
    library = (_PACKAGE_DIR + os.sep, sys.prefix + os.sep, sys.base_prefix + os.sep)
    return [frame for frame in traceback.extract_tb(tb) if not os.path.abspath(frame.filename).startswith(library)]


def frame_lines(tb):
    """``Cell In[5], line 3, in f: <source line>`` for each frame of the student's code, oldest first."""
    lines = []
    for frame in student_frames(tb):
        where = f"{cell_label(frame.filename)}, line {frame.lineno}"
        if frame.name not in ("<module>", "<cell line: 0>"):
            where += f", in {frame.name}"
        lines.append(f"{where}: {(frame.line or '').strip()}")
    return lines


class _Rendered:
    """Shown by IPython as its message lines, first line highlighted, without library frames."""

    def message_lines(self):
        return str(self).split("\n")

    def _render_traceback_(self):
        first, *rest = self.message_lines()
        return [f"{_RED}{first}{_PLAIN}"] + [piece for line in rest for piece in _wrapped(line.strip())]


class ExerciseInputError(_Rendered, ValueError):
    """A graded function was called with arguments it cannot accept."""

    def message_lines(self):
        called_from = frame_lines(self.__traceback__)
        return super().message_lines() + (["called from:"] + called_from if called_from else [])


class ExerciseCheckFailed(_Rendered, AssertionError):
    """A visible check found a wrong result; the message says what and where.

    ``details`` are the lines after the first: the check adds the context it knows
    (the function, the case, the reference) with :meth:`add_context`.
    """

    def __init__(self, message, details=()):
        first, *rest = str(message).split("\n")
        super().__init__(first)
        self.details = [line.strip() for line in rest] + list(details)

    @property
    def first_line(self):
        return self.args[0]

    def add_context(self, line):
        """Put ``line`` right after the first line (the outermost context comes first)."""
        self.details.insert(0, line)
        return self

    def __str__(self):
        return "\n".join([self.first_line] + self.details)


# ----------------------------------------------------------------------------
# Input validators (called by the provided first line of each graded function)
# ----------------------------------------------------------------------------

def _is_int(value):
    # bool is an int subclass, but {'stride': True} is a bug, not a stride of 1.
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _require_int(caller, param_name, params, key, minimum):
    __tracebackhide__ = True
    value = params[key]
    if not _is_int(value) or value < minimum:
        raise ExerciseInputError(
            f"{caller}: {param_name}['{key}'] must be an integer >= {minimum}, got {value!r}")


def _require_param_dict(caller, param_name, params, keys):
    __tracebackhide__ = True
    if not isinstance(params, dict):
        raise ExerciseInputError(
            f"{caller}: {param_name} must be a dict with the keys {list(keys)}, "
            f"got {type(params).__name__}")
    missing = [key for key in keys if key not in params]
    if missing:
        example = ", ".join(f"'{key}': ..." for key in keys)
        raise ExerciseInputError(
            f"{caller}: {param_name} is missing the key(s) {missing}; "
            f"it must look like {{{example}}}")


def check_conv_param(conv_param, caller="conv_forward_naive"):
    """``conv_param`` is a dict with an integer ``stride >= 1`` and ``pad >= 0``."""
    __tracebackhide__ = True
    _require_param_dict(caller, "conv_param", conv_param, ("stride", "pad"))
    _require_int(caller, "conv_param", conv_param, "stride", 1)
    _require_int(caller, "conv_param", conv_param, "pad", 0)


def check_pool_param(pool_param, caller="max_pool_forward_naive"):
    """``pool_param`` has integer ``pool_height``, ``pool_width`` and ``stride``, all >= 1."""
    __tracebackhide__ = True
    keys = ("pool_height", "pool_width", "stride")
    _require_param_dict(caller, "pool_param", pool_param, keys)
    for key in keys:
        _require_int(caller, "pool_param", pool_param, key, 1)


def check_bn_param(bn_param, caller="spatial_batchnorm_forward"):
    """``bn_param['mode']`` is 'train' or 'test'; ``eps`` > 0 and ``momentum`` in [0, 1] if given."""
    __tracebackhide__ = True
    _require_param_dict(caller, "bn_param", bn_param, ("mode",))
    if bn_param["mode"] not in BN_MODES:
        raise ExerciseInputError(
            f"{caller}: bn_param['mode'] must be 'train' or 'test', got {bn_param['mode']!r}")
    eps = bn_param.get("eps", 1e-5)
    if not isinstance(eps, numbers.Real) or not eps > 0:
        raise ExerciseInputError(f"{caller}: bn_param['eps'] must be a positive number, got {eps!r}")
    momentum = bn_param.get("momentum", 0.9)
    if not isinstance(momentum, numbers.Real) or not 0 <= momentum <= 1:
        raise ExerciseInputError(
            f"{caller}: bn_param['momentum'] must be a number in [0, 1], got {momentum!r}")


def _require_float_array(caller, name, value, layout):
    """``value`` is a floating numpy array with ``len(layout)`` axes."""
    __tracebackhide__ = True
    if not isinstance(value, np.ndarray):
        raise ExerciseInputError(
            f"{caller}: {name} must be a numpy array of shape {_layout(layout)}, "
            f"got {type(value).__name__}")
    if value.ndim != len(layout):
        hint = " (add a batch axis with x[None])" if value.ndim == len(layout) - 1 else ""
        axes = "1 axis" if len(layout) == 1 else f"{len(layout)} axes"
        raise ExerciseInputError(
            f"{caller}: {name} must have {axes} {_layout(layout)}, "
            f"got shape {value.shape}{hint}")
    if not np.issubdtype(value.dtype, np.floating):
        raise ExerciseInputError(
            f"{caller}: {name} must hold floating point numbers, got dtype {value.dtype} "
            f"(convert with {name}.astype(np.float64))")


def _layout(names):
    return f"({names[0]},)" if len(names) == 1 else "(" + ", ".join(names) + ")"


def check_conv_inputs(x, w, b, conv_param, caller="conv_forward_naive"):
    """Shapes of a convolution's inputs agree and the output is at least 1 x 1."""
    __tracebackhide__ = True
    check_conv_param(conv_param, caller)
    _require_float_array(caller, "x", x, ("N", "C", "H", "W"))
    _require_float_array(caller, "w", w, ("F", "C", "HH", "WW"))
    _require_float_array(caller, "b", b, ("F",))
    if w.shape[1] != x.shape[1]:
        raise ExerciseInputError(
            f"{caller}: every filter must span all input channels: x has C = {x.shape[1]} "
            f"channels but w has shape {w.shape} (w.shape[1] = {w.shape[1]})")
    if b.shape[0] != w.shape[0]:
        raise ExerciseInputError(
            f"{caller}: b needs one bias per filter, shape ({w.shape[0]},), got {b.shape}")
    pad = conv_param["pad"]
    for axis, size, kernel in (("height", x.shape[2], w.shape[2]), ("width", x.shape[3], w.shape[3])):
        if size + 2 * pad < kernel:
            raise ExerciseInputError(
                f"{caller}: the filter {axis} {kernel} is larger than the padded input "
                f"{axis} {size} + 2 * {pad} = {size + 2 * pad}; the output would be empty")


def check_pool_inputs(x, pool_param, caller="max_pool_forward_naive"):
    """``x`` is (N, C, H, W) and every pooling window fits inside it."""
    __tracebackhide__ = True
    check_pool_param(pool_param, caller)
    _require_float_array(caller, "x", x, ("N", "C", "H", "W"))
    for axis, size, key in (("height", x.shape[2], "pool_height"), ("width", x.shape[3], "pool_width")):
        if pool_param[key] > size:
            raise ExerciseInputError(
                f"{caller}: pool_param['{key}'] = {pool_param[key]} is larger than the input "
                f"{axis} {size}; the output would be empty")


def check_bn_inputs(x, gamma, beta, bn_param, caller="spatial_batchnorm_forward"):
    """``x`` is (N, C, H, W); gamma, beta and any running statistics have shape (C,)."""
    __tracebackhide__ = True
    check_bn_param(bn_param, caller)
    _require_float_array(caller, "x", x, ("N", "C", "H", "W"))
    _require_float_array(caller, "gamma", gamma, ("C",))
    _require_float_array(caller, "beta", beta, ("C",))
    channels = x.shape[1]
    per_channel = {"gamma": gamma, "beta": beta}
    per_channel.update({key: bn_param[key] for key in ("running_mean", "running_var") if key in bn_param})
    for name, value in per_channel.items():
        if np.shape(value) != (channels,):
            raise ExerciseInputError(
                f"{caller}: {name} needs one value per channel, shape ({channels},), "
                f"got {np.shape(value)} (statistics are per channel, over N, H and W)")


def check_dout(dout, caller):
    """The upstream gradient of a 4-D layer output is a 4-D floating array."""
    __tracebackhide__ = True
    _require_float_array(caller, "dout", dout, ("N", "F", "H'", "W'"))


# ----------------------------------------------------------------------------
# Result checks (called by the visible test cells)
# ----------------------------------------------------------------------------

def check_result_tuple(result, names, caller):
    """``result`` is a tuple with one entry per name in ``names``; returns it.

    For example ``check_result_tuple(conv_forward_naive(...), ("out", "cache"),
    "conv_forward_naive")``.
    """
    __tracebackhide__ = True
    expected = "(" + ", ".join(names) + ")"
    if result is None:
        raise ExerciseCheckFailed(f"{caller} returned None; it must return {expected}",
                                  ["Did you forget the return statement?"])
    if not isinstance(result, tuple) or len(result) != len(names):
        got = f"a tuple of {len(result)}" if isinstance(result, tuple) else type(result).__name__
        raise ExerciseCheckFailed(f"{caller} must return a tuple {expected}, got {got}")
    return result


def _require_result_array(name, value):
    __tracebackhide__ = True
    if value is None:
        raise ExerciseCheckFailed(f"{name} is None: did you forget to compute or return it?")
    if not isinstance(value, np.ndarray):
        raise ExerciseCheckFailed(f"{name} must be a numpy array, got {type(value).__name__}")


def check_shape(name, value, expected_shape, hint=""):
    """``value`` is a numpy array of shape ``expected_shape``."""
    __tracebackhide__ = True
    _require_result_array(name, value)
    expected_shape = tuple(expected_shape)
    if value.shape != expected_shape:
        raise ExerciseCheckFailed(f"{name} has shape {value.shape}, expected {expected_shape}",
                                  [hint] if hint else [])


def check_dtype(name, value, expected_dtype):
    """``value`` keeps the input's floating dtype (float32 in, float32 out)."""
    __tracebackhide__ = True
    _require_result_array(name, value)
    if value.dtype != np.dtype(expected_dtype):
        raise ExerciseCheckFailed(
            f"{name} has dtype {value.dtype}, expected the input's dtype {np.dtype(expected_dtype)}",
            ["Create arrays with dtype=x.dtype or np.zeros_like(x)."])
    print(f"  ok  {name}: dtype {value.dtype}")


def relative_errors(actual, expected, floor=1e-8):
    """Element-wise ``|a - e| / max(floor, |a| + |e|)``.

    With the default floor this is the element-wise form of
    :func:`cnnbook.gradient_check.rel_error` (CS231n's convention).  A floor of
    1 turns it into an absolute error for entries smaller than about 1, which
    suits float32 results, whose rounding error makes near-zero entries
    meaningless in relative terms.
    """
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    return np.abs(actual - expected) / np.maximum(floor, np.abs(actual) + np.abs(expected))


def entry_name(name, index):
    """``dx[0, 1, 2, 3]``: the array's name and an entry's index (just the name for a scalar)."""
    return f"{name}[{', '.join(str(int(i)) for i in index)}]" if len(index) else name


# From the most to the least explicit: the first that fits FIRST_LINE_LIMIT is used.
_MISMATCH_FORMS = (
    "{what} is {got:.6g}, expected {expected:.6g}: relative error {error:.1e} > tolerance {tol:.0e}",
    "{what} is {got:.6g}, expected {expected:.6g} (relative error {error:.1e} > {tol:.0e})",
    "{what} is {got:.4g}, expected {expected:.4g} (rel. error {error:.0e} > {tol:.0e})",
    "{what} is {got:.3g}, expected {expected:.3g} (rel. error {error:.0e} > {tol:.0e})",
    "{what} is {got:.3g}, expected {expected:.3g} (tolerance {tol:.0e})",
    "{what} is {got:.3g}, not {expected:.3g} (tolerance {tol:.0e})",
)


def mismatch_line(what, got, expected, error, tol):
    """The first line of a failed comparison: what, where, got, expected and the tolerance."""
    for form in _MISMATCH_FORMS:
        line = form.format(what=what, got=got, expected=expected, error=error, tol=tol)
        if len(line) <= FIRST_LINE_LIMIT:
            break
    return line


def check_close(name, actual, expected, tol=1e-7, floor=1e-8, against=None):
    """``actual`` matches ``expected`` within relative error ``tol``; prints the error.

    Checks the shape first, then NaN/inf, then the largest relative error (see
    :func:`relative_errors`).  A failure's first line names the entry with the
    largest error, its value, the expected value and the tolerance; ``against``
    names the reference in the lines after it (e.g. "the numeric gradient").
    """
    __tracebackhide__ = True
    expected = np.asarray(expected)
    if isinstance(actual, (numbers.Number, np.generic)):  # a loss or another scalar
        actual = np.asarray(actual)
    check_shape(name, actual, expected.shape)
    compared = f" (compared with {against})" if against else ""
    details = [f"compared with {against}"] if against else []
    if not np.all(np.isfinite(actual)):
        where = tuple(np.argwhere(~np.isfinite(actual))[0])
        raise ExerciseCheckFailed(f"{entry_name(name, where)} is {float(actual[where])}, expected "
                                  f"{float(expected[where]):.6g}: NaN and inf are never right", details)
    if actual.size == 0:
        print(f"  ok  {name}{compared}: empty, as expected")
        return
    errors = relative_errors(actual, expected, floor)
    worst = np.unravel_index(int(np.argmax(errors)), errors.shape)
    error = float(errors[worst])
    if not error <= tol:
        off = int(np.count_nonzero(~(errors <= tol)))
        raise ExerciseCheckFailed(
            # + 0.0 turns -0.0 into 0.0: "expected -0" reads like a sign error.
            mismatch_line(entry_name(name, worst), float(actual[worst]) + 0.0, float(expected[worst]) + 0.0,
                          error, tol),
            details + [f"{off} of {errors.size} entries of {name} are off"])
    print(f"  ok  {name}{compared}: relative error {error:.2e} <= {tol:.0e}")


def check_unmodified(name, before, after):
    """The function did not write into its input ``name`` (``before`` is a copy)."""
    __tracebackhide__ = True
    hint = ["Work on a copy (np.pad and np.zeros_like create new arrays) and leave the input as it was."]
    if after.shape != before.shape:
        raise ExerciseCheckFailed(f"your function changed the shape of its input {name} in place", hint)
    both_nan = np.isnan(before) & np.isnan(after) if np.issubdtype(before.dtype, np.inexact) else False
    changed = ~((before == after) | both_nan)
    if np.any(changed):
        where = tuple(np.argwhere(changed)[0])
        raise ExerciseCheckFailed(f"your function modified its input {entry_name(name, where)}: it is "
                                  f"{float(after[where]):.6g}, was {float(before[where]):.6g}", hint)
    print(f"  ok  {name} left unmodified")
