"""The fast numpy layers against PyTorch (float64 as the oracle) and numeric gradients."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnbook.fast_layers import (conv_backward_fast, conv_forward_fast, conv_output_size,
                                 max_pool_backward_fast, max_pool_forward_fast,
                                 spatial_batchnorm_backward_fast, spatial_batchnorm_forward_fast,
                                 window_view)
from cnnbook import fast_layers
from cnnbook.gradient_check import eval_numerical_gradient_array, rel_error

DTYPES = [np.float64, np.float32]

# (N, C, H, W, F, HH, WW, stride, pad): strides 1-3, pads 0-2, non-square inputs
# and kernels, a batch of one, a single channel, a kernel as large as the input,
# fewer filters than channels (kn2row) or more (im2col), a pad wider than the kernel.
CONV_CASES = [
    (2, 4, 7, 9, 3, 3, 2, 1, 1),
    (1, 3, 5, 5, 2, 2, 2, 1, 2),
    (2, 5, 6, 4, 5, 3, 1, 1, 0),
    (1, 4, 4, 5, 2, 2, 3, 1, 3),
    (2, 3, 8, 8, 4, 3, 3, 1, 1),
    (1, 1, 7, 5, 2, 3, 2, 1, 0),
    (3, 2, 9, 11, 5, 2, 4, 2, 1),
    (2, 4, 10, 7, 3, 3, 3, 3, 2),
    (1, 3, 6, 6, 2, 6, 6, 1, 0),
    (2, 2, 5, 8, 3, 1, 1, 2, 0),
    (4, 3, 12, 9, 6, 5, 3, 2, 2),
    (1, 2, 4, 4, 3, 5, 5, 3, 2),
]

# (N, C, H, W, pool_height, pool_width, stride): tiling windows, overlapping
# windows, gaps between windows, non-square windows and inputs that do not
# divide evenly (the last rows/columns are then dropped, as in PyTorch).
POOL_CASES = [
    (2, 3, 8, 8, 2, 2, 2),
    (1, 1, 6, 9, 3, 3, 3),
    (2, 2, 7, 7, 3, 3, 2),
    (3, 2, 8, 6, 2, 3, 1),
    (2, 3, 9, 8, 2, 2, 3),
    (1, 4, 7, 9, 2, 2, 2),
    (2, 1, 5, 5, 5, 5, 1),
]


def tolerance(dtype, reference):
    """Absolute tolerance for comparing with a float64 result of this magnitude."""
    eps = 1e-12 if dtype == np.float64 else 1e-5
    return eps * max(1.0, float(np.abs(reference).max()))


def assert_matches(actual, reference, dtype):
    assert actual.dtype == dtype
    assert actual.shape == reference.shape
    np.testing.assert_allclose(actual, reference, rtol=0, atol=tolerance(dtype, reference))


def torch64(*arrays):
    return [torch.tensor(np.ascontiguousarray(a), dtype=torch.float64, requires_grad=True)
            for a in arrays]


def random_arrays(rng, dtype, *shapes):
    return [rng.standard_normal(shape).astype(dtype) for shape in shapes]


# ---------------------------------------------------------------------------
# conv_output_size and window_view
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("size, kernel, stride, pad, expected",
                         [(32, 5, 1, 2, 32), (7, 3, 2, 0, 3), (8, 3, 2, 0, 3),
                          (5, 5, 1, 0, 1), (4, 5, 3, 2, 2)])
def test_conv_output_size_follows_the_floor_rule(size, kernel, stride, pad, expected):
    assert conv_output_size(size, kernel, stride, pad) == expected
    conv = torch.nn.Conv2d(1, 1, (kernel, 1), stride=(stride, 1), padding=(pad, 0))
    assert conv(torch.zeros(1, 1, size, 1)).shape[2] == expected


@pytest.mark.parametrize("args, message", [
    ((3, 5, 1, 0), "does not fit"),
    ((4, 3, 0, 0), "stride must be >= 1"),
    ((4, 3, 1, -1), "pad must be >= 0"),
    ((4, 0, 1, 0), "kernel must be >= 1"),
])
def test_conv_output_size_rejects_impossible_geometry(args, message):
    with pytest.raises(ValueError, match=message):
        conv_output_size(*args)


def test_conv_output_size_rejects_non_integers():
    with pytest.raises(TypeError, match="stride must be an int"):
        conv_output_size(8, 3, 1.5, 0)


def test_window_view_aliases_the_input_windows_without_copying():
    x = np.arange(2 * 3 * 7 * 6, dtype=np.float64).reshape(2, 3, 7, 6)
    view = window_view(x, (3, 2), (2, 1))
    assert view.shape == (2, 3, 3, 5, 3, 2)
    assert np.shares_memory(view, x)
    assert not view.flags.writeable
    for i in range(3):
        for j in range(5):
            np.testing.assert_array_equal(view[:, :, i, j], x[:, :, 2 * i:2 * i + 3, j:j + 2])


def test_window_view_accepts_square_shorthand_and_checks_its_input():
    x = np.zeros((1, 1, 4, 4))
    assert window_view(x, 2, 2).shape == (1, 1, 2, 2, 2, 2)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        window_view(np.zeros((4, 4)), 2, 1)
    with pytest.raises(ValueError, match="does not fit"):
        window_view(x, (5, 1), 1)


# ---------------------------------------------------------------------------
# Convolution
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_matches_pytorch_forward_and_backward(case, dtype):
    n, c, h, w, f, hh, ww, stride, pad = case
    rng = np.random.default_rng(hash(case) % 2**32)
    x, wt, b = random_arrays(rng, dtype, (n, c, h, w), (f, c, hh, ww), (f,))
    originals = [a.copy() for a in (x, wt, b)]
    out, cache = conv_forward_fast(x, wt, b, {"stride": stride, "pad": pad})

    tx, tw, tb = torch64(x, wt, b)
    ref = F.conv2d(tx, tw, tb, stride=stride, padding=pad)
    assert_matches(out, ref.detach().numpy(), dtype)

    dout = rng.standard_normal(out.shape).astype(dtype)
    dout_copy = dout.copy()
    dx, dw, db = conv_backward_fast(dout, cache)
    ref.backward(torch.tensor(dout, dtype=torch.float64))
    assert_matches(dx, tx.grad.numpy(), dtype)
    assert_matches(dw, tw.grad.numpy(), dtype)
    assert_matches(db, tb.grad.numpy(), dtype)
    for original, array in zip(originals + [dout_copy], (x, wt, b, dout)):
        np.testing.assert_array_equal(original, array)


def test_conv_numeric_gradients():
    rng = np.random.default_rng(0)
    x, w, b = random_arrays(rng, np.float64, (2, 3, 6, 5), (4, 3, 3, 2), (4,))
    param = {"stride": 2, "pad": 1}
    out, cache = conv_forward_fast(x, w, b, param)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = conv_backward_fast(dout, cache)
    num_dx = eval_numerical_gradient_array(lambda v: conv_forward_fast(v, w, b, param)[0], x, dout)
    num_dw = eval_numerical_gradient_array(lambda v: conv_forward_fast(x, v, b, param)[0], w, dout)
    num_db = eval_numerical_gradient_array(lambda v: conv_forward_fast(x, w, v, param)[0], b, dout)
    assert rel_error(dx, num_dx) < 1e-8
    assert rel_error(dw, num_dw) < 1e-8
    assert rel_error(db, num_db) < 1e-8


@pytest.mark.parametrize("f, c", [(3, 5), (6, 2)])
@pytest.mark.parametrize("pad", [0, 1, 3])
def test_im2col_and_kn2row_strategies_agree(monkeypatch, f, c, pad):
    """Force each of the two ways of organising a stride-1 convolution."""
    rng = np.random.default_rng(pad + f)
    x, w, b = random_arrays(rng, np.float64, (2, c, 5, 7), (f, c, 3, 2), (f,))
    param = {"stride": 1, "pad": pad}
    results = []
    for use_kn2row in (False, True):
        monkeypatch.setattr(fast_layers, "_uses_kn2row", lambda *_, flag=use_kn2row: flag)
        out, cache = conv_forward_fast(x, w, b, param)
        results.append((out,) + conv_backward_fast(np.cos(out), cache))
    for im2col_result, kn2row_result in zip(*results):
        np.testing.assert_allclose(im2col_result, kn2row_result, atol=1e-12)


def test_conv_caches_are_independent():
    """Two layers' forward passes, then their backward passes in reverse order."""
    rng = np.random.default_rng(1)
    x1, x2, w, b = random_arrays(rng, np.float64, (2, 2, 5, 5), (2, 2, 5, 5), (3, 2, 3, 3), (3,))
    param = {"stride": 1, "pad": 1}
    out1, cache1 = conv_forward_fast(x1, w, b, param)
    _, cache2 = conv_forward_fast(x2, w, b, param)
    conv_backward_fast(np.ones_like(out1), cache2)
    _, dw1, _ = conv_backward_fast(np.ones_like(out1), cache1)
    _, dw1_alone, _ = conv_backward_fast(np.ones_like(out1), conv_forward_fast(x1, w, b, param)[1])
    np.testing.assert_array_equal(dw1, dw1_alone)


