"""Fast numpy convolution, max pooling and spatial batch normalisation.

Same signatures as the naive layers of the exercises (CS231n conventions), but
without Python loops over images, pixels or filters:

* A **window view** (:func:`window_view`) presents every receptive field of an
  image as one more pair of array axes, without copying: numpy strides let
  element ``[n, c, i, j, a, b]`` alias pixel ``x[n, c, i*stride + a, j*stride + b]``.
* **Convolution** copies those windows once into a matrix (``im2col``) and
  multiplies it with the filter bank in one matrix product, which numpy hands
  to an optimised BLAS library; the backward pass is two more products and a
  scatter-add of the window gradients back onto the image (``col2im``).  When
  a stride-1 layer has fewer filters than input channels, the same products
  are arranged the other way round ("kn2row"), which moves less memory.
* **Max pooling** takes an element-wise maximum over the few offsets inside a
  window; when the windows tile the image exactly, a plain ``reshape`` exposes
  them and the backward pass can write every input pixel exactly once.

Every function keeps the floating dtype of ``x`` (float32 stays float32),
never modifies its inputs, and rejects malformed arguments with a message that
names the problem.
"""
import numpy as np
from numpy.lib.stride_tricks import as_strided


# ---------------------------------------------------------------------------
# Argument checking
# ---------------------------------------------------------------------------

