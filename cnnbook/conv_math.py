"""Formula-level convolution maths: flip, dilate, pad, correlate, and the three gradients.

The layer chapters derive the backward pass of a convolution as a handful of
whole-array operations (equations in ``book/chapters/conv_backward.md``):

* ``dL/db`` is the upstream gradient summed over the batch and all positions;
* ``dL/dw`` is the padded input cross-correlated with the stride-dilated
  upstream gradient;
* ``dL/dx`` is the stride-dilated, fully padded upstream gradient *convolved*
  (kernel flipped) with the weights, cropped back to the unpadded input.

This module writes each of those sentences as one short function, so that a
chapter can check the algebra against PyTorch autograd.  It also holds the
routing rule of max pooling's backward pass with an explicit choice of what
to do with ties (``book/chapters/max_pooling.md`` compares the choices).  They are vectorised
formula code, deliberately different in shape from the loop-based naive layers
that the graded exercise asks for, and they are not tuned for speed (the fast
layers in :mod:`cnnbook.fast_layers` are).

Arrays follow the course convention: inputs ``(N, C, H, W)``, weights
``(F, C, HH, WW)``, outputs and upstream gradients ``(N, F, H', W')``.
"""
import numpy as np

from cnnbook.fast_layers import conv_output_size, window_view


def _require_ndim(name, array, ndim, layout):
    if np.ndim(array) != ndim:
        raise ValueError(f"{name} must be a {ndim}-d array {layout}, got shape {np.shape(array)}")


def _require_positive_int(name, value):
    if not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _require_non_negative_int(name, value):
    if not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")


def flip(w):
    """The kernel rotated by 180 degrees: both spatial axes (the last two) reversed."""
    if np.ndim(w) < 2:
        raise ValueError(f"a kernel needs two spatial axes, got shape {np.shape(w)}")
    return w[..., ::-1, ::-1]


def dilate(x, stride):
    """Insert ``stride - 1`` zeros between neighbouring entries of the last two axes.

    A map of size ``H x W`` becomes ``(stride*(H-1)+1) x (stride*(W-1)+1)``.  This
    puts every upstream gradient back at the input position where its window
    started, which is what turns a strided convolution's backward pass into a
    stride-1 one.
    """
    _require_positive_int("stride", stride)
    if np.ndim(x) < 2:
        raise ValueError(f"dilate needs two spatial axes, got shape {np.shape(x)}")
    if stride == 1:
        return x
    *lead, h, w = x.shape
    out = np.zeros((*lead, stride * (h - 1) + 1, stride * (w - 1) + 1), dtype=x.dtype)
    out[..., ::stride, ::stride] = x
    return out


def pad_hw(x, pad_h, pad_w=None):
    """Zero-pad the last two axes.

    ``pad_h`` and ``pad_w`` are each an int (the same amount before and after) or
    a ``(before, after)`` pair; ``pad_w`` defaults to ``pad_h``.
    """
    pad_w = pad_h if pad_w is None else pad_w
    widths = []
    for name, pad in (("pad_h", pad_h), ("pad_w", pad_w)):
        before, after = (pad, pad) if np.ndim(pad) == 0 else pad
        _require_non_negative_int(name, before)
        _require_non_negative_int(name, after)
        widths.append((before, after))
    if np.ndim(x) < 2:
        raise ValueError(f"pad_hw needs two spatial axes, got shape {np.shape(x)}")
    return np.pad(x, [(0, 0)] * (np.ndim(x) - 2) + widths)


def correlate(x, w, stride=1):
    """Valid multi-channel cross-correlation (deep learning's "convolution"), no bias.

    ``out[n, f, i, j] = sum_{c, a, b} w[f, c, a, b] * x[n, c, stride*i + a, stride*j + b]``
    for ``x`` of shape ``(N, C, H, W)`` and ``w`` of shape ``(F, C, HH, WW)``.
    Pad ``x`` first (:func:`pad_hw`) for a padded convolution.
    """
    _require_ndim("x", x, 4, "(N, C, H, W)")
    _require_ndim("w", w, 4, "(F, C, HH, WW)")
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"x has {x.shape[1]} channels but w expects {w.shape[1]} "
                         f"(x shape {x.shape}, w shape {w.shape})")
    windows = window_view(x, w.shape[-2:], stride)  # (N, C, H', W', HH, WW)
    return np.einsum("ncijab,fcab->nfij", windows, w, optimize=True)


def convolve(x, w, stride=1):
    """True (signal-processing) convolution: cross-correlation with the flipped kernel."""
    return correlate(x, flip(w), stride)


def im2col(x, kernel_hw, stride=1):
    """Every receptive field of ``x`` as one row of a matrix.

    Returns shape ``(N * H' * W', C * HH * WW)``, rows ordered by image, then
    output row, then output column; each row is laid out like a flattened
    ``(C, HH, WW)`` filter, so ``im2col(x, ...) @ w.reshape(F, -1).T`` is the
    correlation with output positions as rows.
    """
    _require_ndim("x", x, 4, "(N, C, H, W)")
    windows = window_view(x, tuple(kernel_hw), stride)  # (N, C, H', W', HH, WW)
    n, c, h_out, w_out, kh, kw = windows.shape
    return windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * h_out * w_out, c * kh * kw)


def conv_grad_bias(dout):
    """``dL/db[f]``: the upstream gradient summed over the batch and every output position."""
    _require_ndim("dout", dout, 4, "(N, F, H', W')")
    return dout.sum(axis=(0, 2, 3))