def test_layers_accept_non_contiguous_inputs():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((6, 5, 4, 3)).transpose(3, 2, 1, 0)  # (3, 4, 5, 6), Fortran order
    w = rng.standard_normal((2, 4, 3, 3))[:, :, ::-1]
    out, cache = conv_forward_fast(x, w, np.zeros(2), {"stride": 1, "pad": 1})
    tx, tw = torch64(x, w)
    ref = F.conv2d(tx, tw, padding=1)
    np.testing.assert_allclose(out, ref.detach().numpy(), atol=1e-12)
    dout = rng.standard_normal(out.shape)[..., ::-1]
    ref.backward(torch.tensor(dout.copy()))
    dx, dw, _ = conv_backward_fast(dout, cache)
    np.testing.assert_allclose(dx, tx.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(dw, tw.grad.numpy(), atol=1e-12)

    x = rng.standard_normal((4, 6, 2, 3)).transpose(2, 3, 0, 1)  # (2, 3, 4, 6)
    out, cache = max_pool_forward_fast(x, _pool_param(2, 2, 2))
    (tx,) = torch64(x)
    ref = F.max_pool2d(tx, 2, 2)
    dout = rng.standard_normal(out.shape)
    ref.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, ref.detach().numpy())
    np.testing.assert_allclose(max_pool_backward_fast(dout, cache), tx.grad.numpy())


