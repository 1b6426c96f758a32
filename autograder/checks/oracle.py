"""Trusted reference results, computed with PyTorch in float64.

The hidden checks compare the student's arrays with these.  Forward passes
use PyTorch's own operators (``conv2d``, ``max_pool2d``, batch norm written
out from its definition); backward passes are PyTorch's autograd gradients of
``sum(out * dout)``, i.e. the exact vector-Jacobian products the student's
backward functions must return.  The test suite cross-checks every one of
them against numeric gradients.
"""
import numpy as np
import torch
import torch.nn.functional as F


def _t(array, grad=False):
    return torch.tensor(np.asarray(array, dtype=np.float64), dtype=torch.float64, requires_grad=grad)


def _np(tensor):
    return tensor.detach().numpy().copy()


def conv_forward(x, w, b, stride, pad):
    return _np(F.conv2d(_t(x), _t(w), _t(b), stride=stride, padding=pad))


def conv_backward(x, w, b, stride, pad, dout):
    """``(dx, dw, db)`` of the convolution at ``(x, w, b)`` for upstream gradient ``dout``."""
    tx, tw, tb = _t(x, True), _t(w, True), _t(b, True)
    F.conv2d(tx, tw, tb, stride=stride, padding=pad).backward(_t(dout))
    return _np(tx.grad), _np(tw.grad), _np(tb.grad)


def max_pool_forward(x, pool_height, pool_width, stride):
    return _np(F.max_pool2d(_t(x), (pool_height, pool_width), stride=stride))


def max_pool_backward(x, pool_height, pool_width, stride, dout):
    tx = _t(x, True)
    F.max_pool2d(tx, (pool_height, pool_width), stride=stride).backward(_t(dout))
    return _np(tx.grad)


def _batchnorm_train(x, gamma, beta, eps):
    # Per-channel statistics over N, H and W; biased variance, as in training mode.
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = ((x - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
    x_hat = (x - mean) / torch.sqrt(var + eps)
    return gamma.view(1, -1, 1, 1) * x_hat + beta.view(1, -1, 1, 1), mean.flatten(), var.flatten()


def batchnorm_train(x, gamma, beta, eps):
    """Training-mode output and the batch's per-channel mean and biased variance."""
    out, mean, var = _batchnorm_train(_t(x), _t(gamma), _t(beta), eps)
    return _np(out), _np(mean), _np(var)


def batchnorm_test(x, gamma, beta, running_mean, running_var, eps):
    """Test-mode output: normalised with the running statistics."""
    return _np(_batchnorm_test(_t(x), _t(gamma), _t(beta), running_mean, running_var, eps))


def _batchnorm_test(x, gamma, beta, running_mean, running_var, eps):
    mean, var = _t(running_mean).view(1, -1, 1, 1), _t(running_var).view(1, -1, 1, 1)
    return gamma.view(1, -1, 1, 1) * (x - mean) / torch.sqrt(var + eps) + beta.view(1, -1, 1, 1)


def batchnorm_backward(x, gamma, beta, eps, dout):
    """``(dx, dgamma, dbeta)`` of training-mode spatial batch norm."""
    tx, tg, tb = _t(x, True), _t(gamma, True), _t(beta, True)
    _batchnorm_train(tx, tg, tb, eps)[0].backward(_t(dout))
    return _np(tx.grad), _np(tg.grad), _np(tb.grad)


def batchnorm_test_backward(x, gamma, beta, running_mean, running_var, eps, dout):
    """``(dx, dgamma, dbeta)`` of test-mode spatial batch norm: the running statistics are constants."""
    tx, tg, tb = _t(x, True), _t(gamma, True), _t(beta, True)
    _batchnorm_test(tx, tg, tb, running_mean, running_var, eps).backward(_t(dout))
    return _np(tx.grad), _np(tg.grad), _np(tb.grad)


def batchnorm_cache(x, gamma, eps, mode, running_mean=None, running_var=None):
    """What the release's spatial_batchnorm_forward stores: ``(x_hat, gamma, inv_std, mode)``.

    Its provided last line fixes this cache, so the backward checks build it here (in the
    dtype of ``x``, as the forward pass would) instead of asking the student's forward pass:
    a bug there costs the forward part only.
    """
    tx = _t(x)
    if mode == "train":  # the batch's statistics, biased variance
        mean = tx.mean(dim=(0, 2, 3))
        var = ((tx - mean.view(1, -1, 1, 1)) ** 2).mean(dim=(0, 2, 3))
    else:
        mean, var = _t(running_mean), _t(running_var)
    inv_std = 1.0 / torch.sqrt(var + eps)
    x_hat = (tx - mean.view(1, -1, 1, 1)) * inv_std.view(1, -1, 1, 1)
    dtype = np.asarray(x).dtype
    return _np(x_hat).astype(dtype), np.asarray(gamma, dtype=dtype), _np(inv_std).astype(dtype), mode


CONVNET_PARAMS = ("W1", "b1", "W2", "b2", "W3", "b3")


def convnet(params, X, y=None, reg=0.0):
    """The exercise's ThreeLayerConvNet on given parameters.

    conv (stride 1, 'same' padding (filter_size - 1) // 2) - relu - 2x2 max
    pool (stride 2) - affine - relu - affine - softmax.  Returns the scores
    when ``y`` is None, else ``(loss, grads)`` with the L2 term
    ``0.5 * reg * sum(W ** 2)`` over W1, W2 and W3.
    """
    tensors = {name: _t(params[name], grad=y is not None) for name in CONVNET_PARAMS}
    filter_size = tensors["W1"].shape[2]
    hidden = F.relu(F.conv2d(_t(X), tensors["W1"], tensors["b1"], padding=(filter_size - 1) // 2))
    hidden = F.max_pool2d(hidden, 2, stride=2).flatten(start_dim=1)
    hidden = F.relu(hidden @ tensors["W2"] + tensors["b2"])
    scores = hidden @ tensors["W3"] + tensors["b3"]
    if y is None:
        return _np(scores)
    loss = F.cross_entropy(scores, torch.as_tensor(np.asarray(y), dtype=torch.long))
    loss = loss + 0.5 * reg * sum((tensors[w] ** 2).sum() for w in ("W1", "W2", "W3"))
    loss.backward()
    return float(loss.detach()), {name: _np(tensors[name].grad) for name in CONVNET_PARAMS}
