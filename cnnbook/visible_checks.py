"""The visible checks of the numpy_cnn notebooks, and ``check_all``, the one call before submitting.

Each graded test cell of the exercises runs one function of this module, for example
``check_conv_backward_naive(conv_backward_naive)``.  ``check_all("convolution", globals())``,
the last cell of each notebook, runs the same functions again and prints one line per graded
function: ``ok``, or the first line of its failure.  That is the verdict ``nbgrader validate``
gives, because validate fails a test cell exactly when its check raises (or writes to
stderr); check_all runs in the kernel as it is, validate in a fresh one.

**Steps.**  Each check is a short sequence of named steps (:data:`STEPS`) on fixed, seeded
inputs, compared with the course's own layers (:mod:`cnnbook.fast_layers`) and with numeric
gradients of them.  ``tests/test_exercises_rules.py`` maps every rule a notebook states with
"must" to one of these steps and to a hidden check of the grader.

**Blame.**  A check calls only the function it checks.  A backward check never runs the
student's forward pass: it builds the cache that the forward pass's provided last lines store,
``(x, w, b, conv_param)``, ``(x, pool_param)`` or ``(x_hat, gamma, inv_std, mode)`` (the last
from ``spatial_batchnorm_forward_fast``, whose cache is the same), so a bug in a forward pass
fails the forward check only.

**Messages.**  A wrong result raises :class:`~cnnbook.exercise_checks.ExerciseCheckFailed`:
its first line says what, where, got, expected and the tolerance, short enough for
``nbgrader validate``; this module adds the function and the case after it, and a hint where a
step checks one rule.  An exception of the student's own code goes through unchanged, with a
note naming the case, so that its traceback ends at the student's line (the frames of this
module are hidden with ``__tracebackhide__``).

Chapter: the exercises of "Graded exercises" (``book/exercises/how_to_submit.md``).
"""
import io
import time
import warnings
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from typing import Callable

import numpy as np

from cnnbook.exercise_checks import (
    ExerciseCheckFailed, cell_label, check_close, check_dtype, check_result_tuple, check_shape, check_unmodified,
    student_frames)
from cnnbook.fast_layers import (
    conv_backward_fast, conv_forward_fast, max_pool_backward_fast, max_pool_forward_fast,
    spatial_batchnorm_backward_fast, spatial_batchnorm_forward_fast)
from cnnbook.gradient_check import eval_numerical_gradient, eval_numerical_gradient_array

# Gradients of float32 inputs against float64 references: (tolerance, floor).  Sums of a few dozen
# float32 products are off by about 1e-6; the floor 1 makes it an absolute error below 1.
FLOAT32 = (1e-4, 1.0)


@dataclass(frozen=True)
class Step:
    id: str                 # what tests and the rules table call it: "<function>:<id>"
    title: str              # printed before the step runs
    run: Callable           # run(function under check)


# ----------------------------------------------------------------------------
# Running a check: cases, context, hints
# ----------------------------------------------------------------------------

def _describe(**values):
    return ", ".join(f"{key} {value}" for key, value in values.items())


def _in_case(context, run, *args, hint=None):
    """``run(*args)``; a failure gets ``context`` after its first line (and ``hint`` last)."""
    __tracebackhide__ = True
    try:
        run(*args)
    except ExerciseCheckFailed as failure:
        failure.add_context(context)
        if hint:
            failure.details.append(hint)
        raise
    except Exception as error:
        error.add_note(f"(raised in the visible check, {context})")
        raise


def _run_steps(name, function):
    __tracebackhide__ = True
    for step in STEPS[name]:
        print(f"{step.title}:")
        step.run(function)


def _numeric(forward, x, dout):
    """The numeric gradient of ``sum(forward(x) * dout)`` with respect to ``x``."""
    return eval_numerical_gradient_array(forward, x, dout)


# ----------------------------------------------------------------------------
# conv_forward_naive, conv_backward_naive
# ----------------------------------------------------------------------------

CONV_FORWARD_CASES = [  # (shape of x, shape of w, conv_param)
    ((2, 3, 7, 9), (4, 3, 3, 3), {'stride': 1, 'pad': 1}),
    ((1, 2, 8, 6), (3, 2, 2, 3), {'stride': 2, 'pad': 0}),
    ((3, 1, 9, 10), (2, 1, 5, 4), {'stride': 3, 'pad': 2}),
]
CONV_BACKWARD_CASES = [
    ((2, 3, 5, 6), (4, 3, 3, 2), {'stride': 1, 'pad': 1}),
    ((2, 2, 7, 5), (3, 2, 3, 3), {'stride': 2, 'pad': 0}),
    ((1, 2, 6, 7), (2, 2, 2, 4), {'stride': 3, 'pad': 2}),
]
CONV_SHAPE_HINT = "H' = 1 + (H + 2 * pad - HH) // stride, W' = 1 + (W + 2 * pad - WW) // stride"


