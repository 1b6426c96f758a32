"""How much a *trained* classifier's answer changes when its input is moved,
rotated or re-lit.

The equivariance chapter measures untrained architectures; the
data-augmentation lab trains the same network with and without augmentation
and asks this module how invariant each result became.  Two numbers per
transformation, over a batch of images:

- the relative change of the class scores, ``||f(g(x)) - f(x)|| / ||f(x)||``
  (the chapter's :math:`E_\\text{inv}`), and
- the fraction of images whose predicted class changes.

Transformations act on pixel values scaled to 0..1, before normalisation, so
that a shift or a rotation brings in black background (0) as a real image's
border would; :class:`Normalized` then applies the model's own per-channel
normalisation.
"""
import torch
from torch import nn

from cnnbook.augment import rotate_by
from cnnbook.equivariance import relative_error, translate
from cnnbook.models import evaluating


class Normalized(nn.Module):
    """``model`` preceded by the per-channel standardisation it was trained with."""

    def __init__(self, model, mean, std):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x):
        return self.model((x - self.mean) / self.std)


def shift_right(pixels):
    """A transformation for :func:`output_changes`: move the content right."""
    return lambda x: translate(x, 0, pixels)


def rotate(degrees):
    """A transformation for :func:`output_changes`: turn counter-clockwise."""
    return lambda x: rotate_by(x, torch.full((x.shape[0],), float(degrees), device=x.device))


def brighten(offset):
    """A transformation for :func:`output_changes`: add ``offset`` to every pixel (0..1 scale)."""
    return lambda x: (x + offset).clamp(0, 1)


def output_changes(model, images, mean, std, transforms):
    """For each named transformation in ``transforms`` (name -> function of a
    batch), the relative change of ``model``'s class scores and the fraction of
    changed predictions, as a dict name -> (score change, prediction change).

    ``images`` are uint8 (N, C, H, W); the model runs in eval mode.
    """
    device = next(model.parameters()).device
    net = Normalized(model, mean, std).to(device)
    x = images.to(device).float() / 255
    with evaluating(net):
        scores = net(x).float()
        changes = {}
        for name, transform in transforms.items():
            moved = net(transform(x)).float()
            flipped = (moved.argmax(1) != scores.argmax(1)).float().mean()
            changes[name] = (relative_error(moved, scores), float(flipped))
    return changes
