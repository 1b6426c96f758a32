"""cnnbook.conv_math: the formula-level convolution maths the layer chapters rely on.

Every formula is compared with PyTorch (conv2d and its autograd) in float64, over
strides, paddings and shapes where the floor in the output size drops input
rows and columns.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnbook.conv_math import (conv_grad_bias, conv_grad_input, conv_grad_weight, convolve,
                               correlate, dilate, flip, im2col, max_pool_route, pad_hw)


def _random(rng, *shape):
    return rng.standard_normal(shape)


def _torch_conv(x, w, stride, pad):
    return F.conv2d(torch.from_numpy(x), torch.from_numpy(w), stride=stride, padding=pad).numpy()


def _torch_grads(x, w, b, dout, stride, pad):
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    F.conv2d(xt, wt, bt, stride=stride, padding=pad).backward(torch.from_numpy(dout))
    return xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()


# (x shape, w shape, stride, pad): square and non-square, floor active or not.
GRAD_CASES = [
    ((2, 3, 5, 5), (4, 3, 3, 3), 1, 0),
    ((2, 3, 5, 5), (4, 3, 3, 3), 1, 1),
    ((2, 2, 8, 8), (3, 2, 3, 3), 2, 0),   # floor drops the last row and column
    ((1, 3, 7, 9), (2, 3, 3, 2), 2, 1),
    ((2, 1, 10, 11), (2, 1, 4, 3), 3, 2),  # floor drops different amounts in H and W
    ((3, 2, 6, 6), (5, 2, 1, 1), 2, 0),
    ((1, 1, 4, 4), (1, 1, 4, 4), 1, 0),    # kernel as big as the input
]


def test_flip_reverses_both_spatial_axes_only():
    w = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    np.testing.assert_array_equal(flip(w), w[:, ::-1, ::-1])
    np.testing.assert_array_equal(flip(flip(w)), w)
    with pytest.raises(ValueError, match="two spatial axes"):
        flip(np.arange(3))


def test_dilate_spreads_entries_stride_apart():
    x = np.arange(1, 7, dtype=float).reshape(1, 2, 3)
    out = dilate(x, 3)
    assert out.shape == (1, 4, 7)
    np.testing.assert_array_equal(out[..., ::3, ::3], x)
    assert np.count_nonzero(out) == x.size
    assert dilate(x, 1) is x
    with pytest.raises(ValueError, match="stride must be a positive integer"):
        dilate(x, 0)


def test_pad_hw_pads_only_the_last_two_axes():
    x = np.ones((2, 3, 4, 5))
    assert pad_hw(x, 1).shape == (2, 3, 6, 7)
    out = pad_hw(x, (0, 2), (3, 1))
    assert out.shape == (2, 3, 6, 9)
    assert out.sum() == x.sum()
    np.testing.assert_array_equal(out[..., :4, 3:8], x)
    with pytest.raises(ValueError, match="non-negative integer"):
        pad_hw(x, -1)


@pytest.mark.parametrize("x_shape, w_shape, stride, pad", GRAD_CASES)
def test_correlate_matches_torch_conv2d(x_shape, w_shape, stride, pad):
    rng = np.random.default_rng(0)
    x, w = _random(rng, *x_shape), _random(rng, *w_shape)
    np.testing.assert_allclose(correlate(pad_hw(x, pad), w, stride), _torch_conv(x, w, stride, pad),
                               rtol=1e-10, atol=1e-10)


def test_convolve_returns_the_kernel_as_impulse_response():
    """A true convolution of a unit impulse reproduces the kernel; correlation flips it."""
    kernel = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    impulse = pad_hw(np.ones((1, 1, 1, 1)), 2)  # 5x5, a single 1 in the middle
    np.testing.assert_array_equal(convolve(impulse, kernel), kernel)
    np.testing.assert_array_equal(correlate(impulse, kernel), flip(kernel))


def test_correlate_rejects_mismatched_channels_clearly():
    with pytest.raises(ValueError, match="x has 3 channels but w expects 2"):
        correlate(np.zeros((1, 3, 5, 5)), np.zeros((4, 2, 3, 3)))
    with pytest.raises(ValueError, match=r"x must be a 4-d array \(N, C, H, W\)"):
        correlate(np.zeros((3, 5, 5)), np.zeros((4, 3, 3, 3)))


@pytest.mark.parametrize("stride", [1, 2])
def test_im2col_times_flattened_filters_is_the_convolution(stride):
    rng = np.random.default_rng(1)
    x, w = _random(rng, 2, 3, 7, 6), _random(rng, 4, 3, 3, 2)
    expected = _torch_conv(x, w, stride, 0)
    n, f, h_out, w_out = expected.shape
    cols = im2col(x, (3, 2), stride)
    assert cols.shape == (n * h_out * w_out, 3 * 3 * 2)
    out = (cols @ w.reshape(f, -1).T).reshape(n, h_out, w_out, f).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("x_shape, w_shape, stride, pad", GRAD_CASES)
def test_gradients_match_torch_autograd(x_shape, w_shape, stride, pad):
    rng = np.random.default_rng(2)
    x, w, b = _random(rng, *x_shape), _random(rng, *w_shape), _random(rng, w_shape[0])
    dout = _random(rng, *_torch_conv(x, w, stride, pad).shape)
    dx_ref, dw_ref, db_ref = _torch_grads(x, w, b, dout, stride, pad)
    np.testing.assert_allclose(conv_grad_bias(dout), db_ref, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(conv_grad_weight(x, dout, w_shape[-2:], stride, pad), dw_ref,
                               rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(conv_grad_input(dout, w, x.shape, stride, pad), dx_ref,
                               rtol=1e-10, atol=1e-10)


def test_input_rows_no_window_reaches_get_zero_gradient():
    rng = np.random.default_rng(3)
    x, w = _random(rng, 1, 1, 8, 8), _random(rng, 1, 1, 3, 3)
    dout = _random(rng, 1, 1, 3, 3)  # windows start at 0, 2, 4: input row/col 7 is never read
    dx = conv_grad_input(dout, w, x.shape, stride=2, pad=0)
    assert np.all(dx[..., 7, :] == 0) and np.all(dx[..., :, 7] == 0)
    assert np.any(dx[..., 6, :] != 0)


def test_gradients_reject_a_dout_of_the_wrong_shape():
    x, w = np.zeros((2, 3, 8, 8)), np.zeros((4, 3, 3, 3))
    wrong = np.zeros((2, 4, 4, 4))  # the output is 3x3 for stride 2, pad 0
    with pytest.raises(ValueError, match=r"dout has \(N, H', W'\) = \(2, 4, 4\).*gives \(2, 3, 3\)"):
        conv_grad_input(wrong, w, x.shape, stride=2, pad=0)
    with pytest.raises(ValueError, match="dout has"):
        conv_grad_weight(x, wrong, (3, 3), stride=2, pad=0)
    with pytest.raises(ValueError, match="dout has 4 channels but w has 5 filters"):
        conv_grad_input(np.zeros((2, 4, 3, 3)), np.zeros((5, 3, 3, 3)), x.shape, 2, 0)


@pytest.mark.parametrize("x_shape, pool, stride", [((2, 3, 8, 8), (2, 2), 2),
                                                   ((1, 2, 7, 9), (3, 3), 2),   # overlapping
                                                   ((2, 1, 6, 6), (3, 2), 1)])  # heavy overlap
def test_max_pool_route_matches_torch_autograd(x_shape, pool, stride):
    rng = np.random.default_rng(4)
    x = rng.standard_normal(x_shape)  # continuous values: no ties
    xt = torch.tensor(x, requires_grad=True)
    out = F.max_pool2d(xt, pool, stride)
    dout = rng.standard_normal(tuple(out.shape))
    out.backward(torch.from_numpy(dout))
    for ties in ("first", "all"):
        np.testing.assert_allclose(max_pool_route(x, dout, pool, stride, ties), xt.grad.numpy(),
                                   rtol=1e-12, atol=1e-12)


def test_max_pool_route_tie_rules():
    x = np.array([[[[1.0, 3.0], [3.0, 3.0]]]])  # three tied maxima in one window
    dout = np.array([[[[2.0]]]])
    np.testing.assert_array_equal(max_pool_route(x, dout, (2, 2), 2, "first"), [[[[0, 2], [0, 0]]]])
    np.testing.assert_array_equal(max_pool_route(x, dout, (2, 2), 2, "all"), [[[[0, 2], [2, 2]]]])
    xt = torch.tensor(x, requires_grad=True)
    F.max_pool2d(xt, 2).backward(torch.from_numpy(dout))
    np.testing.assert_array_equal(max_pool_route(x, dout, (2, 2), 2, "first"), xt.grad.numpy())
    with pytest.raises(ValueError, match="ties must be one of"):
        max_pool_route(x, dout, (2, 2), 2, "random")


def test_max_pool_route_rejects_a_dout_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"dout has shape \(1, 1, 3, 3\).*gives \(1, 1, 2, 2\)"):
        max_pool_route(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 3, 3)), (2, 2), 2)