def _conv_inputs(seed, cases, dtype=np.float64):
    """``(label, x, w, b, conv_param)`` for each case, drawn from one generator."""
    rng = np.random.default_rng(seed)
    for k, (x_shape, w_shape, conv_param) in enumerate(cases, 1):
        x, w, b = (rng.standard_normal(s).astype(dtype) for s in (x_shape, w_shape, w_shape[0]))
        label = f"case {k} of {len(cases)}: " + _describe(x=x_shape, w=w_shape, **conv_param)
        yield label, x, w, b, conv_param


def _conv_forward_case(conv_forward_naive, x, w, b, conv_param, tol=1e-8, floor=1e-8):
    __tracebackhide__ = True
    x_before = x.copy()
    result = conv_forward_naive(x, w, b, conv_param)
    out, _ = check_result_tuple(result, ("out", "cache"), "conv_forward_naive")
    expected, _ = conv_forward_fast(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), conv_param)
    check_shape("out", out, expected.shape, hint=CONV_SHAPE_HINT)
    if x.dtype == np.float32:
        check_dtype("out", out, np.float32)
    check_close("out", out, expected, tol, floor, against="conv_forward_fast")
    check_unmodified("x", x_before, x)


def _conv_forward_random(conv_forward_naive):
    __tracebackhide__ = True
    for label, *inputs in _conv_inputs(2024, CONV_FORWARD_CASES):
        print(f"  {label}")
        _in_case(f"conv_forward_naive, {label}", _conv_forward_case, conv_forward_naive, *inputs)


def _conv_forward_float32(conv_forward_naive):
    __tracebackhide__ = True
    for label, *inputs in _conv_inputs(2025, CONV_FORWARD_CASES[:1], np.float32):
        _in_case(f"conv_forward_naive, float32 input, {label}", _conv_forward_case, conv_forward_naive,
                 *inputs, 1e-5, 1.0)


def _conv_backward_case(conv_backward_naive, x, w, b, conv_param, dout):
    """Compare with conv_backward_fast and, in float64, with numeric gradients of conv_forward_fast."""
    __tracebackhide__ = True
    # The cache conv_forward_naive's provided last line stores, built here: no forward pass of yours runs.
    cache = (x, w, b, conv_param)
    x_before, dout_before = x.copy(), dout.copy()
    names = ("dx", "dw", "db")
    grads = dict(zip(names, check_result_tuple(conv_backward_naive(dout, cache), names, "conv_backward_naive")))
    check_unmodified("x", x_before, x)
    check_unmodified("dout", dout_before, dout)
    x64, w64, b64, dout64 = (a.astype(np.float64) for a in (x, w, b, dout))
    fast = dict(zip(names, conv_backward_fast(dout64, conv_forward_fast(x64, w64, b64, conv_param)[1])))
    tol, floor = FLOAT32 if x.dtype == np.float32 else (1e-8, 1e-8)
    for name in names:
        if x.dtype == np.float32:
            check_dtype(name, grads[name], np.float32)
        check_close(name, grads[name], fast[name], tol, floor, against="conv_backward_fast")
    if x.dtype == np.float64:
        _conv_numeric(grads, x64, w64, b64, conv_param, dout64)


def _conv_numeric(grads, x, w, b, conv_param, dout):
    __tracebackhide__ = True
    def layer(x_, w_, b_):
        return conv_forward_fast(x_, w_, b_, conv_param)[0]
    numeric = {"dx": _numeric(lambda v: layer(v, w, b), x, dout),
               "dw": _numeric(lambda v: layer(x, v, b), w, dout),
               "db": _numeric(lambda v: layer(x, w, v), b, dout)}
    for name, expected in numeric.items():
        check_close(name, grads[name], expected, 1e-6, against="the numeric gradient of conv_forward_fast")


def _conv_backward_random(conv_backward_naive):
    __tracebackhide__ = True
    rng = np.random.default_rng(8)
    for label, x, w, b, conv_param in _conv_inputs(7, CONV_BACKWARD_CASES):
        print(f"  {label}")
        dout = rng.standard_normal(conv_forward_fast(x, w, b, conv_param)[0].shape)
        _in_case(f"conv_backward_naive, {label}", _conv_backward_case, conv_backward_naive,
                 x, w, b, conv_param, dout)


