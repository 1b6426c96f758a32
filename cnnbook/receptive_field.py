"""Receptive fields: computed by the textbook recurrence and measured by autograd.

The receptive field of a unit is the set of input pixels that can change its
value.  For a stack of sliding-window layers (convolutions and pooling) its
side length follows from two numbers per layer, the kernel size ``k`` (made
``d*(k-1)+1`` by a dilation ``d``) and the stride ``s``::

    r_l = r_{l-1} + (k_l - 1) * j_{l-1}      j_l = j_{l-1} * s_l,   r_0 = j_0 = 1

where ``j`` (the "jump") is the distance in input pixels between neighbouring
units of layer ``l``.  :func:`measure_receptive_field` checks the recurrence
without trusting it: it asks autograd which input pixels the centre output
unit actually depends on.
"""
import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class Window:
    """The geometry of one sliding-window layer (square windows)."""
    kernel: int
    stride: int = 1
    dilation: int = 1

    def __post_init__(self):
        for name in ("kernel", "stride", "dilation"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"Window.{name} must be a positive integer, got {value!r}")

    @property
    def span(self):
        """Input pixels covered by one window, gaps of a dilated kernel included."""
        return self.dilation * (self.kernel - 1) + 1


def receptive_field_table(windows):
    """Receptive field size and jump after each layer, as a list of dicts.

    ``windows`` is a sequence of :class:`Window` (or ``(kernel, stride)`` pairs).
    """
    rows, size, jump = [], 1, 1
    for layer, window in enumerate(_as_windows(windows), start=1):
        size += (window.span - 1) * jump
        jump *= window.stride
        rows.append({"layer": layer, "kernel": window.kernel, "stride": window.stride,
                     "dilation": window.dilation, "receptive_field": size, "jump": jump})
    return rows


def receptive_field(windows):
    """Side length, in input pixels, of the receptive field after the last layer."""
    table = receptive_field_table(windows)
    return table[-1]["receptive_field"] if table else 1


def _as_windows(windows):
    return [w if isinstance(w, Window) else Window(*w) for w in windows]


def _square(value, what, module):
    pair = value if isinstance(value, tuple) else (value, value)
    if pair[0] != pair[1]:
        raise ValueError(f"windows_of: {type(module).__name__} has a non-square {what} {pair}; "
                         "the receptive-field helpers assume square windows")
    return int(pair[0])


def windows_of(model):
    """The :class:`Window` of every conv and pooling layer of ``model``, in registration order.

    Registration order is the order of computation for ``nn.Sequential`` and
    for most hand-written modules; element-wise layers (ReLU, batch norm) do
    not change the receptive field and are skipped.
    """
    windows = []
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            windows.append(Window(_square(module.kernel_size, "kernel", module),
                                  _square(module.stride, "stride", module),
                                  _square(module.dilation, "dilation", module)))
        elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
            stride = module.stride if module.stride is not None else module.kernel_size
            dilation = getattr(module, "dilation", 1)
            windows.append(Window(_square(module.kernel_size, "kernel", module),
                                  _square(stride, "stride", module),
                                  _square(dilation, "dilation", module)))
    return windows


def input_gradient_map(model, input_shape, trials=4, seed=0):
    """Mean absolute gradient of the centre output unit with respect to each input pixel.

    ``input_shape`` is ``(C, H, W)``.  The centre unit's value (summed over
    output channels) is differentiated at ``trials`` random inputs and the
    absolute gradients are averaged over trials and input channels.  Where the
    map is non-zero the unit depends on the pixel; its shape also shows that
    central pixels matter more than those at the edge of the receptive field.

    Several random inputs are needed because a ReLU or a max-pooling window
    passes gradient along only some of its inputs for any one input image.
    The model is copied and run in float64, so it is left untouched.
    """
    if len(input_shape) != 3:
        raise ValueError(f"input_gradient_map: input_shape must be (C, H, W), got {tuple(input_shape)}")
    probe = copy.deepcopy(model).double().eval()
    generator = torch.Generator().manual_seed(seed)
    total = torch.zeros(input_shape[1:], dtype=torch.float64)
    for _ in range(trials):
        x = torch.randn((1, *input_shape), generator=generator, dtype=torch.float64,
                        requires_grad=True)
        out = probe(x)
        if out.dim() != 4:
            raise ValueError("input_gradient_map: the model must output feature maps "
                             f"(N, C, H, W), got shape {tuple(out.shape)}")
        h_out, w_out = out.shape[-2:]
        out[0, :, h_out // 2, w_out // 2].sum().backward()
        total += x.grad[0].abs().sum(dim=0)
    return (total / trials).numpy()


def measure_receptive_field(model, input_shape, trials=4, seed=0):
    """Height and width of the input region the centre output unit depends on.

    Raises ``ValueError`` when that region touches the border of the input,
    because then the input is too small to show the whole receptive field.
    """
    rows, cols = np.nonzero(input_gradient_map(model, input_shape, trials, seed))
    if rows.size == 0:
        raise ValueError("measure_receptive_field: the centre unit does not depend on any "
                         "input pixel (all gradients are zero)")
    height, width = input_shape[1:]
    if rows.min() == 0 or cols.min() == 0 or rows.max() == height - 1 or cols.max() == width - 1:
        raise ValueError(f"measure_receptive_field: the receptive field reaches the border of "
                         f"the {height}x{width} input; use a larger input_shape")
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def pixels_read(model, input_shape, unit=None):
    """Boolean (H, W) map of the input pixels that an output unit reads.

    ``unit`` is an output position ``(row, col)`` (all output channels together); ``None``
    asks for the pixels that *any* output unit reads.  Unlike :func:`input_gradient_map`,
    which looks at random inputs, this is structural: a copy of the model with every
    convolution weight set to 1 and every bias to 0 sees an input of ones, so every path from
    a pixel to an output adds a positive amount to the gradient and none can cancel.  It is
    exact for stacks of convolutions with element-wise layers (ReLU) between them; a max
    pooling layer would still pass only one input per window.
    """
    probe = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for module in probe.modules():
            if isinstance(module, nn.Conv2d):
                module.weight.fill_(1.0)
                if module.bias is not None:
                    module.bias.zero_()
    x = torch.ones((1, *input_shape), dtype=torch.float64, requires_grad=True)
    out = probe(x)
    (out.sum() if unit is None else out[0, :, unit[0], unit[1]].sum()).backward()
    return (x.grad[0].sum(dim=0) > 0).numpy()
