"""The sandwich layers of cnnbook.layer_utils against PyTorch and numeric gradients."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnbook.gradient_check import eval_numerical_gradient_array, rel_error
from cnnbook.layer_utils import (affine_relu_backward, affine_relu_forward, conv_relu_backward,
                                 conv_relu_forward, conv_relu_pool_backward,
                                 conv_relu_pool_forward)

CONV = {"stride": 1, "pad": 1}
POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}


def _sandwiches():
    """(name, forward(x, w, b), backward, input shapes, torch equivalent)."""
    return [
        ("affine_relu", affine_relu_forward, affine_relu_backward,
         ((3, 2, 3), (6, 5), (5,)), lambda x, w, b: F.relu(x.reshape(len(x), -1) @ w + b)),
        ("conv_relu", lambda x, w, b: conv_relu_forward(x, w, b, CONV), conv_relu_backward,
         ((2, 3, 6, 5), (4, 3, 3, 3), (4,)), lambda x, w, b: F.relu(F.conv2d(x, w, b, padding=1))),
        ("conv_relu_pool", lambda x, w, b: conv_relu_pool_forward(x, w, b, CONV, POOL),
         conv_relu_pool_backward, ((2, 3, 6, 8), (4, 3, 3, 3), (4,)),
         lambda x, w, b: F.max_pool2d(F.relu(F.conv2d(x, w, b, padding=1)), 2, 2)),
    ]


@pytest.mark.parametrize("name, forward, backward, shapes, reference", _sandwiches(),
                         ids=[s[0] for s in _sandwiches()])
def test_sandwich_matches_pytorch(name, forward, backward, shapes, reference):
    rng = np.random.default_rng(len(name))
    arrays = [rng.standard_normal(shape) for shape in shapes]
    out, cache = forward(*arrays)
    tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
    ref = reference(*tensors)
    np.testing.assert_allclose(out, ref.detach().numpy(), atol=1e-12)
    dout = rng.standard_normal(out.shape)
    grads = backward(dout, cache)
    ref.backward(torch.tensor(dout))
    for grad, tensor in zip(grads, tensors):
        np.testing.assert_allclose(grad, tensor.grad.numpy(), atol=1e-12)


@pytest.mark.parametrize("name, forward, backward, shapes, reference", _sandwiches(),
                         ids=[s[0] for s in _sandwiches()])
def test_sandwich_numeric_gradients(name, forward, backward, shapes, reference):
    rng = np.random.default_rng(10 + len(name))
    arrays = [rng.standard_normal(shape) for shape in shapes]
    out, cache = forward(*arrays)
    dout = rng.standard_normal(out.shape)
    grads = backward(dout, cache)
    for index, (array, grad) in enumerate(zip(arrays, grads)):
        def f(value, index=index):
            return forward(*[value if i == index else a for i, a in enumerate(arrays)])[0]
        numeric = eval_numerical_gradient_array(f, array, dout)
        assert rel_error(grad, numeric) < 1e-7, f"{name}: gradient {index}"


def test_conv_relu_pool_keeps_float32():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = np.zeros(4, dtype=np.float32)
    out, cache = conv_relu_pool_forward(x, w, b, CONV, POOL)
    assert out.shape == (2, 4, 4, 4) and out.dtype == np.float32
    grads = conv_relu_pool_backward(np.ones_like(out), cache)
    assert all(g.dtype == np.float32 for g in grads)