def _conv_backward_float32(conv_backward_naive):
    __tracebackhide__ = True
    for label, x, w, b, conv_param in _conv_inputs(9, CONV_BACKWARD_CASES[1:2], np.float32):
        dout = np.random.default_rng(10).standard_normal(
            conv_forward_fast(x, w, b, conv_param)[0].shape).astype(np.float32)
        _in_case(f"conv_backward_naive, float32 input, {label}", _conv_backward_case, conv_backward_naive,
                 x, w, b, conv_param, dout)


# ----------------------------------------------------------------------------
# max_pool_forward_naive, max_pool_backward_naive
# ----------------------------------------------------------------------------

POOL_CASES = [  # (shape of x, pool_param)
    ((2, 3, 8, 6), {'pool_height': 2, 'pool_width': 2, 'stride': 2}),
    ((1, 2, 7, 9), {'pool_height': 3, 'pool_width': 2, 'stride': 1}),
    ((3, 1, 9, 8), {'pool_height': 2, 'pool_width': 3, 'stride': 3}),
]
POOL_SHAPE_HINT = ("H' = 1 + (H - pool_height) // stride, W' = 1 + (W - pool_width) // stride; "
                   "pooling keeps N and C")
TIES_HINT = ("Here windows hold their maximum more than once: only the first in row-major order "
             "(what np.argmax finds) gets the gradient, not every tied maximum.")


def _pool_inputs(seed, cases, dtype=np.float64):
    rng = np.random.default_rng(seed)
    for k, (x_shape, pool_param) in enumerate(cases, 1):
        label = f"case {k} of {len(cases)}: " + _describe(x=x_shape, **pool_param)
        yield label, rng.standard_normal(x_shape).astype(dtype), pool_param


def _pool_forward_case(max_pool_forward_naive, x, pool_param, tol=1e-12, floor=1e-8):
    __tracebackhide__ = True
    x_before = x.copy()
    result = max_pool_forward_naive(x, pool_param)
    out, _ = check_result_tuple(result, ("out", "cache"), "max_pool_forward_naive")
    expected, _ = max_pool_forward_fast(x.astype(np.float64), pool_param)
    check_shape("out", out, expected.shape, hint=POOL_SHAPE_HINT)
    if x.dtype == np.float32:
        check_dtype("out", out, np.float32)
    check_close("out", out, expected, tol, floor, against="max_pool_forward_fast")
    check_unmodified("x", x_before, x)


def _pool_forward_random(max_pool_forward_naive):
    __tracebackhide__ = True
    for label, x, pool_param in _pool_inputs(11, POOL_CASES):
        print(f"  {label}")
        _in_case(f"max_pool_forward_naive, {label}", _pool_forward_case, max_pool_forward_naive, x, pool_param)


def _pool_forward_float32(max_pool_forward_naive):
    __tracebackhide__ = True
    for label, x, pool_param in _pool_inputs(14, POOL_CASES[1:2], np.float32):
        _in_case(f"max_pool_forward_naive, float32 input, {label}", _pool_forward_case,
                 max_pool_forward_naive, x, pool_param, 1e-6, 1.0)


def _pool_backward_case(max_pool_backward_naive, x, pool_param, dout, numeric=True):
    # The cache max_pool_forward_naive's provided last line stores, built here.
    __tracebackhide__ = True
    cache = (x, pool_param)
    x_before, dout_before = x.copy(), dout.copy()
    dx = max_pool_backward_naive(dout, cache)
    check_shape("dx", dx, x.shape, hint="dx has the shape of the input x")
    check_unmodified("x", x_before, x)
    check_unmodified("dout", dout_before, dout)
    x64, dout64 = x.astype(np.float64), dout.astype(np.float64)
    _, fast_cache = max_pool_forward_fast(x64, pool_param)
    if x.dtype == np.float32:
        check_dtype("dx", dx, np.float32)
    check_close("dx", dx, max_pool_backward_fast(dout64, fast_cache), 1e-12 if x.dtype == np.float64 else 1e-6,
                against="max_pool_backward_fast")
    if numeric:
        check_close("dx", dx, _numeric(lambda v: max_pool_forward_fast(v, pool_param)[0], x64, dout64), 1e-8,
                    against="the numeric gradient of max_pool_forward_fast")


def _pool_backward_random(max_pool_backward_naive):
    __tracebackhide__ = True
    rng = np.random.default_rng(13)
    for label, x, pool_param in _pool_inputs(12, POOL_CASES):
        print(f"  {label}")
        dout = rng.standard_normal(max_pool_forward_fast(x, pool_param)[0].shape)
        _in_case(f"max_pool_backward_naive, {label}", _pool_backward_case, max_pool_backward_naive,
                 x, pool_param, dout)


