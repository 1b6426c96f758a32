"""Provided numpy building blocks: affine, ReLU and the softmax loss.

These are the layers the numpy exercises take for granted (the seed notes use
them without ever defining them).  Every forward function returns
``(out, cache)`` and its backward partner takes ``(dout, cache)``, the CS231n
convention: the cache holds exactly what the backward pass needs.

All functions keep the floating dtype of their input (float32 in, float32 out)
and never modify their arguments.
"""
import numpy as np


def _as_float(a, name):
    """``a`` as a floating array (integers are promoted to float64)."""
    a = np.asarray(a)
    if not np.issubdtype(a.dtype, np.floating):
        if not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
            raise TypeError(f"{name} must hold real numbers, got dtype {a.dtype}")
        a = a.astype(np.float64)
    return a


def affine_forward(x, w, b):
    """Fully connected layer: ``out = x.reshape(N, D) @ w + b``.

    - x: (N, d_1, ..., d_k); each example is flattened to D = d_1 * ... * d_k
    - w: (D, M)
    - b: (M,)
    Returns ``out`` of shape (N, M) and ``cache = (x, w, b)``.
    """
    x = _as_float(x, "x")
    if x.ndim < 1:
        raise ValueError("affine_forward: x needs a batch axis, got a scalar")
    n = x.shape[0]
    x_flat = x.reshape(n, -1)
    w = np.asarray(w)
    b = np.asarray(b)
    if w.ndim != 2 or w.shape[0] != x_flat.shape[1]:
        raise ValueError(
            f"affine_forward: w must have shape (D, M) with D = {x_flat.shape[1]} "
            f"(the size of one flattened example of x {x.shape}), got {w.shape}")
    if b.shape != (w.shape[1],):
        raise ValueError(f"affine_forward: b must have shape ({w.shape[1]},), got {b.shape}")
    out = x_flat @ w.astype(x.dtype, copy=False) + b.astype(x.dtype, copy=False)
    return out, (x, w, b)


def affine_backward(dout, cache):
    """Gradients of the affine layer.

    Returns ``dx`` shaped like the original x, ``dw`` shaped like w and ``db``
    shaped like b.
    """
    x, w, b = cache
    dout = np.asarray(dout)
    n = x.shape[0]
    if dout.shape != (n, w.shape[1]):
        raise ValueError(f"affine_backward: dout must have shape {(n, w.shape[1])}, "
                         f"got {dout.shape}")
    dout = dout.astype(x.dtype, copy=False)
    x_flat = x.reshape(n, -1)
    dx = (dout @ w.T.astype(x.dtype, copy=False)).reshape(x.shape)
    dw = (x_flat.T @ dout).astype(w.dtype, copy=False)
    db = dout.sum(axis=0).astype(b.dtype, copy=False)
    return dx, dw, db


def relu_forward(x):
    """Rectified linear unit: ``max(0, x)`` element-wise; ``cache = x``."""
    x = _as_float(x, "x")
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    """Pass the gradient where the input was positive, zero elsewhere.

    At exactly 0 the ReLU has no derivative; like PyTorch we use 0 there.
    """
    x = cache
    dout = np.asarray(dout)
    if dout.shape != x.shape:
        raise ValueError(f"relu_backward: dout must have the input's shape {x.shape}, "
                         f"got {dout.shape}")
    return np.where(x > 0, dout, 0).astype(x.dtype, copy=False)


def softmax_loss(x, y):
    """Mean cross-entropy of the softmax of scores ``x`` against labels ``y``.

    - x: (N, C) class scores
    - y: (N,) integer labels with 0 <= y[i] < C
    Returns ``(loss, dx)`` with ``dx`` the gradient of the loss w.r.t. ``x``.

    Numerically stable: the log-sum-exp is taken after subtracting each row's
    maximum, so large scores never overflow ``exp``.
    """
    x = _as_float(x, "x")
    y = np.asarray(y)
    if x.ndim != 2:
        raise ValueError(f"softmax_loss: x must have shape (N, C), got {x.shape}")
    n, num_classes = x.shape
    if y.shape != (n,):
        raise ValueError(f"softmax_loss: y must have shape ({n},), got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"softmax_loss: y must hold integer class labels, got dtype {y.dtype}")
    if n and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"softmax_loss: labels must lie in [0, {num_classes - 1}], "
                         f"got values from {y.min()} to {y.max()}")
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(n)
    loss = -log_probs[rows, y].mean()
    dx = np.exp(log_probs)
    dx[rows, y] -= 1
    dx /= n
    return float(loss), dx