def test_conv_keeps_the_dtype_of_x_and_promotes_integers():
    x = np.ones((1, 1, 4, 4), dtype=np.float32)
    out, _ = conv_forward_fast(x, np.ones((2, 1, 3, 3)), np.zeros(2), {"stride": 1, "pad": 0})
    assert out.dtype == np.float32
    out, _ = conv_forward_fast(np.ones((1, 1, 4, 4), dtype=int), np.ones((2, 1, 3, 3)),
                               np.zeros(2), {"stride": 1, "pad": 0})
    assert out.dtype == np.float64 and out[0, 0, 0, 0] == 9


def _conv_args(**changes):
    args = {"x": np.zeros((2, 3, 5, 5)), "w": np.zeros((4, 3, 3, 3)), "b": np.zeros(4),
            "conv_param": {"stride": 1, "pad": 1}}
    args.update(changes)
    return args


@pytest.mark.parametrize("changes, error, message", [
    ({"x": np.zeros((3, 5, 5))}, ValueError, "x must have 4 axes"),
    ({"w": np.zeros((4, 2, 3, 3))}, ValueError, "x has 3 channels but the filters"),
    ({"b": np.zeros(3)}, ValueError, r"b \(one bias per filter\) must have shape \(4,\)"),
    ({"conv_param": {"stride": 1}}, KeyError, "no 'pad' key"),
    ({"conv_param": {"pad": 1}}, KeyError, "no 'stride' key"),
    ({"conv_param": {"stride": 0, "pad": 1}}, ValueError, r"\['stride'\] must be >= 1"),
    ({"conv_param": {"stride": 1, "pad": -1}}, ValueError, r"\['pad'\] must be >= 0"),
    ({"conv_param": {"stride": 1.0, "pad": 1}}, TypeError, r"\['stride'\] must be an int"),
    ({"conv_param": [1, 1]}, TypeError, "conv_param must be a dict"),
    ({"w": np.zeros((4, 3, 8, 3))}, ValueError, "does not fit"),
    ({"x": np.zeros((2, 3, 5, 5), dtype=complex)}, TypeError, "real numbers"),
])
def test_conv_rejects_bad_input_clearly(changes, error, message):
    with pytest.raises(error, match=message):
        conv_forward_fast(**_conv_args(**changes))