def _pool_backward_ties(max_pool_backward_naive):
    """Windows full of ties (three values only): no numeric gradient, it is undefined there."""
    __tracebackhide__ = True
    rng = np.random.default_rng(15)
    x = rng.integers(0, 3, size=(2, 2, 6, 8)).astype(np.float64)
    pool_param = {'pool_height': 2, 'pool_width': 2, 'stride': 2}
    dout = rng.standard_normal((2, 2, 3, 4))
    label = "tied maxima, " + _describe(x=x.shape, **pool_param) + ", values 0, 1 and 2"
    print(f"  {label}")
    _in_case(f"max_pool_backward_naive, {label}", _pool_backward_case, max_pool_backward_naive,
             x, pool_param, dout, False, hint=TIES_HINT)


def _pool_backward_float32(max_pool_backward_naive):
    __tracebackhide__ = True
    for label, x, pool_param in _pool_inputs(16, POOL_CASES[:1], np.float32):
        dout = np.random.default_rng(17).standard_normal((2, 3, 4, 3)).astype(np.float32)
        _in_case(f"max_pool_backward_naive, float32 input, {label}", _pool_backward_case,
                 max_pool_backward_naive, x, pool_param, dout, False)


# ----------------------------------------------------------------------------
# spatial_batchnorm_forward, spatial_batchnorm_backward
# ----------------------------------------------------------------------------

BN_SHAPE = (4, 3, 5, 6)
BN_BACKWARD_SHAPES = [(2, 3, 4, 5), (1, 1, 3, 7)]


def _bn_normalises(spatial_batchnorm_forward):
    """gamma = 1, beta = 0: every channel of out has mean 0 and standard deviation 1."""
    __tracebackhide__ = True
    rng = np.random.default_rng(5)
    x = 5.0 + 3.0 * rng.standard_normal(BN_SHAPE)
    label = f"train mode, x {BN_SHAPE} with mean 5 and standard deviation 3, gamma 1, beta 0"
    print(f"  {label}")
    _in_case(f"spatial_batchnorm_forward, {label}", _bn_normalises_case, spatial_batchnorm_forward, x)


def _bn_normalises_case(spatial_batchnorm_forward, x):
    __tracebackhide__ = True
    channels = x.shape[1]
    x_before = x.copy()
    result = spatial_batchnorm_forward(x, np.ones(channels), np.zeros(channels), {'mode': 'train'})
    out, _ = check_result_tuple(result, ("out", "cache"), "spatial_batchnorm_forward")
    check_shape("out", out, x.shape)
    check_unmodified("x", x_before, x)
    check_close("mean of out per channel", out.mean(axis=(0, 2, 3)), np.zeros(channels), 1e-8, 1.0)
    check_close("std of out per channel", out.std(axis=(0, 2, 3)), np.ones(channels), 1e-5)


def _bn_modes(spatial_batchnorm_forward):
    """Train and test mode with momentum 0.7 and given running averages, against the fast layer."""
    __tracebackhide__ = True
    rng = np.random.default_rng(18)
    x = 5.0 + 3.0 * rng.standard_normal(BN_SHAPE)
    channels = BN_SHAPE[1]
    gamma, beta = rng.standard_normal(channels), rng.standard_normal(channels)
    running = {'running_mean': rng.standard_normal(channels), 'running_var': rng.uniform(0.5, 2.0, channels)}
    for mode in ('train', 'test'):
        label = f"mode {mode!r}, momentum 0.7, given running averages, x {BN_SHAPE}"
        print(f"  {label}")
        hint = ("In test mode, normalise with the running averages and leave them as they are."
                if mode == 'test' else None)
        _in_case(f"spatial_batchnorm_forward, {label}", _bn_mode_case, spatial_batchnorm_forward,
                 x, gamma, beta, mode, running, hint=hint)


def _bn_mode_case(spatial_batchnorm_forward, x, gamma, beta, mode, running):
    __tracebackhide__ = True
    mine, reference = ({'mode': mode, 'momentum': 0.7, **{k: v.copy() for k, v in running.items()}}
                       for _ in range(2))
    result = spatial_batchnorm_forward(x, gamma, beta, mine)
    out, _ = check_result_tuple(result, ("out", "cache"), "spatial_batchnorm_forward")
    expected, _ = spatial_batchnorm_forward_fast(x, gamma, beta, reference)
    check_close("out", out, expected, 1e-8, against="spatial_batchnorm_forward_fast")
    for key in ('running_mean', 'running_var'):
        against = "spatial_batchnorm_forward_fast" + (" (unchanged in test mode)" if mode == 'test' else "")
        check_close(f"bn_param['{key}']", mine.get(key), reference[key], 1e-8, against=against)


