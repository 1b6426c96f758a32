"""Random inputs for the hidden checks, drawn from a check's seeded generator.

Sizes are drawn from small ranges (so naive loops finish in milliseconds)
chosen to keep each case's defining property: odd or non-square inputs,
non-square kernels, a given stride and padding, and so on.
"""
import numpy as np


def normal(rng, shape, dtype=np.float64, scale=1.0, shift=0.0):
    return (shift + scale * rng.standard_normal(shape)).astype(dtype)


def odd(rng, low, high):
    """An odd integer in [low, high]."""
    return int(rng.choice([v for v in range(low, high + 1) if v % 2]))


def even(rng, low, high):
    return int(rng.choice([v for v in range(low, high + 1) if v % 2 == 0]))


def conv_inputs(rng, n, c, height, width, filters, kernel, stride, pad, dtype=np.float64):
    """``(x, w, b, conv_param)`` for a convolution; ``kernel`` is ``(HH, WW)``."""
    x = normal(rng, (n, c, height, width), dtype)
    w = normal(rng, (filters, c) + tuple(kernel), dtype, scale=0.5)
    b = normal(rng, (filters,), dtype)
    return x, w, b, {"stride": stride, "pad": pad}


def conv_output_shape(x, w, conv_param):
    stride, pad = conv_param["stride"], conv_param["pad"]
    n, _, height, width = x.shape
    out_h = 1 + (height + 2 * pad - w.shape[2]) // stride
    out_w = 1 + (width + 2 * pad - w.shape[3]) // stride
    return n, w.shape[0], out_h, out_w


def pool_inputs(rng, n, c, height, width, window, stride, dtype=np.float64):
    """``(x, pool_param)``; ``window`` is ``(pool_height, pool_width)``."""
    x = normal(rng, (n, c, height, width), dtype)
    return x, {"pool_height": window[0], "pool_width": window[1], "stride": stride}


def pool_output_shape(x, pool_param):
    n, c, height, width = x.shape
    stride = pool_param["stride"]
    return (n, c, 1 + (height - pool_param["pool_height"]) // stride,
            1 + (width - pool_param["pool_width"]) // stride)


def shared_maxima(x, pool_param):
    """Put the largest value of each (image, channel) where several windows overlap.

    Its gradient must then be the sum of those windows' upstream gradients:
    the check that catches backward passes which overwrite instead of add.
    """
    x = x.copy()
    stride = pool_param["stride"]
    if stride >= min(pool_param["pool_height"], pool_param["pool_width"]):
        raise ValueError("windows do not overlap")
    # Row and column `stride` belong to the first two windows along each axis.
    x[:, :, stride, stride] = np.abs(x).max() + 1.0
    return x


def tied_maxima(rng, n, c, height, width):
    """``x`` of the values 0, 1 and 2 only: most 2x2 windows hold their maximum twice or more.

    The first window of every image and channel surely does (3 at its top left and top
    right): the gradient must go to the first maximum in row-major order, as PyTorch does,
    which the "mask" backward pass (every tied maximum gets it) fails.
    """
    x = rng.integers(0, 3, size=(n, c, height, width)).astype(np.float64)
    x[:, :, 0, :2] = 3.0
    return x


def bn_inputs(rng, n, c, height, width, dtype=np.float64):
    """``(x, gamma, beta)`` with a different mean and spread in every channel.

    Channels that differ make per-pixel or whole-batch statistics visibly wrong.
    """
    shift = rng.uniform(-3, 3, size=(1, c, 1, 1))
    scale = rng.uniform(0.5, 3, size=(1, c, 1, 1))
    x = (shift + scale * rng.standard_normal((n, c, height, width))).astype(dtype)
    gamma = rng.uniform(0.5, 2.0, size=c).astype(dtype)
    beta = rng.uniform(-1.0, 1.0, size=c).astype(dtype)
    return x, gamma, beta