def test_conv_backward_rejects_a_wrong_dout_shape():
    out, cache = conv_forward_fast(**_conv_args())
    with pytest.raises(ValueError, match=r"dout must have shape \(2, 4, 5, 5\)"):
        conv_backward_fast(np.zeros((2, 4, 5, 4)), cache)


# ---------------------------------------------------------------------------
# Max pooling
# ---------------------------------------------------------------------------

def _pool_param(ph, pw, stride):
    return {"pool_height": ph, "pool_width": pw, "stride": stride}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POOL_CASES)
def test_max_pool_matches_pytorch_forward_and_backward(case, dtype):
    n, c, h, w, ph, pw, stride = case
    rng = np.random.default_rng(hash(case) % 2**32)
    (x,) = random_arrays(rng, dtype, (n, c, h, w))
    x_copy = x.copy()
    out, cache = max_pool_forward_fast(x, _pool_param(ph, pw, stride))
    (tx,) = torch64(x)
    ref = F.max_pool2d(tx, (ph, pw), stride)
    assert_matches(out, ref.detach().numpy(), dtype)

    dout = rng.standard_normal(out.shape).astype(dtype)
    dx = max_pool_backward_fast(dout, cache)
    ref.backward(torch.tensor(dout, dtype=torch.float64))
    assert_matches(dx, tx.grad.numpy(), dtype)
    np.testing.assert_array_equal(x, x_copy)


@pytest.mark.parametrize("ph, pw, stride", [(2, 2, 2), (3, 3, 1), (2, 3, 2)])
def test_max_pool_routes_tied_gradients_to_the_first_maximum_like_pytorch(ph, pw, stride):
    # Many ties: all-zero windows (as after a ReLU) and repeated small integers.
    rng = np.random.default_rng(2)
    x = np.maximum(rng.integers(-2, 2, size=(2, 3, 8, 9)), 0).astype(np.float64)
    out, cache = max_pool_forward_fast(x, _pool_param(ph, pw, stride))
    dout = rng.standard_normal(out.shape)
    dx = max_pool_backward_fast(dout, cache)
    (tx,) = torch64(x)
    F.max_pool2d(tx, (ph, pw), stride).backward(torch.tensor(dout))
    np.testing.assert_allclose(dx, tx.grad.numpy(), atol=1e-12)
    # Every window's gradient lands exactly once.
    np.testing.assert_allclose(dx.sum(), dout.sum())


def test_max_pool_numeric_gradient_with_overlapping_windows():
    rng = np.random.default_rng(3)
    x = rng.permutation(2 * 2 * 7 * 6).reshape(2, 2, 7, 6).astype(np.float64)  # distinct values
    param = _pool_param(3, 2, 2)
    out, cache = max_pool_forward_fast(x, param)
    dout = rng.standard_normal(out.shape)
    dx = max_pool_backward_fast(dout, cache)
    num_dx = eval_numerical_gradient_array(lambda v: max_pool_forward_fast(v, param)[0], x, dout)
    assert rel_error(dx, num_dx) < 1e-8