def _bn_forward_float32(spatial_batchnorm_forward):
    __tracebackhide__ = True
    rng = np.random.default_rng(19)
    x = 5.0 + 3.0 * rng.standard_normal(BN_SHAPE)
    gamma, beta = rng.standard_normal(BN_SHAPE[1]), rng.standard_normal(BN_SHAPE[1])
    _in_case(f"spatial_batchnorm_forward, float32 input, train mode, x {BN_SHAPE}", _bn_float32_case,
             spatial_batchnorm_forward, x, gamma, beta)


def _bn_float32_case(spatial_batchnorm_forward, x, gamma, beta):
    __tracebackhide__ = True
    x32, gamma32, beta32 = (a.astype(np.float32) for a in (x, gamma, beta))
    out32, _ = check_result_tuple(spatial_batchnorm_forward(x32, gamma32, beta32, {'mode': 'train'}),
                                  ("out", "cache"), "spatial_batchnorm_forward")
    check_dtype("out", out32, np.float32)
    expected, _ = spatial_batchnorm_forward_fast(x, gamma, beta, {'mode': 'train'})
    check_close("out", out32, expected, 1e-5, 1.0, against="spatial_batchnorm_forward_fast")


def _bn_backward_case(spatial_batchnorm_backward, x, gamma, beta, bn_param, dout):
    """Compare with the fast layer and numeric gradients of spatial_batchnorm_forward_fast in ``bn_param``'s mode."""
    __tracebackhide__ = True
    # The cache spatial_batchnorm_forward's provided last line stores, (x_hat, gamma, inv_std,
    # mode), is the fast layer's: no forward pass of yours runs.
    _, cache = spatial_batchnorm_forward_fast(x, gamma, beta, dict(bn_param))
    dout_before = dout.copy()
    result = spatial_batchnorm_backward(dout, cache)
    names = ("dx", "dgamma", "dbeta")
    grads = dict(zip(names, check_result_tuple(result, names, "spatial_batchnorm_backward")))
    check_unmodified("dout", dout_before, dout)
    x64, gamma64, beta64, dout64 = (a.astype(np.float64) for a in (x, gamma, beta, dout))
    _, cache64 = spatial_batchnorm_forward_fast(x64, gamma64, beta64, dict(bn_param))
    fast = dict(zip(names, spatial_batchnorm_backward_fast(dout64, cache64)))
    tol, floor = FLOAT32 if x.dtype == np.float32 else (1e-7, 1e-8)
    for name in names:
        if x.dtype == np.float32:
            check_dtype(name, grads[name], np.float32)
        check_close(name, grads[name], fast[name], tol, floor, against="spatial_batchnorm_backward_fast")
    if x.dtype == np.float32:
        return

    def layer(x_, gamma_, beta_):
        return spatial_batchnorm_forward_fast(x_, gamma_, beta_, dict(bn_param))[0]
    numeric = {"dx": _numeric(lambda v: layer(v, gamma64, beta64), x64, dout64),
               "dgamma": _numeric(lambda v: layer(x64, v, beta64), gamma64, dout64),
               "dbeta": _numeric(lambda v: layer(x64, gamma64, v), beta64, dout64)}
    for name in names:
        check_close(name, grads[name], numeric[name], 1e-6,
                    against="the numeric gradient of spatial_batchnorm_forward_fast")


def _bn_inputs(rng, shape, dtype=np.float64):
    channels = shape[1]
    x = 2.0 + 3.0 * rng.standard_normal(shape)
    gamma, beta, dout = rng.standard_normal(channels), rng.standard_normal(channels), rng.standard_normal(shape)
    return tuple(a.astype(dtype) for a in (x, gamma, beta, dout))


def _bn_backward_train(spatial_batchnorm_backward):
    __tracebackhide__ = True
    rng = np.random.default_rng(6)
    for k, shape in enumerate(BN_BACKWARD_SHAPES, 1):
        label = f"case {k} of {len(BN_BACKWARD_SHAPES)}: train mode, x {shape}"
        print(f"  {label}")
        x, gamma, beta, dout = _bn_inputs(rng, shape)
        _in_case(f"spatial_batchnorm_backward, {label}", _bn_backward_case, spatial_batchnorm_backward,
                 x, gamma, beta, {'mode': 'train'}, dout)


