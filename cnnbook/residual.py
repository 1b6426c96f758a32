"""Plain and residual stacks, measured at initialisation and after a short training.

This is the experiment of the section "Going deeper: the residual connection" of the
chapter "From layers to networks" (``book/chapters/layers_to_networks.md``).

A plain block and a residual block differ by one addition, nothing else (He et al.,
*Deep Residual Learning for Image Recognition*, 2016, their "basic block")::

    branch(x) = bn(conv(relu(bn(conv(x)))))     (bn left out when there is no batch norm)
    plain:      y = relu(branch(x))
    residual:   y = relu(x + scale * branch(x))

Three things decide what happens to a gradient that travels back through a stack of
such blocks at initialisation:

* **The initialisation.**  PyTorch's default draws a convolution's weights from
  U(-1/sqrt(fan_in), 1/sqrt(fan_in)), variance 1/(3 fan_in).  A ReLU layer keeps its
  signal's second moment only at variance 2/fan_in (He init), so the default loses a
  factor 6 in variance, sqrt(6) in norm, per convolution and ReLU: a plain stack's
  gradient vanishes exponentially with depth.  He init keeps it of order one.
* **The shortcut.**  A residual block adds its branch to its input.  Under He init the
  branch has about the input's variance, so without normalisation every block roughly
  doubles the variance and the gradient *explodes*, by about sqrt(2) per block.
* **The cure.**  Scaling each branch by 1/sqrt(blocks), or zero-initialising the last
  batch-norm scale (gamma) of each branch (Goyal et al., 2017), makes every block start
  as (nearly) the identity, and the gradient passes through unchanged.

:func:`gradient_ratios` measures the ratio ||dL/dx|| / ||dL/dy|| of a stack's input and
output gradients for every variant and depth; :func:`train_classifier` trains a small
network built around a stack and reports how well it fits its training images, which is
what the "degradation problem" is about: a deeper plain network fitting its own training
data *worse* than a shallower one, an optimisation difficulty rather than a lack of
gradient (He et al.).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cnnbook.models import init_weights_

CURES = (None, "scaled branch", "zero last gamma")


@dataclass(frozen=True)
class Variant:
    """One kind of stack: shortcut or not, initialisation, batch norm, cure.

    ``init`` is a scheme of :func:`cnnbook.models.init_weights_` ("he", or "pytorch"
    for PyTorch's default); ``cure`` is one of :data:`CURES`.
    """
    shortcut: bool
    init: str = "he"
    batchnorm: bool = False
    cure: str | None = None

    def __post_init__(self):
        if self.init not in ("he", "pytorch"):
            raise ValueError(f"Variant.init must be 'he' or 'pytorch', got {self.init!r}")
        if self.cure not in CURES:
            raise ValueError(f"Variant.cure must be one of {CURES}, got {self.cure!r}")
        if self.cure is not None and not self.shortcut:
            raise ValueError(f"Variant.cure={self.cure!r} needs shortcut=True: a plain block "
                             "has no branch to scale or switch off")
        if self.cure == "zero last gamma" and not self.batchnorm:
            raise ValueError("Variant.cure='zero last gamma' needs batchnorm=True: "
                             "without batch norm there is no gamma to zero")

    @property
    def label(self):
        """A short name for tables: 'residual, He, batch norm, zero last gamma'."""
        parts = ["residual" if self.shortcut else "plain",
                 "He" if self.init == "he" else "PyTorch default"]
        parts += ["batch norm"] if self.batchnorm else []
        cure = {"scaled branch": "branch x 1/sqrt(blocks)", "zero last gamma": "last gamma = 0"}
        parts += [cure[self.cure]] if self.cure else []
        return ", ".join(parts)


class Block(nn.Module):
    """``relu(branch(x))`` (plain) or ``relu(x + scale * branch(x))`` (residual)."""

    def __init__(self, channels, batchnorm, shortcut, scale=1.0):
        super().__init__()

        def conv_norm():  # batch norm's shift replaces the convolution's bias
            conv = nn.Conv2d(channels, channels, 3, padding=1, bias=not batchnorm)
            return [conv, nn.BatchNorm2d(channels)] if batchnorm else [conv]

        self.branch = nn.Sequential(*conv_norm(), nn.ReLU(), *conv_norm())
        self.shortcut, self.scale = shortcut, scale

    def forward(self, x):
        out = self.scale * self.branch(x)
        return torch.relu(x + out if self.shortcut else out)


def make_stack(variant, blocks, channels):
    """``blocks`` blocks of ``variant``, initialised as it says."""
    scale = blocks ** -0.5 if variant.cure == "scaled branch" else 1.0
    stack = nn.Sequential(*[Block(channels, variant.batchnorm, variant.shortcut, scale)
                            for _ in range(blocks)])
    init_weights_(stack, variant.init)
    if variant.cure == "zero last gamma":
        with torch.no_grad():
            for block in stack:
                block.branch[-1].weight.zero_()   # the last batch norm's gamma
    return stack


def gradient_ratio(stack, x, upstream):
    """||dL/dx|| / ||dL/dy|| for y = stack(x) and dL/dy = ``upstream``."""
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(stack(x), x, upstream)
    return float(grad.norm() / upstream.norm())


def gradient_ratios(variants, depths, channels=8, size=8, batch=4, draws=3, seed=0):
    """{(variant label, depth): median gradient ratio over ``draws`` fresh stacks}.

    Runs in float64 so that a ratio of 1e-25 is a number, not an underflow.  The input
    is non-negative, as a stack's input is inside a network (it follows a ReLU), but has no
    exact zeros: the ReLU after each addition has gradient 0 at 0, so zeros in the input
    would block the shortcut's gradient in the same pixels at every depth.  Batch norm runs
    in training mode (batch statistics), as it does at the first step.
    """
    ratios = {}
    for variant in variants:
        # every variant starts from the same seed: the same weights before any cure, the same
        # inputs and upstream gradients, so two variants differ only by their design
        generator = torch.Generator().manual_seed(seed)
        for depth in depths:
            values = []
            for _ in range(draws):
                torch.manual_seed(int(torch.randint(2**31, (1,), generator=generator)))
                stack = make_stack(variant, depth, channels).double()
                x = torch.randn(batch, channels, size, size, generator=generator,
                                dtype=torch.float64).abs()
                upstream = torch.randn(x.shape, generator=generator, dtype=torch.float64)
                values.append(gradient_ratio(stack, x, upstream))
            ratios[(variant.label, depth)] = statistics.median(values)
    return ratios


def default_init_variance(channels=64, kernel=3):
    """fan_in x the variance of PyTorch's default Conv2d weights (1/3 in theory)."""
    weight = nn.Conv2d(channels, channels, kernel).weight.detach()
    return float(weight.var() * channels * kernel * kernel)


def format_ratio(ratio):
    """A gradient ratio for a sentence, to two significant digits: 0.37, 240, 22,000, 8.2e-15."""
    if ratio >= 10:
        return f"{float(f'{ratio:.2g}'):,.0f}"
    return f"{ratio:.2g}" if ratio >= 0.01 else f"{ratio:.1e}"


def make_classifier(variant, blocks, channels, in_channels, image_size, classes):
    """stem conv (+ bn) + relu, a stack of ``blocks``, then a linear layer on the flat map."""
    stem = [nn.Conv2d(in_channels, channels, 3, padding=1, bias=not variant.batchnorm)]
    stem += [nn.BatchNorm2d(channels)] if variant.batchnorm else []
    head = nn.Linear(channels * image_size * image_size, classes)
    init_weights_(nn.Sequential(*stem, head), variant.init)
    return nn.Sequential(*stem, nn.ReLU(), make_stack(variant, blocks, channels),
                         nn.Flatten(), head)


@dataclass(frozen=True)
class Fit:
    """How well a trained classifier fits its training images, and held-out ones."""
    train_accuracy: float
    train_loss: float
    test_accuracy: float


def train_classifier(model, train, test, steps, batch_size=64, lr=0.05, seed=0):
    """SGD with momentum 0.9 for ``steps`` mini-batches of ``train`` = (images, labels).

    Returns the :class:`Fit` measured in eval mode after the last step.
    """
    images, labels = train
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    model.train()
    for step in range(steps):
        if step % (len(labels) // batch_size) == 0:     # a new epoch: a new order
            order = torch.randperm(len(labels), generator=generator)
        start = (step % (len(labels) // batch_size)) * batch_size
        pick = order[start:start + batch_size]
        loss = F.cross_entropy(model(images[pick]), labels[pick])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return measure_fit(model, train, test)


def measure_fit(model, train, test):
    """Training accuracy and loss, and held-out accuracy, in eval mode."""
    model.eval()
    with torch.no_grad():
        scores = model(train[0])
        test_scores = model(test[0])
    return Fit(train_accuracy=float((scores.argmax(1) == train[1]).float().mean()),
               train_loss=float(F.cross_entropy(scores, train[1])),
               test_accuracy=float((test_scores.argmax(1) == test[1]).float().mean()))


def shrink_images(images, size, mean=None, std=None):
    """uint8 (N, C, H, W) images averaged down to size x size, then standardised.

    ``mean`` and ``std`` default to the batch's own (pass the training set's for a test set).
    """
    x = F.adaptive_avg_pool2d(images.float() / 255, size)
    mean = x.mean() if mean is None else mean
    std = x.std() if std is None else std
    return (x - mean) / std, mean, std


def train_variants(variants, depths, train, test, steps, channels=8, seed=0, **options):
    """{(variant label, depth): Fit} for a classifier of every variant and depth.

    Every run starts from the same seed, so two variants differ only by their design.
    """
    classes = int(train[1].max()) + 1
    in_channels, image_size = train[0].shape[1], train[0].shape[-1]
    fits = {}
    for variant in variants:
        for depth in depths:
            torch.manual_seed(seed)
            model = make_classifier(variant, depth, channels, in_channels, image_size, classes)
            fits[(variant.label, depth)] = train_classifier(model, train, test, steps,
                                                            seed=seed, **options)
    return fits


# The page trains one run per network.  Tried with seeds 0, 1 and 2 (1,000 digits, 100 steps),
# the 4-block plain network's training accuracy spanned 88.9% to 95.5%: a gap of five points
# or less between two single runs is no evidence of a difference.
SAME_FIT_MARGIN = 0.05


def depth_effect(shallow, deep, margin=SAME_FIT_MARGIN):
    """'worse', 'about as well' or 'better': how the deep network fits, next to the shallow."""
    gap = deep.train_accuracy - shallow.train_accuracy
    if abs(gap) <= margin:
        return "about as well"
    return "better" if gap > 0 else "worse"


def depth_sentence(name, shallow_blocks, deep_blocks, shallow, deep):
    """One sentence comparing the training fit of a network at two depths."""
    effect = depth_effect(shallow, deep)
    verdict = {"worse": "depth made it worse", "better": "depth helped",
               "about as well": "depth changed little"}[effect]
    return (f"the {name} network fits {deep.train_accuracy:.1%} of its training images with "
            f"{deep_blocks} blocks, against {shallow.train_accuracy:.1%} with {shallow_blocks} "
            f"blocks: {verdict}.")


def degradation_verdict(plain_effect, residual_effect):
    """What the two depth effects say about the degradation problem, in one sentence.

    ``residual_effect`` is the depth effect of the residual network with its cure.
    """
    if plain_effect == "worse" and residual_effect != "worse":
        return ("The deeper plain network is worse at fitting its own training images, which "
                "overfitting cannot explain, while the deeper residual network that starts as "
                "the identity is not: this is the degradation problem, and the shortcut with "
                "its cure removes it here.")
    if plain_effect == "worse":
        return ("Both deeper networks fit their training images worse than the shallower ones "
                "on this budget: the degradation problem shows, and the shortcut did not remove "
                "it in this run.")
    return ("On this budget the deeper plain network fits its training images no worse than "
            "the shallower one: the degradation problem does not show in this run.")


def describe_budget(data_name, n_train, n_test, image_size, steps, batch_size, lr, channels, seed):
    """The data and the training budget of the experiment, as a clause for a sentence."""
    epochs = steps * batch_size / n_train
    return (f"{n_train:,} {data_name} averaged down to {image_size}x{image_size} pixels, "
            f"{steps} steps of SGD (momentum 0.9, learning rate {lr:g}, batches of {batch_size}, "
            f"{epochs:.1f} epochs), {channels} channels per convolution, one run per network "
            f"(seed {seed}), held-out accuracy on {n_test:,} test digits")
