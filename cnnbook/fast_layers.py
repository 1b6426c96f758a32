"""Fast numpy convolution, max pooling and spatial batch normalisation.

Same signatures as the naive layers of the exercises (CS231n conventions), but
without Python loops over images, pixels or filters:

* A **window view** (:func:`window_view`) presents every receptive field of an
  image as one more pair of array axes, without copying: numpy strides let
  element ``[n, c, i, j, a, b]`` alias pixel ``x[n, c, i*stride + a, j*stride + b]``.
* **Convolution** copies those windows once into a matrix (``im2col``) and
  multiplies it with the filter bank in one matrix product, which numpy hands
  to an optimised BLAS library.  The backward pass is two more products: one
  for the filter gradient, and one for the input gradient, either followed by
  a scatter-add of the window gradients back onto the image (``col2im``) or,
  for stride 1, written as a convolution of the upstream gradient with the
  flipped filters.
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


def _pad_hw(x, pad_h, pad_w):
    """Copy of ``x`` with zero rows and columns around each image (``x`` itself if none)."""
    if pad_h == pad_w == 0:
        return x
    n, c, h, w = x.shape
    padded = np.zeros((n, c, h + 2 * pad_h, w + 2 * pad_w), dtype=x.dtype)
    padded[:, :, pad_h:pad_h + h, pad_w:pad_w + w] = x
    return padded


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
# (N, C, H, W).  Then every pass is ONE two-dimensional matrix product over the
# whole batch, (rows, C*HH*WW) @ (C*HH*WW, N*H'*W'), which the BLAS library
# runs at full speed and on all its threads, instead of N small products.
# Converting at the layer's boundary costs one copy of the (small) input or
# output; the big im2col matrix is built directly in the right order.

def _im2col(x_padded, kernel_hw, stride):
    """Every window of ``x_padded`` (N, C, Hp, Wp) as a column: (C*HH*WW, N*H'*W').

    The window view has axes (N, C, H', W', HH, WW).  Reordering them to
    (C, HH, WW, N, H', W') and flattening the first three and the last three
    puts one window per column, its C*HH*WW pixels down the column.  The
    reshape makes the one copy; runs along W' stay contiguous in memory.
    """
    windows = window_view(x_padded, kernel_hw, stride)
    n, c, h_out, w_out, hh, ww = windows.shape
    return windows.transpose(1, 4, 5, 0, 2, 3).reshape(c * hh * ww, n * h_out * w_out)


def _to_batch_major(y_cm):
    """(C, N, H, W) channel-major result -> contiguous (N, C, H, W)."""
    return np.ascontiguousarray(y_cm.transpose(1, 0, 2, 3))


def _correlate(x_padded, w, stride, bias=None):
    """Cross-correlate an already padded batch with filters w (F, C, HH, WW).

    Returns ``(out, cols)``: out is (N, F, H', W') and cols the im2col matrix,
    kept for the weight gradient.  The one big product is
    (F, C*HH*WW) @ (C*HH*WW, N*H'*W'): every filter meets every window of
    every image.
    """
    n, _, hp, wp = x_padded.shape
    f, _, hh, ww = w.shape
    cols = _im2col(x_padded, (hh, ww), stride)
    out = w.reshape(f, -1) @ cols
    if bias is not None:
        out += bias[:, None]
    out = out.reshape(f, n, 1 + (hp - hh) // stride, 1 + (wp - ww) // stride)
    return _to_batch_major(out), cols


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
    out, cols = _correlate(_pad_hw(x, pad, pad), w, stride, bias=b)
    return out, (x.shape, w, stride, pad, cols)


def _dx_by_col2im(dout_cm, w, x_shape, stride, pad):
    """Input gradient: each window's gradient, scattered back onto the image.

    ``dout_cm`` is dout in channel-major order (F, N, H', W').  A window's
    gradient is the filters weighted by dout at that window: one product,
    (C*HH*WW, F) @ (F, N*H'*W').  Overlapping windows share pixels, so their
    gradients are summed.  We loop over the HH*WW kernel offsets, not over
    pixels: for a fixed offset (a, b) the windows touch the pixels
    ``(a + stride*i, b + stride*j)``, a strided slice that numpy adds in one
    vectorised step, with no pixel touched twice.  ``np.add.at`` could scatter
    everything in one call but is several times slower (it cannot vectorise a
    possibly repeated index), and HH*WW is small (9 or 25).
    """
    n, c, h, width = x_shape
    f, _, hh, ww = w.shape
    h_out, w_out = dout_cm.shape[2:]
    dcols = w.reshape(f, -1).T @ dout_cm.reshape(f, -1)
    dcols = dcols.reshape(c, hh, ww, n, h_out, w_out)
    dx_padded = np.zeros((c, n, h + 2 * pad, width + 2 * pad), dtype=dout_cm.dtype)
    for a in range(hh):
        rows = slice(a, a + stride * h_out, stride)
        for b in range(ww):
            cols = slice(b, b + stride * w_out, stride)
            dx_padded[:, :, rows, cols] += dcols[:, a, b]
    return _to_batch_major(dx_padded[:, :, pad:pad + h, pad:pad + width])


def _dx_by_transposed_conv(dout, w, pad):
    """Input gradient of a stride-1 convolution, as a convolution itself.

    ``dx[n, c, y, x] = sum over f, a, b of dout[n, f, y + pad - a, x + pad - b] * w[f, c, a, b]``:
    correlating dout, padded by HH-1-pad rows and WW-1-pad columns, with the
    filters flipped in both directions and with their two channel axes swapped
    (F inputs, C outputs).  It reuses :func:`_correlate`, so no scatter-add is
    needed; the matrix it builds has F*HH*WW rows instead of C*HH*WW.
    """
    _, _, hh, ww = w.shape
    w_flipped = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
    dx, _ = _correlate(_pad_hw(dout, hh - 1 - pad, ww - 1 - pad), w_flipped, 1)
    return dx


def conv_backward_fast(dout, cache):
    """Gradients of :func:`conv_forward_fast`: returns ``(dx, dw, db)``."""
    x_shape, w, stride, pad, cols = cache
    n, c = x_shape[:2]
    f, _, hh, ww = w.shape
    h_out = conv_output_size(x_shape[2], hh, stride, pad)
    w_out = conv_output_size(x_shape[3], ww, stride, pad)
    dout = _as_float_array(dout, "dout", 4, "conv_backward_fast")
    _check_same_shape(dout, (n, f, h_out, w_out), "dout", "conv_backward_fast")
    dout = dout.astype(w.dtype, copy=False)
    dout_cm = np.ascontiguousarray(dout.transpose(1, 0, 2, 3))  # (F, N, H', W')

    db = dout_cm.reshape(f, -1).sum(axis=1)
    # dw[f, k] = sum over all windows p of dout[f, p] * cols[k, p]: one product
    # (F, N*H'*W') @ (N*H'*W', C*HH*WW), the transpose of cols costing no copy.
    dw = (dout_cm.reshape(f, -1) @ cols.T).reshape(w.shape)
    # Two ways to get dx; they build a matrix of C*HH*WW (col2im) or F*HH*WW
    # (transposed conv) rows per pixel, so take the smaller one.  The transposed
    # conv needs stride 1 and a padding narrower than the kernel.
    if stride == 1 and f <= c and pad < min(hh, ww):
        dx = _dx_by_transposed_conv(dout, w, pad)
    else:
        dx = _dx_by_col2im(dout_cm, w, x_shape, stride, pad)
    return dx, dw, db


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
    # Walk the offsets in row-major order; `remaining` is the gradient of the
    # windows whose maximum has not been found yet, so ties go to the first.
    remaining = dout.copy()
    if _tiling(x.shape, ph, pw, stride):
        # Every pixel is in exactly one window: write each tile slot once.
        dx = np.empty(x.shape, dtype=x.dtype)  # C order, so the tile reshape is a view
        dx_slot = _pool_windows(dx, ph, pw, stride)
        for a, b in _offsets(ph, pw):
            is_max = windows(a, b) == out
            np.multiply(remaining, is_max, out=dx_slot(a, b))
            remaining *= ~is_max
        return dx
    # Overlapping windows add up; pixels no window covers keep a zero gradient.
    dx = np.zeros(x.shape, dtype=x.dtype)
    h_out, w_out = out.shape[2:]
    for a, b in _offsets(ph, pw):
        is_max = windows(a, b) == out
        dx[:, :, a:a + stride * h_out:stride, b:b + stride * w_out:stride] += remaining * is_max
        remaining *= ~is_max
    return dx


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
      zeros when absent in train mode, required in test mode).  In train mode the running averages are updated in
      ``bn_param``: ``running = momentum*running + (1 - momentum)*batch``, with
      the biased batch variance.  Test mode uses the running averages.
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
