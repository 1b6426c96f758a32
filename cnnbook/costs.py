"""What a model costs: parameters, parameter memory and multiply-adds.

Multiply-adds are counted by running one forward pass with hooks on the layers
that do the arithmetic (convolutions and linear layers); element-wise layers
(ReLU, pooling, normalisation) are cheap by comparison and are not counted,
which is the usual convention for reporting "MACs".
"""
import torch
from torch import nn

from cnnbook.models import evaluating, forward_hooks


def count_parameters(model):
    """Number of trainable scalars in ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def parameter_bytes(model):
    """Memory taken by the parameters, in bytes, at their current dtype."""
    return sum(p.numel() * p.element_size() for p in model.parameters())


def _layer_macs(module, output):
    if isinstance(module, nn.Conv2d):
        c_in, kh, kw = module.in_channels // module.groups, *module.kernel_size
        return output.numel() * c_in * kh * kw
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    return 0


def count_macs(model, input_shape):
    """Multiply-adds of one forward pass on a batch of shape ``input_shape``.

    The count is for the whole batch; pass a batch of one for a per-image
    figure.  The model is run once, in eval mode, without gradients.
    """
    total = 0

    def hook(module, _inputs, output):
        nonlocal total
        total += _layer_macs(module, output)

    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with forward_hooks(layers, hook), evaluating(model) as device:
        model(torch.zeros(input_shape, device=device))
    return total