@pytest.mark.parametrize("param, error, message", [
    ({"pool_height": 2, "pool_width": 2}, KeyError, "no 'stride' key"),
    ({"pool_width": 2, "stride": 2}, KeyError, "no 'pool_height' key"),
    (_pool_param(2, 2, 0), ValueError, r"\['stride'\] must be >= 1"),
    (_pool_param(0, 2, 1), ValueError, r"\['pool_height'\] must be >= 1"),
    (_pool_param(2, 7, 1), ValueError, "does not fit"),
])
def test_max_pool_rejects_bad_parameters_clearly(param, error, message):
    with pytest.raises(error, match=message):
        max_pool_forward_fast(np.zeros((1, 1, 6, 6)), param)


def test_max_pool_checks_shapes():
    with pytest.raises(ValueError, match="x must have 4 axes"):
        max_pool_forward_fast(np.zeros((6, 6)), _pool_param(2, 2, 2))
    _, cache = max_pool_forward_fast(np.zeros((1, 1, 6, 6)), _pool_param(2, 2, 2))
    with pytest.raises(ValueError, match=r"dout must have shape \(1, 1, 3, 3\)"):
        max_pool_backward_fast(np.zeros((1, 1, 2, 3)), cache)


# ---------------------------------------------------------------------------
# Spatial batch normalisation
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(4, 3, 5, 6), (1, 2, 7, 3), (6, 1, 2, 2)])
def test_spatial_batchnorm_train_matches_pytorch(shape, dtype):
    rng = np.random.default_rng(sum(shape))
    c = shape[1]
    x, gamma, beta = random_arrays(rng, dtype, shape, (c,), (c,))
    x = 3 * x + 2
    copies = [a.copy() for a in (x, gamma, beta)]
    bn_param = {"mode": "train", "momentum": 0.8, "eps": 1e-5}
    out, cache = spatial_batchnorm_forward_fast(x, gamma, beta, bn_param)
    tx, tg, tb = torch64(x, gamma, beta)
    ref = F.batch_norm(tx, None, None, tg, tb, training=True, eps=1e-5)
    assert_matches(out, ref.detach().numpy(), dtype)

    dout = rng.standard_normal(shape).astype(dtype)
    dx, dgamma, dbeta = spatial_batchnorm_backward_fast(dout, cache)
    ref.backward(torch.tensor(dout, dtype=torch.float64))
    for grad, tensor in ((dx, tx), (dgamma, tg), (dbeta, tb)):
        np.testing.assert_allclose(grad, tensor.grad.numpy(), rtol=0,
                                   atol=(1e-10 if dtype == np.float64 else 1e-4)
                                   * max(1, np.abs(tensor.grad.numpy()).max()))
        assert grad.dtype == dtype
    for original, array in zip(copies, (x, gamma, beta)):
        np.testing.assert_array_equal(original, array)

    # Running averages start at zero and use the biased batch variance.
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(bn_param["running_mean"], 0.2 * x64.mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(bn_param["running_var"], 0.2 * x64.var(axis=(0, 2, 3)), rtol=1e-5)


def test_spatial_batchnorm_statistics_are_per_channel_over_n_h_w():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((8, 3, 4, 5)) * np.array([1, 5, 10])[None, :, None, None] + 7
    out, _ = spatial_batchnorm_forward_fast(x, np.ones(3), np.zeros(3), {"mode": "train"})
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)), 1, atol=1e-4)


