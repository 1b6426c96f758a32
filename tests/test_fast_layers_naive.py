"""The fast layers agree with the naive instructor solutions of the exercises.

The naive layers are read from the answer cells of solutions/numpy_cnn/*.ipynb
(through autograder.nbgrader_io.cells).  A test is skipped only while its solution
notebook is missing from the tree.
"""
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from cnnbook.fast_layers import (conv_backward_fast, conv_forward_fast, max_pool_backward_fast,
                                 max_pool_forward_fast, spatial_batchnorm_backward_fast,
                                 spatial_batchnorm_forward_fast)

REPO_ROOT = Path(__file__).resolve().parent.parent
from autograder.nbgrader_io.cells import solution_namespace  # noqa: E402
from test_fast_layers import CONV_CASES, DTYPES, POOL_CASES, random_arrays  # noqa: E402

SOLUTIONS = REPO_ROOT / "solutions" / "numpy_cnn"


@lru_cache(maxsize=None)
def _load(notebook, names):
    return solution_namespace(SOLUTIONS / notebook, list(names))


def naive(notebook, *names):
    """The naive functions ``names`` from the solution notebook, or a skip if it is absent."""
    if not (SOLUTIONS / notebook).is_file():
        pytest.skip(f"solutions/numpy_cnn/{notebook} is not in the tree")
    namespace = _load(notebook, names)
    return [namespace[name] for name in names]


def assert_agree(fast, slow, dtype):
    assert fast.shape == slow.shape
    assert slow.dtype == dtype
    atol = (1e-12 if dtype == np.float64 else 2e-5) * max(1.0, float(np.abs(slow).max()))
    np.testing.assert_allclose(fast, slow, rtol=0, atol=atol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_fast_agrees_with_naive(case, dtype):
    forward, backward = naive("convolution.ipynb", "conv_forward_naive", "conv_backward_naive")
    n, c, h, w, f, hh, ww, stride, pad = case
    rng = np.random.default_rng(hash(case) % 2**32)
    x, wt, b = random_arrays(rng, dtype, (n, c, h, w), (f, c, hh, ww), (f,))
    param = {"stride": stride, "pad": pad}
    out_fast, cache_fast = conv_forward_fast(x, wt, b, param)
    out_naive, cache_naive = forward(x, wt, b, param)
    assert_agree(out_fast, out_naive, dtype)
    dout = rng.standard_normal(out_fast.shape).astype(dtype)
    for fast, slow in zip(conv_backward_fast(dout, cache_fast), backward(dout, cache_naive)):
        assert_agree(fast, slow, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POOL_CASES)
def test_max_pool_fast_agrees_with_naive(case, dtype):
    forward, backward = naive("max_pooling.ipynb", "max_pool_forward_naive",
                              "max_pool_backward_naive")
    n, c, h, w, ph, pw, stride = case
    rng = np.random.default_rng(hash(case) % 2**32)
    (x,) = random_arrays(rng, dtype, (n, c, h, w))
    param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    out_fast, cache_fast = max_pool_forward_fast(x, param)
    out_naive, cache_naive = forward(x, param)
    assert_agree(out_fast, out_naive, dtype)
    dout = rng.standard_normal(out_fast.shape).astype(dtype)
    assert_agree(max_pool_backward_fast(dout, cache_fast), backward(dout, cache_naive), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(4, 3, 5, 6), (1, 2, 7, 3)])
def test_spatial_batchnorm_fast_agrees_with_naive(shape, dtype):
    forward, backward = naive("spatial_batchnorm.ipynb", "spatial_batchnorm_forward",
                              "spatial_batchnorm_backward")
    rng = np.random.default_rng(sum(shape))
    c = shape[1]
    x, gamma, beta = random_arrays(rng, dtype, shape, (c,), (c,))
    x = 2 * x + 1
    fast_param, naive_param = {"mode": "train"}, {"mode": "train"}
    out_fast, cache_fast = spatial_batchnorm_forward_fast(x, gamma, beta, fast_param)
    out_naive, cache_naive = forward(x, gamma, beta, naive_param)
    assert_agree(out_fast, out_naive, dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    grads_naive = backward(dout, cache_naive)
    for fast, slow in zip(spatial_batchnorm_backward_fast(dout, cache_fast), grads_naive):
        assert_agree(fast, slow, dtype)
    for key in ("running_mean", "running_var"):
        np.testing.assert_allclose(fast_param[key], naive_param[key], rtol=1e-5)

    fast_param["mode"] = naive_param["mode"] = "test"
    out_fast, _ = spatial_batchnorm_forward_fast(x, gamma, beta, fast_param)
    out_naive, _ = forward(x, gamma, beta, naive_param)
    np.testing.assert_allclose(out_fast, out_naive, rtol=1e-4, atol=1e-4)
