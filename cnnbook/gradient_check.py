"""Numeric gradients by centered differences, to check hand-written backward passes.

The idea: for a tiny step h, ``(f(x + h) - f(x - h)) / (2 h)`` approximates the
derivative with an error of order h**2.  Comparing it with an analytic gradient
through :func:`rel_error` catches almost every indexing bug in a backward pass.
Run checks in float64: in float32 the rounding error of f swamps the h**2 term.

Every function perturbs ``x`` in place (that is what lets ``f`` be a closure
over the array) and restores each entry before moving on, so ``x`` is left
exactly as it was.
"""
import numpy as np

from cnnbook.exercise_checks import relative_errors


def rel_error(x, y):
    """Largest relative error ``|x - y| / max(1e-8, |x| + |y|)`` over all entries
    (the largest of :func:`cnnbook.exercise_checks.relative_errors`).

    Rules of thumb for float64 gradient checks: below 1e-7 the gradient is
    right; around 1e-5 look closer (kinks such as ReLU or max can cause it);
    above 1e-3 there is almost certainly a bug.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"rel_error: shapes differ, {x.shape} vs {y.shape}")
    if x.size == 0:
        return 0.0
    return float(np.max(relative_errors(x, y)))


def _check_float_array(x, caller):
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{caller}: x must be a floating numpy array that f reads "
                        f"(it is perturbed in place), got {type(x).__name__}"
                        + (f" of dtype {x.dtype}" if isinstance(x, np.ndarray) else ""))


def _evaluate_around(f, x, ix, h):
    """(f at x with entry ``ix`` raised by h, f with it lowered by h); x is restored."""
    old = x[ix]
    try:
        x[ix] = old + h
        # np.array copies: f may return a view of x, which the next step changes.
        f_plus = np.array(f(x), dtype=np.float64)
        x[ix] = old - h
        f_minus = np.array(f(x), dtype=np.float64)
    finally:
        x[ix] = old
    return f_plus, f_minus


def eval_numerical_gradient(f, x, verbose=False, h=1e-5):
    """Numeric gradient of a scalar function ``f`` at ``x``.

    ``f(x)`` must return a number.  Costs two calls of ``f`` per entry of ``x``,
    so use small inputs.  With ``verbose=True`` each entry's index and value are
    printed as they are computed.
    """
    _check_float_array(x, "eval_numerical_gradient")
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        f_plus, f_minus = _evaluate_around(f, x, ix, h)
        grad[ix] = (f_plus - f_minus) / (2 * h)
        if verbose:
            print(ix, grad[ix])
        it.iternext()
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """Numeric gradient of ``sum(f(x) * df)`` for an array-valued ``f``.

    ``df`` is the upstream gradient (shaped like ``f(x)``); the result is what
    a layer's backward pass should return for ``dout = df``.
    """
    _check_float_array(x, "eval_numerical_gradient_array")
    df = np.asarray(df)
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        pos, neg = _evaluate_around(f, x, ix, h)
        if pos.shape != df.shape:
            raise ValueError(f"eval_numerical_gradient_array: f(x) has shape {pos.shape} "
                             f"but df has shape {df.shape}")
        grad[ix] = np.sum((pos - neg) * df) / (2 * h)
        it.iternext()
    return grad


def grad_check_sparse(f, x, analytic_grad, num_checks=10, h=1e-5, seed=None):
    """Compare ``analytic_grad`` with numeric derivatives at a few random entries.

    For large parameters (a whole weight matrix) a full numeric gradient is too
    slow; a handful of random entries is enough to catch most bugs.  Prints one
    line per entry and returns the list of relative errors.
    """
    _check_float_array(x, "grad_check_sparse")
    analytic_grad = np.asarray(analytic_grad)
    if analytic_grad.shape != x.shape:
        raise ValueError(f"grad_check_sparse: analytic_grad has shape {analytic_grad.shape}, "
                         f"x has shape {x.shape}")
    rng = np.random.default_rng(seed)
    errors = []
    for _ in range(num_checks):
        ix = tuple(int(rng.integers(n)) for n in x.shape)
        f_plus, f_minus = _evaluate_around(f, x, ix, h)
        numeric = float(f_plus - f_minus) / (2 * h)
        analytic = analytic_grad[ix]
        error = rel_error(numeric, analytic)
        errors.append(error)
        print(f"numerical: {numeric:f} analytic: {analytic:f}, relative error: {error:e}")
    return errors