def _bn_backward_test(spatial_batchnorm_backward):
    """Test mode: the running averages are constants, so only the direct path to x remains."""
    __tracebackhide__ = True
    rng = np.random.default_rng(20)
    shape = BN_BACKWARD_SHAPES[0]
    x, gamma, beta, dout = _bn_inputs(rng, shape)
    bn_param = {'mode': 'test', 'running_mean': rng.standard_normal(shape[1]),
                'running_var': rng.uniform(0.5, 2.0, shape[1])}
    label = f"test mode, given running averages, x {shape}"
    print(f"  {label}")
    _in_case(f"spatial_batchnorm_backward, {label}", _bn_backward_case, spatial_batchnorm_backward,
             x, gamma, beta, bn_param, dout,
             hint="In test mode mean and variance are constants: dx = gamma * inv_std * dout.")


def _bn_backward_float32(spatial_batchnorm_backward):
    __tracebackhide__ = True
    x, gamma, beta, dout = _bn_inputs(np.random.default_rng(21), BN_BACKWARD_SHAPES[0], np.float32)
    _in_case(f"spatial_batchnorm_backward, float32 input, train mode, x {x.shape}", _bn_backward_case,
             spatial_batchnorm_backward, x, gamma, beta, {'mode': 'train'}, dout)


# ----------------------------------------------------------------------------
# ThreeLayerConvNet
# ----------------------------------------------------------------------------

CONVNET_INPUT, CONVNET_CLASSES = (2, 9, 11), 5
# A 3x3 filter with pad 1 keeps 9 x 11; 2x2 pooling gives 4 x 5.
CONVNET_SMALL = dict(input_dim=CONVNET_INPUT, num_filters=4, filter_size=3, hidden_dim=6,
                     num_classes=CONVNET_CLASSES, dtype=np.float64)
CONVNET_SHAPES = {'W1': (4, 2, 3, 3), 'b1': (4,), 'W2': (4 * 4 * 5, 6), 'b2': (6,),
                  'W3': (6, CONVNET_CLASSES), 'b3': (CONVNET_CLASSES,)}
CONVNET_WEIGHTS = ('W1', 'W2', 'W3')


def _convnet_data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3, *CONVNET_INPUT))
    return X, rng.integers(CONVNET_CLASSES, size=3)


def _convnet_parameters(ThreeLayerConvNet):
    __tracebackhide__ = True
    np.random.seed(0)
    model = ThreeLayerConvNet(**CONVNET_SMALL)
    if set(model.params) != set(CONVNET_SHAPES):
        raise ExerciseCheckFailed(f"model.params has the keys {sorted(model.params)}",
                                  [f"expected {sorted(CONVNET_SHAPES)}"])
    for name, shape in CONVNET_SHAPES.items():
        check_shape(f"params['{name}']", model.params[name], shape)
        if name.startswith('b'):
            check_close(f"params['{name}']", model.params[name], np.zeros(shape), against="zeros (biases start at 0)")
    default_model = ThreeLayerConvNet()
    for name, value in default_model.params.items():
        check_dtype(f"params['{name}'] of ThreeLayerConvNet()", value, np.float32)
    weights = np.concatenate([default_model.params[name].ravel() for name in CONVNET_WEIGHTS])
    check_close("std of the initial weights", weights.std(), 1e-3, tol=0.02, against="weight_scale = 1e-3")


def _convnet_scores(ThreeLayerConvNet):
    __tracebackhide__ = True
    np.random.seed(0)
    X, _ = _convnet_data()
    check_shape("loss(X)", ThreeLayerConvNet(**CONVNET_SMALL).loss(X), (3, CONVNET_CLASSES),
                hint="Without labels, loss returns the scores.")


def _convnet_initial_loss(ThreeLayerConvNet):
    __tracebackhide__ = True
    np.random.seed(0)
    X, y = _convnet_data()
    loss, _ = ThreeLayerConvNet(**CONVNET_SMALL).loss(X, y)
    check_close("loss", loss, np.log(CONVNET_CLASSES), tol=1e-4, against="log(num_classes)")


def _convnet_regularization(ThreeLayerConvNet):
    __tracebackhide__ = True
    np.random.seed(0)
    X, y = _convnet_data()
    model = ThreeLayerConvNet(**CONVNET_SMALL)
    loss, _ = model.loss(X, y)
    model.reg = 0.7
    loss_reg, _ = model.loss(X, y)
    penalty = 0.5 * 0.7 * sum(np.sum(model.params[name] ** 2) for name in CONVNET_WEIGHTS)
    check_close("loss(reg=0.7) - loss(reg=0)", loss_reg - loss, penalty, tol=1e-6,
                against="0.5 * reg * sum of W ** 2 over W1, W2 and W3")


