"""Readable checks for the graded numpy exercises (assignment ``numpy_cnn``).

Two kinds of helpers live here:

* Input validators (``check_conv_inputs``, ``check_pool_inputs``,
  ``check_bn_inputs``, ``check_dout``).  The provided first line of every graded
  function calls one, so a student who passes a wrong shape or a bad
  ``conv_param`` is stopped by one sentence that says what to fix, instead of a
  numpy broadcasting error from deep inside their loops.  They raise
  :class:`ExerciseInputError` (a ``ValueError``).
* Result checks (``check_result_tuple``, ``check_shape``, ``check_dtype``,
  ``check_close``, ``check_unmodified``) for the visible test cells.  Each one
  prints what it compared and raises :class:`ExerciseCheckFailed` (an
  ``AssertionError``) with a message naming what is wrong and where.

Every helper sets ``__tracebackhide__`` so that IPython and pytest show the
student's own line, not the inside of this module.  Printing goes to stdout
only: nbgrader gives zero points to any graded cell that writes to stderr.
"""
import numbers

import numpy as np

BN_MODES = ("train", "test")


class ExerciseInputError(ValueError):
    """A graded function was called with arguments it cannot accept."""


class ExerciseCheckFailed(AssertionError):
    """A visible check found a wrong result; the message says what and where."""


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
        raise ExerciseCheckFailed(f"{caller} returned None; it must return {expected}. "
                                  "Did you forget the return statement?")
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
        raise ExerciseCheckFailed(
            f"{name} has shape {value.shape} but should have shape {expected_shape}"
            + (f". {hint}" if hint else ""))


def check_dtype(name, value, expected_dtype):
    """``value`` keeps the input's floating dtype (float32 in, float32 out)."""
    __tracebackhide__ = True
    _require_result_array(name, value)
    if value.dtype != np.dtype(expected_dtype):
        raise ExerciseCheckFailed(
            f"{name} has dtype {value.dtype} but should keep the input's dtype "
            f"{np.dtype(expected_dtype)} (create arrays with dtype=x.dtype or np.zeros_like)")
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


def check_close(name, actual, expected, tol=1e-7, floor=1e-8, against=None):
    """``actual`` matches ``expected`` within relative error ``tol``; prints the error.

    Checks the shape first, then NaN/inf, then the largest relative error (see
    :func:`relative_errors`), naming the entry where it occurs.  ``against``
    names the reference in the messages (e.g. "the numeric gradient").
    """
    __tracebackhide__ = True
    expected = np.asarray(expected)
    if isinstance(actual, (numbers.Number, np.generic)):  # a loss or another scalar
        actual = np.asarray(actual)
    check_shape(name, actual, expected.shape)
    if not np.all(np.isfinite(actual)):
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(actual))[0])
        raise ExerciseCheckFailed(f"{name} contains NaN or inf (first at index {where})")
    compared = f" (compared with {against})" if against else ""
    if actual.size == 0:
        print(f"  ok  {name}{compared}: empty, as expected")
        return
    errors = relative_errors(actual, expected, floor)
    worst = np.unravel_index(int(np.argmax(errors)), errors.shape)
    error = float(errors[worst])
    if not error <= tol:
        values = f"got {float(actual[worst]):.6g}, expected {float(expected[worst]):.6g}"
        where = (f"Largest at index {tuple(int(i) for i in worst)}: {values}"
                 if actual.ndim else values[0].upper() + values[1:])
        raise ExerciseCheckFailed(
            f"{name} is wrong{compared}: relative error {error:.2e} > "
            f"tolerance {tol:.0e}. {where}")
    print(f"  ok  {name}{compared}: relative error {error:.2e} <= {tol:.0e}")


def check_unmodified(name, before, after):
    """The function did not write into its input ``name`` (``before`` is a copy)."""
    __tracebackhide__ = True
    if after.shape != before.shape or not np.array_equal(before, after, equal_nan=True):
        raise ExerciseCheckFailed(
            f"your function modified its input {name} in place; work on a copy "
            f"(np.pad and np.zeros_like create new arrays) and leave the input as it was")
    print(f"  ok  {name} left unmodified")