def _check_dout(dout, x_shape, kernel_hw, stride, pad):
    """Raise a clear error unless ``dout`` is the output shape of that convolution."""
    _require_ndim("dout", dout, 4, "(N, F, H', W')")
    _require_positive_int("stride", stride)
    _require_non_negative_int("pad", pad)
    n, _, h, w = x_shape
    expected = (n,
                conv_output_size(h, kernel_hw[0], stride, pad),
                conv_output_size(w, kernel_hw[1], stride, pad))
    actual = (dout.shape[0], dout.shape[2], dout.shape[3])
    if actual != expected:
        raise ValueError(f"dout has (N, H', W') = {actual}, but a {kernel_hw[0]}x{kernel_hw[1]} "
                         f"convolution with stride {stride} and pad {pad} of an input of shape "
                         f"{tuple(x_shape)} gives {expected}")


def conv_grad_weight(x, dout, kernel_hw, stride=1, pad=0):
    """``dL/dw``: the padded input cross-correlated with the dilated upstream gradient.

    ``dw[f, c, a, b] = sum_{n, i, j} dout[n, f, i, j] * x_pad[n, c, stride*i + a, stride*j + b]``.
    The batch axis plays the role of the summed channel axis, so the same
    :func:`correlate` does the work once ``x`` and ``dout`` are transposed.
    """
    _require_ndim("x", x, 4, "(N, C, H, W)")
    kh, kw = kernel_hw
    _check_dout(dout, x.shape, (kh, kw), stride, pad)
    x_pad = pad_hw(x, pad)
    spread = dilate(dout, stride)
    full = correlate(x_pad.transpose(1, 0, 2, 3), spread.transpose(1, 0, 2, 3))  # (C, F, ., .)
    # Rows/columns that the floor in the output size dropped give offsets >= kernel: not weights.
    return full.transpose(1, 0, 2, 3)[:, :, :kh, :kw]


def conv_grad_input(dout, w, x_shape, stride=1, pad=0):
    """``dL/dx``: the dilated, fully padded upstream gradient convolved with the kernel, cropped.

    ``dx_pad[n, c, u, v] = sum_{f, i, j} dout[n, f, i, j] * w[f, c, u - stride*i, v - stride*j]``.
    Input rows and columns that no window reached (the remainder the floor in
    the output-size formula throws away) get an explicit zero gradient, and the
    ``pad`` border is cropped off because it is not part of the input.
    """
    _require_ndim("w", w, 4, "(F, C, HH, WW)")
    if len(x_shape) != 4:
        raise ValueError(f"x_shape must be (N, C, H, W), got {tuple(x_shape)}")
    if dout.shape[1] != w.shape[0]:
        raise ValueError(f"dout has {dout.shape[1]} channels but w has {w.shape[0]} filters")
    kh, kw = w.shape[-2:]
    _check_dout(dout, x_shape, (kh, kw), stride, pad)
    _, _, h, width = x_shape
    spread = dilate(dout, stride)
    unreached_h = h + 2 * pad - (spread.shape[-2] + kh - 1)
    unreached_w = width + 2 * pad - (spread.shape[-1] + kw - 1)
    spread = pad_hw(spread, (kh - 1, kh - 1 + unreached_h), (kw - 1, kw - 1 + unreached_w))
    dx_pad = convolve(spread, w.transpose(1, 0, 2, 3))  # channels and filters swap roles
    return dx_pad[:, :, pad:pad + h, pad:pad + width]


TIE_RULES = ("first", "all")


def max_pool_route(x, dout, pool_hw, stride, ties="first"):
    """Max pooling's backward pass: each upstream gradient goes to its window's maximum.

    ``x`` is the pooling input ``(N, C, H, W)`` and ``dout`` the upstream gradient
    ``(N, C, H', W')``.  ``ties`` says where a window with several equal maxima
    sends its gradient: ``"first"`` to the first maximum in row-major order
    (what PyTorch does on the CPU; a true subgradient), ``"all"`` a full copy to
    every maximum (what a ``x == max`` mask does; the gradient's total grows).
    Windows may overlap (``stride`` smaller than the window): contributions to
    the same input pixel add up.
    """
    if ties not in TIE_RULES:
        raise ValueError(f"ties must be one of {TIE_RULES}, got {ties!r}")
    _require_ndim("x", x, 4, "(N, C, H, W)")
    _require_ndim("dout", dout, 4, "(N, C, H', W')")
    kh, kw = pool_hw
    windows = window_view(x, (kh, kw), stride)  # (N, C, H', W', kh, kw)
    if dout.shape != windows.shape[:4]:
        raise ValueError(f"dout has shape {dout.shape}, but {kh}x{kw} pooling with stride "
                         f"{stride} of an input of shape {x.shape} gives {windows.shape[:4]}")
    flat = windows.reshape(*windows.shape[:4], kh * kw)
    if ties == "first":
        winners = flat.argmax(axis=-1)[..., None] == np.arange(kh * kw)
    else:
        winners = flat == flat.max(axis=-1, keepdims=True)
    sent = (winners * dout[..., None]).reshape(windows.shape)
    h_out, w_out = windows.shape[2:4]
    rows = (stride * np.arange(h_out)[:, None] + np.arange(kh))[:, None, :, None]  # (H', 1, kh, 1)
    cols = (stride * np.arange(w_out)[:, None] + np.arange(kw))[None, :, None, :]  # (1, W', 1, kw)
    dx = np.zeros(x.shape, dtype=np.result_type(x, dout))
    np.add.at(dx, (slice(None), slice(None), rows, cols), sent)  # add.at: overlaps accumulate
    return dx
