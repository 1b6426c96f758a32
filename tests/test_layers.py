"""The provided numpy layers (affine, ReLU, softmax loss) against PyTorch and numeric gradients."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnbook.gradient_check import (eval_numerical_gradient, eval_numerical_gradient_array,
                                    rel_error)
from cnnbook.layers import (affine_backward, affine_forward, relu_backward, relu_forward,
                            softmax_loss)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_affine_matches_pytorch_and_flattens_each_example(dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 2, 3, 5)).astype(dtype)
    w = rng.standard_normal((30, 7)).astype(dtype)
    b = rng.standard_normal(7).astype(dtype)
    out, cache = affine_forward(x, w, b)
    tx, tw, tb = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (x, w, b)]
    ref = F.linear(tx.reshape(4, -1), tw.T, tb)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(out, ref.detach().numpy(), atol=tol * 10)
    assert out.dtype == dtype

    dout = rng.standard_normal(out.shape).astype(dtype)
    dx, dw, db = affine_backward(dout, cache)
    ref.backward(torch.tensor(dout, dtype=torch.float64))
    for grad, tensor in ((dx, tx), (dw, tw), (db, tb)):
        assert grad.shape == tensor.shape and grad.dtype == dtype
        np.testing.assert_allclose(grad, tensor.grad.numpy(), atol=tol * 10)


def test_affine_numeric_gradients():
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((3, 2, 4)), rng.standard_normal((8, 5)), rng.standard_normal(5)
    out, cache = affine_forward(x, w, b)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = affine_backward(dout, cache)
    numeric = [eval_numerical_gradient_array(lambda v: affine_forward(v, w, b)[0], x, dout),
               eval_numerical_gradient_array(lambda v: affine_forward(x, v, b)[0], w, dout),
               eval_numerical_gradient_array(lambda v: affine_forward(x, w, v)[0], b, dout)]
    for analytic, estimate in zip((dx, dw, db), numeric):
        assert rel_error(analytic, estimate) < 1e-9


def test_affine_rejects_mismatched_shapes_clearly():
    with pytest.raises(ValueError, match=r"w must have shape \(D, M\) with D = 6"):
        affine_forward(np.zeros((2, 2, 3)), np.zeros((5, 4)), np.zeros(4))
    with pytest.raises(ValueError, match=r"b must have shape \(4,\)"):
        affine_forward(np.zeros((2, 6)), np.zeros((6, 4)), np.zeros(3))
    _, cache = affine_forward(np.zeros((2, 6)), np.zeros((6, 4)), np.zeros(4))
    with pytest.raises(ValueError, match=r"dout must have shape \(2, 4\)"):
        affine_backward(np.zeros((4, 2)), cache)


def test_relu_forward_backward_and_kink_convention():
    x = np.array([[-2.0, 0.0, 3.0], [1e-9, -1e-9, 5.0]], dtype=np.float32)
    x_copy = x.copy()
    out, cache = relu_forward(x)
    np.testing.assert_array_equal(out, np.array([[0, 0, 3], [1e-9, 0, 5]], dtype=np.float32))
    assert out.dtype == np.float32
    dx = relu_backward(np.full(x.shape, 2.0, dtype=np.float32), cache)
    np.testing.assert_array_equal(dx, [[0, 0, 2], [2, 0, 2]])  # zero gradient at exactly 0
    assert dx.dtype == np.float32
    np.testing.assert_array_equal(x, x_copy)
    with pytest.raises(ValueError, match="dout must have the input's shape"):
        relu_backward(np.zeros(3), cache)


def test_relu_numeric_gradient():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 5))
    x[np.abs(x) < 0.01] = 0.5  # keep away from the kink, where the derivative jumps
    _, cache = relu_forward(x)
    dout = rng.standard_normal(x.shape)
    numeric = eval_numerical_gradient_array(lambda v: relu_forward(v)[0], x, dout)
    assert rel_error(relu_backward(dout, cache), numeric) < 1e-9


def test_softmax_loss_matches_pytorch_cross_entropy():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 4))
    y = rng.integers(0, 4, size=6)
    loss, dx = softmax_loss(x, y)
    tx = torch.tensor(x, requires_grad=True)
    ref = F.cross_entropy(tx, torch.tensor(y))
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(dx, tx.grad.numpy(), atol=1e-14)
    numeric = eval_numerical_gradient(lambda v: softmax_loss(v, y)[0], x)
    assert rel_error(dx, numeric) < 1e-8


def test_softmax_loss_of_uniform_scores_is_log_of_class_count():
    loss, _ = softmax_loss(np.zeros((5, 10)), np.arange(5))
    assert loss == pytest.approx(np.log(10))


def test_softmax_loss_is_stable_for_huge_scores():
    x = np.array([[1000.0, 0.0, -1000.0], [-5e3, 5e3, 0.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        loss, dx = softmax_loss(x, np.array([0, 0]))
    assert np.isfinite(loss) and np.all(np.isfinite(dx))
    assert loss == pytest.approx(1e4 / 2)  # second row: the right class is 1e4 below the top
    x32 = x.astype(np.float32)
    loss32, dx32 = softmax_loss(x32, np.array([0, 0]))
    assert dx32.dtype == np.float32 and np.isfinite(loss32)


@pytest.mark.parametrize("x, y, error, message", [
    (np.zeros((3, 4)), np.array([0, 1]), ValueError, r"y must have shape \(3,\)"),
    (np.zeros((3, 4)), np.array([0, 1, 4]), ValueError, r"labels must lie in \[0, 3\]"),
    (np.zeros((3, 4)), np.array([0.0, 1.0, 2.0]), TypeError, "integer class labels"),
    (np.zeros(4), np.array([0]), ValueError, r"x must have shape \(N, C\)"),
])
def test_softmax_loss_rejects_bad_input_clearly(x, y, error, message):
    with pytest.raises(error, match=message):
        softmax_loss(x, y)