def _convnet_gradients(ThreeLayerConvNet):
    __tracebackhide__ = True
    np.random.seed(0)
    X, y = _convnet_data()
    model = ThreeLayerConvNet(**CONVNET_SMALL, weight_scale=0.3, reg=0.3)
    _, grads = model.loss(X, y)
    if set(grads) != set(model.params):
        raise ExerciseCheckFailed(f"grads has the keys {sorted(grads)}", [f"expected {sorted(model.params)}"])
    for name in sorted(model.params):
        numeric = eval_numerical_gradient(lambda _: model.loss(X, y)[0], model.params[name])
        check_close(f"grads['{name}']", grads[name], numeric, tol=1e-5, against="the numeric gradient")


def _convnet_step(run, label):
    def step(ThreeLayerConvNet):
        __tracebackhide__ = True
        _in_case(f"ThreeLayerConvNet, {label}", run, ThreeLayerConvNet)
    return step


# ----------------------------------------------------------------------------
# The steps of every check, and the checks the test cells call
# ----------------------------------------------------------------------------

STEPS = {
    "conv_forward_naive": (
        Step("random_cases", "three cases compared with conv_forward_fast (strides 1 to 3, pads 0 to 2)",
             _conv_forward_random),
        Step("float32", "float32 input gives float32 out", _conv_forward_float32)),
    "conv_backward_naive": (
        Step("random_cases", "three cases compared with conv_backward_fast and numeric gradients (pad 0 in case 2)",
             _conv_backward_random),
        Step("float32", "float32 input gives float32 dx, dw, db", _conv_backward_float32)),
    "max_pool_forward_naive": (
        Step("random_cases", "three cases compared with max_pool_forward_fast (tiling, overlapping, gaps)",
             _pool_forward_random),
        Step("float32", "float32 input gives float32 out", _pool_forward_float32)),
    "max_pool_backward_naive": (
        Step("random_cases", "three cases compared with max_pool_backward_fast and numeric gradients",
             _pool_backward_random),
        Step("ties", "ties: the first maximum in row-major order gets the gradient", _pool_backward_ties),
        Step("float32", "float32 input gives float32 dx", _pool_backward_float32)),
    "spatial_batchnorm_forward": (
        Step("normalises", "per-channel mean 0 and standard deviation 1", _bn_normalises),
        Step("modes", "train and test mode compared with spatial_batchnorm_forward_fast", _bn_modes),
        Step("float32", "float32 input gives float32 out", _bn_forward_float32)),
    "spatial_batchnorm_backward": (
        Step("train", "train mode compared with spatial_batchnorm_backward_fast and numeric gradients",
             _bn_backward_train),
        Step("test_mode", "test mode: the running averages are constants", _bn_backward_test),
        Step("float32", "float32 input gives float32 dx, dgamma, dbeta", _bn_backward_float32)),
    "ThreeLayerConvNet": (
        Step("parameters", "1. parameters: names, shapes, dtypes, initial values",
             _convnet_step(_convnet_parameters, "parameters")),
        Step("scores", "2. scores: loss(X) without labels", _convnet_step(_convnet_scores, "scores")),
        Step("initial_loss", "3. loss at initialisation is about log(num_classes)",
             _convnet_step(_convnet_initial_loss, "loss at initialisation")),
        Step("regularization", "4. regularization adds 0.5 * reg * sum(W ** 2)",
             _convnet_step(_convnet_regularization, "regularization")),
        Step("gradients", "5. gradients of every parameter against numeric ones (float64, reg 0.3)",
             _convnet_step(_convnet_gradients, "gradients"))),
}


def check_conv_forward_naive(conv_forward_naive):
    """The visible checks of ``conv_forward_naive``; raises ExerciseCheckFailed at the first wrong result."""
    __tracebackhide__ = True
    _run_steps("conv_forward_naive", conv_forward_naive)


def check_conv_backward_naive(conv_backward_naive):
    """The visible checks of ``conv_backward_naive`` (on caches built here, never by your forward pass)."""
    __tracebackhide__ = True
    _run_steps("conv_backward_naive", conv_backward_naive)


def check_max_pool_forward_naive(max_pool_forward_naive):
    """The visible checks of ``max_pool_forward_naive``."""
    __tracebackhide__ = True
    _run_steps("max_pool_forward_naive", max_pool_forward_naive)


