"""PyTorch models used by the chapters and the labs.

The first two are the seed notes' CNN-vs-MLP pair, kept architecturally
identical to the notes (so the numbers in the book refer to the same networks)
but with the input size made a parameter instead of a hard-coded 32x32.

It also holds the two helpers that run a model once to inspect it,
:func:`evaluating` (eval mode, no gradients, mode restored) and
:func:`forward_hooks`, which :mod:`cnnbook.costs`, :mod:`cnnbook.training` and
:mod:`cnnbook.equivariance` use too.
"""
import contextlib
import math

import torch
from torch import nn
import torch.nn.functional as F


class ThreeLayerConvNet(nn.Module):
    """conv5x5 - relu - conv3x3 - relu - linear, 'same' padding throughout.

    Both convolutions keep the spatial size (pad 2 for 5x5, pad 1 for 3x3), so
    the classifier sees ``channel_2 * image_size**2`` features.
    """

    def __init__(self, in_channel, channel_1, channel_2, num_classes, image_size=32):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channel, channel_1, 5, stride=1, padding=2)
        self.conv2 = nn.Conv2d(channel_1, channel_2, 3, stride=1, padding=1)
        self.classifier = nn.Linear(channel_2 * image_size * image_size, num_classes)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        return self.classifier(x.flatten(start_dim=1))


class ThreeLayerMLP(nn.Module):
    """linear - relu - linear - relu - linear on the flattened image."""

    def __init__(self, input_size, hidden_size, num_classes):
        super().__init__()
        self.fc1 = nn.Linear(input_size, hidden_size)
        self.fc2 = nn.Linear(hidden_size, hidden_size)
        self.classifier = nn.Linear(hidden_size, num_classes)

    def forward(self, x):
        x = F.relu(self.fc1(x.flatten(start_dim=1)))
        x = F.relu(self.fc2(x))
        return self.classifier(x)


# ---------------------------------------------------------------------------
# The seed's "network improvements" model, corrected (KNOWN_ISSUES 3, 4, 12):
# initialisations carry their right names, the network is described as what
# it is (a plain conv stack whose channels widen then narrow while pooling
# shrinks the map: no upsampling, no skip connection, so nothing like a
# U-Net), it ends in 10 classes, and the classifier's input size is computed
# from the image size instead of being fixed at 1024.
# ---------------------------------------------------------------------------

INIT_SCHEMES = ("he", "glorot", "lecun", "pytorch")


def init_std(scheme, fan_in, fan_out):
    """Standard deviation of the zero-mean normal initialisation ``scheme``.

    He (Kaiming) sqrt(2 / fan_in) keeps the activations' second moment through
    ReLU layers; Glorot (Xavier) sqrt(2 / (fan_in + fan_out)) balances the
    forward and backward pass for linear/tanh units; LeCun sqrt(1 / fan_in)
    keeps the variance of linear units (the seed called this one "xavier").
    """
    stds = {"he": math.sqrt(2.0 / fan_in),
            "glorot": math.sqrt(2.0 / (fan_in + fan_out)),
            "lecun": math.sqrt(1.0 / fan_in)}
    if scheme not in stds:
        raise ValueError(f"unknown initialisation {scheme!r}; choose one of {INIT_SCHEMES[:3]}")
    return stds[scheme]


def fans(layer):
    """(fan_in, fan_out) of a Linear or Conv2d layer, as PyTorch counts them."""
    return nn.init._calculate_fan_in_and_fan_out(layer.weight)


def init_weights_(model, scheme):
    """Re-initialise every Conv2d and Linear weight of ``model`` in place.

    Weights get N(0, init_std(scheme)^2) and biases zero; "pytorch" keeps
    PyTorch's default (uniform) initialisation untouched.
    """
    if scheme == "pytorch":
        return model
    for layer in model.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            with torch.no_grad():
                layer.weight.normal_(0.0, init_std(scheme, *fans(layer)))
                if layer.bias is not None:
                    layer.bias.zero_()
    return model


class ConvBlock(nn.Module):
    """conv -> (spatial batch norm) -> ReLU -> (max pool by ``pool``)."""

    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, padding=1,
                 pool=0, batchnorm=False):
        super().__init__()
        layers = [nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding,
                            bias=not batchnorm)]  # batch norm's shift replaces the bias
        if batchnorm:
            layers.append(nn.BatchNorm2d(out_channels))
        layers.append(nn.ReLU(inplace=True))
        if pool > 1:
            layers.append(nn.MaxPool2d(pool))
        self.block = nn.Sequential(*layers)
        self.kernel_size, self.stride, self.padding, self.pool = kernel_size, stride, padding, pool

    def output_size(self, size):
        """Spatial size after this block for an input of ``size``."""
        size = (size + 2 * self.padding - self.kernel_size) // self.stride + 1
        return size // self.pool if self.pool > 1 else size

    def forward(self, x):
        return self.block(x)


class AffineReluBlock(nn.Module):
    """linear -> ReLU, with the linear layer's weights drawn by ``init``."""

    def __init__(self, in_features, out_features, init="he"):
        super().__init__()
        self.block = nn.Sequential(nn.Linear(in_features, out_features), nn.ReLU(inplace=True))
        init_weights_(self.block, init)

    def forward(self, x):
        return self.block(x)