def test_spatial_batchnorm_running_averages_and_test_mode():
    rng = np.random.default_rng(5)
    gamma, beta = rng.standard_normal(2), rng.standard_normal(2)
    bn_param = {"mode": "train", "momentum": 0.9}
    batches = [rng.standard_normal((5, 2, 3, 3)) * 2 + 1 for _ in range(3)]
    running_mean, running_var = np.zeros(2), np.zeros(2)
    for batch in batches:
        spatial_batchnorm_forward_fast(batch, gamma, beta, bn_param)
        running_mean = 0.9 * running_mean + 0.1 * batch.mean(axis=(0, 2, 3))
        running_var = 0.9 * running_var + 0.1 * batch.var(axis=(0, 2, 3))
    np.testing.assert_allclose(bn_param["running_mean"], running_mean)
    np.testing.assert_allclose(bn_param["running_var"], running_var)

    bn_param["mode"] = "test"
    x = rng.standard_normal((2, 2, 3, 3))
    out, cache = spatial_batchnorm_forward_fast(x, gamma, beta, bn_param)
    expected = F.batch_norm(torch.tensor(x), torch.tensor(running_mean), torch.tensor(running_var),
                            torch.tensor(gamma), torch.tensor(beta), training=False, eps=1e-5)
    np.testing.assert_allclose(out, expected.numpy(), atol=1e-12)
    np.testing.assert_allclose(bn_param["running_mean"], running_mean)  # unchanged by test mode

    dout = rng.standard_normal(x.shape)
    dx, dgamma, dbeta = spatial_batchnorm_backward_fast(dout, cache)
    forward = lambda v: spatial_batchnorm_forward_fast(v, gamma, beta, dict(bn_param))[0]
    assert rel_error(dx, eval_numerical_gradient_array(forward, x, dout)) < 1e-8


@pytest.mark.parametrize("which", ["x", "gamma", "beta"])
def test_spatial_batchnorm_numeric_gradients_in_train_mode(which):
    rng = np.random.default_rng(6)
    inputs = {"x": 4 * rng.standard_normal((3, 2, 4, 3)) + 1,
              "gamma": rng.standard_normal(2), "beta": rng.standard_normal(2)}
    out, cache = spatial_batchnorm_forward_fast(**inputs, bn_param={"mode": "train"})
    dout = rng.standard_normal(out.shape)
    grads = dict(zip(["x", "gamma", "beta"], spatial_batchnorm_backward_fast(dout, cache)))

    def forward(value):
        return spatial_batchnorm_forward_fast(**{**inputs, which: value},
                                              bn_param={"mode": "train"})[0]
    numeric = eval_numerical_gradient_array(forward, inputs[which], dout)
    # Entries of dx near zero lose digits to cancellation in the numeric estimate.
    assert rel_error(grads[which], numeric) < 1e-6


@pytest.mark.parametrize("bn_param, error, message", [
    ({}, KeyError, "no 'mode' key"),
    ({"mode": "eval"}, ValueError, "must be 'train' or 'test'"),
    ({"mode": "test"}, KeyError, "test mode: bn_param has no 'running_mean'"),
    ({"mode": "train", "running_mean": np.zeros(3)}, ValueError,
     r"running_mean'\] must have shape \(2,\)"),
])
def test_spatial_batchnorm_rejects_bad_bn_param(bn_param, error, message):
    with pytest.raises(error, match=message):
        spatial_batchnorm_forward_fast(np.zeros((2, 2, 3, 3)), np.ones(2), np.zeros(2), bn_param)


def test_spatial_batchnorm_checks_gamma_and_dout_shapes():
    with pytest.raises(ValueError, match=r"gamma \(one scale per channel\) must have shape \(2,\)"):
        spatial_batchnorm_forward_fast(np.zeros((2, 2, 3, 3)), np.ones(3), np.zeros(2),
                                       {"mode": "train"})
    _, cache = spatial_batchnorm_forward_fast(np.ones((2, 2, 3, 3)), np.ones(2), np.zeros(2),
                                              {"mode": "train"})
    with pytest.raises(ValueError, match="dout must have shape"):
        spatial_batchnorm_backward_fast(np.zeros((2, 2, 3, 2)), cache)