def check_max_pool_backward_naive(max_pool_backward_naive):
    """The visible checks of ``max_pool_backward_naive`` (on caches built here, never by your forward pass)."""
    __tracebackhide__ = True
    _run_steps("max_pool_backward_naive", max_pool_backward_naive)


def check_spatial_batchnorm_forward(spatial_batchnorm_forward):
    """The visible checks of ``spatial_batchnorm_forward``."""
    __tracebackhide__ = True
    _run_steps("spatial_batchnorm_forward", spatial_batchnorm_forward)


def check_spatial_batchnorm_backward(spatial_batchnorm_backward):
    """The visible checks of ``spatial_batchnorm_backward`` (on the fast layer's caches, never on yours)."""
    __tracebackhide__ = True
    _run_steps("spatial_batchnorm_backward", spatial_batchnorm_backward)


def check_three_layer_convnet(ThreeLayerConvNet):
    """The visible checks of the class ``ThreeLayerConvNet``."""
    __tracebackhide__ = True
    _run_steps("ThreeLayerConvNet", ThreeLayerConvNet)


CHECKS = {
    "conv_forward_naive": check_conv_forward_naive,
    "conv_backward_naive": check_conv_backward_naive,
    "max_pool_forward_naive": check_max_pool_forward_naive,
    "max_pool_backward_naive": check_max_pool_backward_naive,
    "spatial_batchnorm_forward": check_spatial_batchnorm_forward,
    "spatial_batchnorm_backward": check_spatial_batchnorm_backward,
    "ThreeLayerConvNet": check_three_layer_convnet,
}
# The graded functions (and class) of each notebook, in the order of its cells.
NOTEBOOKS = {
    "convolution": ("conv_forward_naive", "conv_backward_naive"),
    "max_pooling": ("max_pool_forward_naive", "max_pool_backward_naive"),
    "spatial_batchnorm": ("spatial_batchnorm_forward", "spatial_batchnorm_backward"),
    "convnet": ("ThreeLayerConvNet",),
}


# ----------------------------------------------------------------------------
# check_all: one line per graded function
# ----------------------------------------------------------------------------

def _student_location(error):
    """`` (Cell In[3], line 27)``: the last frame of the student's own code in ``error``'s traceback."""
    own = student_frames(error.__traceback__)
    return f" ({cell_label(own[-1].filename)}, line {own[-1].lineno})" if own else ""


def verdict(name, function):
    """``"ok"``, or the first line of what the check of ``name`` says about ``function``.

    Everything the check prints is kept back.  A warning the kernel's filters would show fails, as
    it fails a test cell in nbgrader validate (it goes to stderr); entering ``catch_warnings``
    forgets which warnings were shown already, as validate's fresh kernel has never shown any.
    """
    if function is None:
        return "not defined: run its answer cell first"
    printed, errors = io.StringIO(), io.StringIO()
    try:
        with redirect_stdout(printed), redirect_stderr(errors), warnings.catch_warnings(record=True) as caught:
            CHECKS[name](function)
    except ExerciseCheckFailed as failure:
        return "FAIL  " + failure.first_line
    except Exception as error:
        message = str(error).split("\n")[0].strip()
        return f"FAIL  raised {type(error).__name__}{': ' + message if message else ''}{_student_location(error)}"
    written = errors.getvalue().strip() or "\n".join(
        f"{w.category.__name__}: {w.message} ({cell_label(w.filename)}, line {w.lineno})" for w in caught)
    if written:
        return "FAIL  wrote to stderr (nbgrader validate fails such a cell): " + written.split("\n")[0]
    return "ok"


def check_all(notebook, namespace):
    """Run the visible checks of every graded function of ``notebook``; print one line for each.

    ``namespace`` is where the functions are defined: ``globals()`` in the notebook.  Returns
    nothing, so that the notebook shows no ``Out[...]`` value under the lines.
    """
    names = NOTEBOOKS[notebook]
    width = max(len(name) for name in names)
    started = time.perf_counter()
    verdicts = {}
    for name in names:
        verdicts[name] = verdict(name, namespace.get(name))
        print(f"{name:<{width}}  {verdicts[name]}")
    failing = [name for name, text in verdicts.items() if text != "ok"]
    seconds = time.perf_counter() - started
    if failing:
        print(f"{len(failing)} of {len(names)} fail ({seconds:.1f} s): nbgrader validate fails their check "
              "cells too. Fix the first one first; its check cell shows the details.")
    else:
        print(f"All {len(names)} pass their visible checks ({seconds:.1f} s): nbgrader validate will pass.")