def _as_float_array(a, name, ndim, caller):
    """``a`` as a floating array with ``ndim`` axes (integers become float64)."""
    a = np.asarray(a)
    if a.ndim != ndim:
        raise ValueError(f"{caller}: {name} must have {ndim} axes, got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.floating):
        if not (np.issubdtype(a.dtype, np.integer) or a.dtype == bool):
            raise TypeError(f"{caller}: {name} must hold real numbers, got dtype {a.dtype}")
        a = a.astype(np.float64)
    return a


def _param(params, key, caller, params_name):
    if not isinstance(params, dict):
        raise TypeError(f"{caller}: {params_name} must be a dict, got {type(params).__name__}")
    if key not in params:
        raise KeyError(f"{caller}: {params_name} has no {key!r} key (it has {sorted(params)})")
    return params[key]


def _int_param(params, key, caller, params_name, minimum):
    value = _param(params, key, caller, params_name)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{caller}: {params_name}[{key!r}] must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{caller}: {params_name}[{key!r}] must be >= {minimum}, got {value}")
    return int(value)


def _check_same_shape(a, shape, name, caller):
    if a.shape != tuple(shape):
        raise ValueError(f"{caller}: {name} must have shape {tuple(shape)}, got {a.shape}")


# ---------------------------------------------------------------------------
# Public helpers: output size and window views
# ---------------------------------------------------------------------------

def conv_output_size(size, kernel, stride, pad):
    """Output length of a convolution or pooling window sliding along one axis.

    PyTorch's floor rule: ``1 + (size + 2*pad - kernel) // stride``.  Windows
    that would stick out past the (padded) border are dropped.
    """
    for name, value, minimum in (("size", size, 1), ("kernel", kernel, 1),
                                 ("stride", stride, 1), ("pad", pad, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"conv_output_size: {name} must be an int, got {value!r}")
        if value < minimum:
            raise ValueError(f"conv_output_size: {name} must be >= {minimum}, got {value}")
    padded = size + 2 * pad
    if kernel > padded:
        raise ValueError(f"conv_output_size: a window of {kernel} does not fit in an input of "
                         f"{size} padded by {pad} on each side ({padded} in all)")
    return 1 + (padded - kernel) // stride


def _pair(value, name, caller):
    pair = (value, value) if np.ndim(value) == 0 else tuple(value)
    if len(pair) != 2:
        raise ValueError(f"{caller}: {name} must be an int or a pair of ints, got {value!r}")
    return pair


def window_view(x, window_hw, stride):
    """All sliding windows of ``x`` as a read-only view, without copying.

    - x: (N, C, H, W)
    - window_hw: (HH, WW), or one int for a square window
    - stride: int, or (stride_h, stride_w)
    Returns an array of shape (N, C, H', W', HH, WW) with
    ``view[n, c, i, j] == x[n, c, i*sh : i*sh + HH, j*sw : j*sw + WW]``.
    No padding is added: pad ``x`` first if you need it.
    """
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"window_view: x must have shape (N, C, H, W), got {x.shape}")
    hh, ww = _pair(window_hw, "window_hw", "window_view")
    sh, sw = _pair(stride, "stride", "window_view")
    n, c, h, w = x.shape
    h_out = conv_output_size(h, hh, sh, 0)
    w_out = conv_output_size(w, ww, sw, 0)
    s_n, s_c, s_h, s_w = x.strides
    # Moving one window down skips sh rows of x, one window right skips sw
    # columns; moving inside a window steps one row or one column of x.
    return as_strided(x, shape=(n, c, h_out, w_out, hh, ww),
                      strides=(s_n, s_c, sh * s_h, sw * s_w, s_h, s_w), writeable=False)


# ---------------------------------------------------------------------------
# Convolution
# ---------------------------------------------------------------------------

def _check_conv_inputs(x, w, b, conv_param):
    caller = "conv_forward_fast"
    x = _as_float_array(x, "x", 4, caller)
    w = _as_float_array(w, "w", 4, caller)
    b = _as_float_array(b, "b", 1, caller)
    if w.shape[1] != x.shape[1]:
        raise ValueError(f"{caller}: x has {x.shape[1]} channels but the filters w {w.shape} "
                         f"expect {w.shape[1]} (w has shape (F, C, HH, WW))")
    _check_same_shape(b, (w.shape[0],), "b (one bias per filter)", caller)
    stride = _int_param(conv_param, "stride", caller, "conv_param", 1)
    pad = _int_param(conv_param, "pad", caller, "conv_param", 0)
    n, c, h, width = x.shape
    conv_output_size(h, w.shape[2], stride, pad)  # raises if the filter does not fit
    conv_output_size(width, w.shape[3], stride, pad)
    # The weights follow the data's dtype so that float32 stays float32.
    return x, w.astype(x.dtype, copy=False), b.astype(x.dtype, copy=False), stride, pad


# Inside the convolution, arrays are channel-major: (C, N, H, W) rather than
# (N, C, H, W).  Then each product below is ONE two-dimensional matrix product
# over the whole batch, which the BLAS library runs at full speed and on all
# its threads, instead of N small products.  Converting at the layer's
# boundary costs one copy of the (small) input or output.
#
# A convolution from C to F channels with an HH x WW kernel can be organised in
# two ways:
#
# * im2col (gather, then multiply): copy every window of the input into a
#   column, C*HH*WW rows, then one product with the filters;
# * kn2row (multiply, then add up): one product of every kernel tap with every
#   pixel, F*HH*WW rows, then add up the HH*WW shifted results.
#
# They mirror each other: im2col's backward pass multiplies, then scatters
# (col2im); kn2row's backward pass builds an im2col matrix, from the upstream
# gradient, and uses it for both dw and dx.  The big intermediate matrix has
# C*HH*WW or F*HH*WW rows, and memory traffic, not arithmetic, limits these
# products; so a layer with fewer filters than input channels (32 -> 16, say)
# uses kn2row.  kn2row needs stride 1; strided layers always use im2col.

def _padded_channel_major(a, pad_h, pad_w):
    """(N, C, H, W) -> zero-padded channel-major copy (C, N, H + 2*pad_h, W + 2*pad_w)."""
    n, c, h, w = a.shape
    padded = np.zeros((c, n, h + 2 * pad_h, w + 2 * pad_w), dtype=a.dtype)
    padded[:, :, pad_h:pad_h + h, pad_w:pad_w + w] = a.transpose(1, 0, 2, 3)
    return padded


def _to_batch_major(y_cm):
    """(C, N, H, W) channel-major result -> contiguous (N, C, H, W)."""
    return np.ascontiguousarray(y_cm.transpose(1, 0, 2, 3))


def _im2col(a_cm, kernel_hw, stride, out=None):
    """Every window of ``a_cm`` (C, N, Hp, Wp) as a column: (C*HH*WW, N*H'*W').

    The window view has axes (C, N, H', W', HH, WW).  Reordering them to
    (C, HH, WW, N, H', W') and flattening the first three and the last three
    puts one window per column, its C*HH*WW pixels down the column.  That
    flattening makes the one copy (into ``out`` if given); runs along W' stay
    contiguous in memory.
    """
    windows = window_view(a_cm, kernel_hw, stride).transpose(0, 4, 5, 1, 2, 3)
    c, hh, ww, n, h_out, w_out = windows.shape
    if out is None:
        return windows.reshape(c * hh * ww, n * h_out * w_out)
    np.copyto(out.reshape(windows.shape), windows)
    return out


def _col2im(dcols, padded_hw, stride):
    """Adjoint of im2col: add each window's column back onto its pixels.

    ``dcols`` is (C, HH, WW, N, H', W'); returns (C, N, Hp, Wp).  Overlapping
    windows share pixels, so their contributions are summed.  We loop over the
    HH*WW kernel offsets, not over pixels: for a fixed offset (a, b) the
    windows touch the pixels ``(a + stride*i, b + stride*j)``, a strided slice
    that numpy adds in one vectorised step, with no pixel touched twice.
    ``np.add.at`` could scatter everything in one call but is several times
    slower (it cannot vectorise a possibly repeated index), and HH*WW is small.
    """
    c, hh, ww, n, h_out, w_out = dcols.shape
    image = np.zeros((c, n) + tuple(padded_hw), dtype=dcols.dtype)
    for a in range(hh):
        rows = slice(a, a + stride * h_out, stride)
        for b in range(ww):
            image[:, :, rows, b:b + stride * w_out:stride] += dcols[:, a, b]
    return image


def _sum_of_shifts(products, out_hw):
    """Finish a kn2row convolution (stride 1).

    ``products[f, a, b, n, y, x]`` is kernel tap ``w[f, :, a, b]`` applied to
    input pixel (y, x); output pixel (i, j) sees that tap at pixel
    (i + a, j + b), so ``out[f, n, i, j]`` is the sum over the HH*WW taps of
    ``products[f, a, b, n, i + a, j + b]``: one vectorised slice-add per tap.
    """
    _, hh, ww = products.shape[:3]
    h_out, w_out = out_hw
    out = products[:, 0, 0, :, :h_out, :w_out].copy()
    for a in range(hh):
        for b in range(ww):
            if a or b:
                out += products[:, a, b, :, a:a + h_out, b:b + w_out]
    return out


def _sum_over_windows(a, b):
    """``a @ b.T`` for two matrices that share a long axis (every window of the batch).

    Only the order of the factors changes: OpenBLAS shares such a product out
    among its threads badly when the first factor has the fewer rows (we
    measured it 2 to 10 times slower on two threads), so the taller one goes first.
    """
    if a.shape[0] >= b.shape[0]:
        return a @ b.T
    return (b @ a.T).T


def _uses_kn2row(w_shape, stride):
    """Multiply-then-gather when it builds the smaller matrix (see above)."""
    f, c = w_shape[:2]
    return stride == 1 and f <= c


def conv_forward_fast(x, w, b, conv_param):
    """Convolution layer (cross-correlation, as in every deep learning library).

    - x: (N, C, H, W) input
    - w: (F, C, HH, WW) filters
    - b: (F,) biases
    - conv_param: {'stride': int >= 1, 'pad': int >= 0} (zero padding)
    Returns ``out`` of shape (N, F, H', W') with
    ``H' = 1 + (H + 2*pad - HH) // stride`` (likewise W'), and a cache for
    :func:`conv_backward_fast`.
    """
    x, w, b, stride, pad = _check_conv_inputs(x, w, b, conv_param)
    n, c, h, width = x.shape
    f, _, hh, ww = w.shape
    out_hw = (conv_output_size(h, hh, stride, pad), conv_output_size(width, ww, stride, pad))
    x_padded = _padded_channel_major(x, pad, pad)
    if _uses_kn2row(w.shape, stride):
        # (F*HH*WW, C) @ (C, N*Hp*Wp): every tap of every filter on every pixel.
        taps = w.transpose(0, 2, 3, 1).reshape(f * hh * ww, c)
        products = taps @ x_padded.reshape(c, -1)
        out = _sum_of_shifts(products.reshape((f, hh, ww) + x_padded.shape[1:]), out_hw)
        # The backward pass needs a matrix of exactly the shape of `products`:
        # keeping it saves allocating (and page-faulting in) a fresh one.
        saved = (x_padded, products)
    else:
        # (F, C*HH*WW) @ (C*HH*WW, N*H'*W'): every filter on every window.
        cols = _im2col(x_padded, (hh, ww), stride)
        out = (w.reshape(f, -1) @ cols).reshape((f, n) + out_hw)
        saved = cols
    out += b[:, None, None, None]
    return _to_batch_major(out), (x.shape, w, stride, pad, saved)


def _kn2row_backward(dout_cm, w, x_padded, scratch, pad):
    """dw and dx of a kn2row (stride-1) convolution from one gradient matrix.

    With dout padded by HH-1 rows and WW-1 columns, its windows at every
    padded-input pixel (y, x), taps reversed, hold ``dout[f, n, y - a, x - b]``
    for every tap (a, b) at once: one im2col matrix ``g`` of F*HH*WW rows
    (built in ``scratch``, the forward pass's matrix of the same shape).
    Then the two chain-rule sums are two products with it:

    * ``dx_padded[c, n, y, x]``: sum over f, a, b of ``w[f, c, a, b] * dout[f, n, y - a, x - b]``;
    * ``dw[f, c, a, b]``: sum over n, y, x of ``x_padded[c, n, y, x] * dout[f, n, y - a, x - b]``.
    """
    f, c, hh, ww = w.shape
    g = _im2col(np.pad(dout_cm, ((0, 0), (0, 0), (hh - 1, hh - 1), (ww - 1, ww - 1))),
                (hh, ww), 1, out=scratch)
    # Row (f, a', b') of g is tap (a, b) = (HH-1-a', WW-1-b'): flip w to match.
    w_flipped = w[:, :, ::-1, ::-1]
    dx_padded = w_flipped.transpose(1, 0, 2, 3).reshape(c, -1) @ g
    dw_flipped = _sum_over_windows(x_padded.reshape(c, -1), g).reshape(c, f, hh, ww)
    dw = dw_flipped[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
    _, n, hp, wp = x_padded.shape
    dx = dx_padded.reshape(c, n, hp, wp)[:, :, pad:hp - pad, pad:wp - pad]
    return dx, np.ascontiguousarray(dw)


def conv_backward_fast(dout, cache):
    """Gradients of :func:`conv_forward_fast`: returns ``(dx, dw, db)``."""
    x_shape, w, stride, pad, saved = cache
    n, c, h, width = x_shape
    f, _, hh, ww = w.shape
    h_out = conv_output_size(h, hh, stride, pad)
    w_out = conv_output_size(width, ww, stride, pad)
    dout = _as_float_array(dout, "dout", 4, "conv_backward_fast")
    _check_same_shape(dout, (n, f, h_out, w_out), "dout", "conv_backward_fast")
    dout_cm = np.ascontiguousarray(dout.astype(w.dtype, copy=False).transpose(1, 0, 2, 3))

    db = dout_cm.reshape(f, -1).sum(axis=1)
    if _uses_kn2row(w.shape, stride):
        dx_cm, dw = _kn2row_backward(dout_cm, w, *saved, pad)
    else:
        cols = saved
        # dw[f, k] = sum over all windows p of dout[f, p] * cols[k, p]: one
        # product (F, N*H'*W') @ (N*H'*W', C*HH*WW).
        dw = _sum_over_windows(dout_cm.reshape(f, -1), cols).reshape(w.shape)
        # Each window's gradient is the filters weighted by dout at that window.
        dcols = w.reshape(f, -1).T @ dout_cm.reshape(f, -1)
        dx_padded = _col2im(dcols.reshape(c, hh, ww, n, h_out, w_out),
                            (h + 2 * pad, width + 2 * pad), stride)
        dx_cm = dx_padded[:, :, pad:pad + h, pad:pad + width]
    return _to_batch_major(dx_cm), dw, db


# ---------------------------------------------------------------------------
# Max pooling
# ---------------------------------------------------------------------------

def _pool_geometry(pool_param, caller):
    ph = _int_param(pool_param, "pool_height", caller, "pool_param", 1)
    pw = _int_param(pool_param, "pool_width", caller, "pool_param", 1)
    stride = _int_param(pool_param, "stride", caller, "pool_param", 1)
    return ph, pw, stride


def _tiles(x, ph, pw):
    """(N, C, H, W) -> (N, C, H/ph, ph, W/pw, pw): the reshape trick.

    When the windows tile the image exactly, splitting each spatial axis in
    two exposes the windows without any copy: ``tiles[n, c, i, a, j, b]`` is
    pixel ``(i*ph + a, j*pw + b)``.
    """
    n, c, h, w = x.shape
    return x.reshape(n, c, h // ph, ph, w // pw, pw)


def _offsets(ph, pw):
    return [(a, b) for a in range(ph) for b in range(pw)]


def max_pool_forward_fast(x, pool_param):
    """Max pooling: the largest value of each (pool_height, pool_width) window.

    - x: (N, C, H, W)
    - pool_param: {'pool_height', 'pool_width', 'stride'} (ints >= 1)
    Returns ``out`` of shape (N, C, H', W') with
    ``H' = 1 + (H - pool_height) // stride`` (likewise W'), and a cache.
    """
    caller = "max_pool_forward_fast"
    x = _as_float_array(x, "x", 4, caller)
    ph, pw, stride = _pool_geometry(pool_param, caller)
    _, _, h, w = x.shape
    conv_output_size(h, ph, stride, 0)  # raises if the window does not fit
    conv_output_size(w, pw, stride, 0)
    windows = _pool_windows(x, ph, pw, stride)
    # A running element-wise maximum over the ph*pw window offsets: each step is
    # one vectorised np.maximum over all windows at once.  (Reducing the window
    # axes with windows.max(axis=...) gives the same result but is several
    # times slower, because numpy reduces over short, strided axes poorly.)
    out = windows(0, 0).copy()
    for a, b in _offsets(ph, pw)[1:]:
        np.maximum(out, windows(a, b), out=out)
    return out, (x, out, (ph, pw, stride))


def _tiling(x_shape, ph, pw, stride):
    """True if the windows cover every pixel exactly once."""
    _, _, h, w = x_shape
    return stride == ph == pw and h % ph == 0 and w % pw == 0


def _pool_windows(x, ph, pw, stride):
    """A function ``(a, b) -> view`` of the pixel at offset (a, b) of every window."""
    if _tiling(x.shape, ph, pw, stride):
        tiles = _tiles(x, ph, pw)
        return lambda a, b: tiles[:, :, :, a, :, b]
    view = window_view(x, (ph, pw), stride)
    return lambda a, b: view[:, :, :, :, a, b]


def max_pool_backward_fast(dout, cache):
    """Gradient of :func:`max_pool_forward_fast`.

    Each window passes its upstream gradient to the position of its maximum.
    If several entries tie for the maximum (all-zero windows after a ReLU are
    common), the first one in row-major order receives it, as in PyTorch.
    """
    x, out, (ph, pw, stride) = cache
    dout = _as_float_array(dout, "dout", 4, "max_pool_backward_fast")
    _check_same_shape(dout, out.shape, "dout", "max_pool_backward_fast")
    dout = dout.astype(x.dtype, copy=False)
    windows = _pool_windows(x, ph, pw, stride)
    if _tiling(x.shape, ph, pw, stride):
        # Every pixel is in exactly one window: write each tile slot once.
        dx = np.empty(x.shape, dtype=x.dtype)  # C order, so the tile reshape is a view
        dx_slot = _pool_windows(dx, ph, pw, stride)
        for a, b, remaining, is_max in _first_maxima(windows, out, dout, ph, pw):
            np.multiply(remaining, is_max, out=dx_slot(a, b))
        return dx
    # Overlapping windows add up; pixels no window covers keep a zero gradient.
    dx = np.zeros(x.shape, dtype=x.dtype)
    h_out, w_out = out.shape[2:]
    for a, b, remaining, is_max in _first_maxima(windows, out, dout, ph, pw):
        dx[:, :, a:a + stride * h_out:stride, b:b + stride * w_out:stride] += remaining * is_max
    return dx


def _first_maxima(windows, out, dout, ph, pw):
    """For each window offset (a, b) in row-major order: ``(a, b, remaining, is_max)``.

    ``is_max`` marks the windows whose maximum sits at offset (a, b), and
    ``remaining`` is dout for the windows whose maximum was not found at an
    earlier offset; so ``remaining * is_max`` is the gradient that offset
    receives, and in a tie the first maximum takes it all.  Both arrays are
    updated in place between steps (no fresh allocation per offset, which
    measurably slows this memory-bound loop): use them before the next step.
    """
    offsets = _offsets(ph, pw)
    remaining = dout.copy() if len(offsets) > 1 else dout
    is_max = np.empty(out.shape, dtype=bool)
    for k, (a, b) in enumerate(offsets):
        np.equal(windows(a, b), out, out=is_max)
        yield a, b, remaining, is_max
        if k + 1 < len(offsets):
            np.logical_not(is_max, out=is_max)
            np.multiply(remaining, is_max, out=remaining)


# ---------------------------------------------------------------------------
# Spatial batch normalisation
# ---------------------------------------------------------------------------

_CHANNEL_AXES = (0, 2, 3)  # statistics per channel, over images and positions


def _per_channel(v):
    """Shape a (C,) vector to broadcast against (N, C, H, W)."""
    return v.reshape(1, -1, 1, 1)


def spatial_batchnorm_forward_fast(x, gamma, beta, bn_param):
    """Batch normalisation for conv feature maps (PyTorch's BatchNorm2d).

    Each channel is normalised with the mean and variance of that channel over
    the batch and all spatial positions (N*H*W values), then scaled by gamma
    and shifted by beta.

    - x: (N, C, H, W); gamma, beta: (C,)
    - bn_param: dict with 'mode' ('train' or 'test') and optionally 'eps'
      (1e-5), 'momentum' (0.9), 'running_mean', 'running_var' (both (C,);
      zeros when absent in train mode, required in test mode).  In train mode
      the running averages are updated in ``bn_param``:
      ``running = momentum*running + (1 - momentum)*batch``, with the biased
      batch variance.  Test mode uses the running averages.
    Returns ``(out, cache)``.
    """
    caller = "spatial_batchnorm_forward_fast"
    x = _as_float_array(x, "x", 4, caller)
    c = x.shape[1]
    gamma = _as_float_array(gamma, "gamma", 1, caller).astype(x.dtype, copy=False)
    beta = _as_float_array(beta, "beta", 1, caller).astype(x.dtype, copy=False)
    _check_same_shape(gamma, (c,), "gamma (one scale per channel)", caller)
    _check_same_shape(beta, (c,), "beta (one shift per channel)", caller)
    mode = _param(bn_param, "mode", caller, "bn_param")
    if mode not in ("train", "test"):
        raise ValueError(f"{caller}: bn_param['mode'] must be 'train' or 'test', got {mode!r}")
    if mode == "test":
        for key in ("running_mean", "running_var"):
            _param(bn_param, key, caller + " in test mode", "bn_param")
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    running_mean = np.asarray(bn_param.get("running_mean", np.zeros(c, dtype=x.dtype)))
    running_var = np.asarray(bn_param.get("running_var", np.zeros(c, dtype=x.dtype)))
    _check_same_shape(running_mean, (c,), "bn_param['running_mean']", caller)
    _check_same_shape(running_var, (c,), "bn_param['running_var']", caller)

    if mode == "train":
        mean = x.mean(axis=_CHANNEL_AXES)
        var = x.var(axis=_CHANNEL_AXES)
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mean
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
    else:
        mean, var = running_mean.astype(x.dtype), running_var.astype(x.dtype)
    inv_std = (1.0 / np.sqrt(var + eps)).astype(x.dtype)
    x_hat = (x - _per_channel(mean)) * _per_channel(inv_std)
    out = x_hat * _per_channel(gamma) + _per_channel(beta)
    return out, (x_hat, gamma, inv_std, mode)


def spatial_batchnorm_backward_fast(dout, cache):
    """Gradients of :func:`spatial_batchnorm_forward_fast`: ``(dx, dgamma, dbeta)``.

    In train mode the mean and variance depend on x too.  Writing M = N*H*W and
    x_hat for the normalised input, the chain rule simplifies to
    ``dx = gamma * inv_std / M * (M*dout - sum(dout) - x_hat * sum(dout * x_hat))``
    per channel.  In test mode the statistics are constants and
    ``dx = gamma * inv_std * dout``.
    """
    x_hat, gamma, inv_std, mode = cache
    caller = "spatial_batchnorm_backward_fast"
    dout = _as_float_array(dout, "dout", 4, caller)
    _check_same_shape(dout, x_hat.shape, "dout", caller)
    dout = dout.astype(x_hat.dtype, copy=False)
    dbeta = dout.sum(axis=_CHANNEL_AXES)
    dgamma = (dout * x_hat).sum(axis=_CHANNEL_AXES)
    scale = _per_channel(gamma * inv_std)
    if mode == "test":
        return dout * scale, dgamma, dbeta
    m = dout.size // dout.shape[1]
    dx = (scale / m) * (m * dout - _per_channel(dbeta) - x_hat * _per_channel(dgamma))
    return dx, dgamma, dbeta