class ResidualBlock(nn.Module):
    """``x + body(x)``, with ``body`` two ConvBlocks that keep the channel count and size.

    The building block of ResNets and of the "ResNet-9" of the fast CIFAR-10
    records (He et al., 2016; Page, 2018).  Because the block adds its input to
    its output, the gradient reaching ``x`` is the incoming gradient *plus* what
    flows back through ``body``.  Unlike He et al.'s basic block, ``body`` ends in
    a ReLU, so zeroing its last batch-norm gamma would freeze the branch (the
    ReLU's gradient at 0 is 0); the chapter "From layers to networks" measures
    the basic block of :mod:`cnnbook.residual` instead.
    """

    def __init__(self, channels, batchnorm=False):
        super().__init__()
        self.body = nn.Sequential(ConvBlock(channels, channels, batchnorm=batchnorm),
                                  ConvBlock(channels, channels, batchnorm=batchnorm))

    def forward(self, x):
        return x + self.body(x)


class ConvBlockNet(nn.Module):
    """A stack of ConvBlocks, then AffineReluBlocks, then a linear classifier.

    The defaults are the seed's network: channels 32, 64, 128, 64 with 3x3
    convolutions and 2x2 max pooling after the last three blocks, then
    fully connected layers of 256 and 128 units.  ``width`` scales every
    channel count (quick runs on a CPU use a fraction of it); ``init`` is
    applied to every conv and linear layer, so the initialisation ablation
    compares whole networks.
    """

    def __init__(self, in_channels=3, num_classes=10, image_size=32,
                 channels=(32, 64, 128, 64), pools=(0, 2, 2, 2), hidden=(256, 128),
                 batchnorm=False, dropout=0.0, init="he", width=1.0):
        super().__init__()
        if len(channels) != len(pools):
            raise ValueError(f"{len(channels)} channel counts but {len(pools)} pooling factors")
        channels = [max(1, round(c * width)) for c in channels]
        blocks, size = [], image_size
        for c_in, c_out, pool in zip([in_channels, *channels[:-1]], channels, pools):
            blocks.append(ConvBlock(c_in, c_out, pool=pool, batchnorm=batchnorm))
            size = blocks[-1].output_size(size)
        if size < 1:
            raise ValueError(f"{image_size}x{image_size} images shrink to nothing after "
                             f"{len(pools)} blocks with pooling {pools}")
        features = [channels[-1] * size * size, *hidden]
        fc = [AffineReluBlock(a, b, init) for a, b in zip(features[:-1], features[1:])]
        if dropout > 0:
            fc.append(nn.Dropout(dropout))
        self.conv_layers = nn.Sequential(*blocks)
        self.fc_layers = nn.Sequential(*fc)
        self.classifier = nn.Linear(features[-1], num_classes)
        init_weights_(self.conv_layers, init)
        init_weights_(self.classifier, init)

    def forward(self, x):
        x = self.conv_layers(x)
        return self.classifier(self.fc_layers(x.flatten(start_dim=1)))


def mlp_hidden_for(n_params, input_size, num_classes):
    """Hidden width h of a ThreeLayerMLP whose parameter count is closest to ``n_params``.

    The count is input*h + h + h*h + h + h*classes + classes, a quadratic in h.
    """
    b = input_size + 2 + num_classes
    root = (-b + math.sqrt(b * b + 4 * (n_params - num_classes))) / 2

    def count(h):
        return h * b + h * h + num_classes

    candidates = [max(1, math.floor(root)), max(1, math.ceil(root))]
    return min(candidates, key=lambda h: abs(count(h) - n_params))


@contextlib.contextmanager
def evaluating(model):
    """Run ``model`` in eval mode and without gradients, then restore its mode.

    Yields the device of the model's parameters (the CPU if it has none), for
    the input the block builds.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            first = next(model.parameters(), None)
            yield first.device if first is not None else torch.device("cpu")
    finally:
        model.train(was_training)


@contextlib.contextmanager
def forward_hooks(modules, hook):
    """``hook(module, inputs, output)`` registered on each of ``modules`` while the block runs."""
    handles = [m.register_forward_hook(hook) for m in modules]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def activation_stds(model, x):
    """Standard deviation of the output of each ConvBlock and AffineReluBlock
    of ``model`` on the batch ``x``, in order (a forward pass in eval mode)."""
    stds = []
    blocks = [m for m in model.modules() if isinstance(m, (ConvBlock, AffineReluBlock))]
    with forward_hooks(blocks, lambda _m, _i, out: stds.append(out.float().std().item())), \
            evaluating(model):
        model(x)
    return stds


def describe_blocks(model, input_shape):
    """One row per ConvBlock / AffineReluBlock / classifier of a ConvBlockNet:
    its name, the shape of its output for one input of ``input_shape`` (C, H, W)
    and its number of parameters."""
    names = {block: f"conv block {i + 1}" for i, block in enumerate(model.conv_layers)}
    names.update((block, f"fc block {i + 1}") for i, block in enumerate(model.fc_layers)
                 if isinstance(block, AffineReluBlock))
    names[model.classifier] = "classifier"
    rows = []

    def record(block, _inputs, out):
        rows.append({"block": names[block], "output shape": tuple(out.shape[1:]),
                     "parameters": sum(p.numel() for p in block.parameters())})

    with forward_hooks(names, record), evaluating(model) as device:
        model(torch.zeros(1, *input_shape, device=device))
    return rows
