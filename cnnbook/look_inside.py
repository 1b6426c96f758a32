"""Looking inside a trained network: the tools of the chapter "Looking inside a trained
network" (``book/chapters/look_inside.md``).

Each function answers one question about a trained classifier, on a batch of images
``(N, C, H, W)``, and each answer has limits the chapter measures:

- :func:`first_layer_filters`: what does the first layer look for? Its weights,
  ``(F, C, k, k)``, can be drawn as images because they live in pixel space. Deeper filters
  cannot: they weigh feature maps, not pixels.
- :func:`feature_maps`: what does a layer output? Its activations, caught with a forward hook
  while the whole model runs.
- :func:`shift_error`: do those maps move with the input? The relative error between the
  maps of a shifted image and the shifted maps, away from the border
  (:func:`cnnbook.equivariance.equivariance_error`, the measure of the equivariance
  chapter). It is exact for stride 1 and for shifts that are multiples of the total stride,
  and only then.
- :func:`occlusion_map`: which parts of the image does the score need? Grey out (or black out)
  a square patch around every pixel in turn and record how much the target class's score
  drops. The answer depends on the patch size and on the fill value, because an occluded
  image is an image the network never saw.
- :func:`input_gradient` and :func:`saliency_map`: where would a small change of a pixel change
  the score most? The gradient of the target score with respect to the input (Simonyan et al.,
  2014). It is local (it says nothing about large changes), noisy, and not an explanation of
  why the network decided.
- :func:`centre_of_mass`: where is a map's mass? The intensity-weighted mean position
  ``(row, column)``, used to check that a saliency map moves with the object.

The score of class ``c`` is the model's raw output (logit) ``c``, not its softmax
probability: a confident network's probability hardly moves under small changes, its logit
does.
"""

import torch
from torch import nn

from cnnbook.equivariance import equivariance_error, images_losing_ink
from cnnbook.models import evaluating, forward_hooks


# --- filters and feature maps --------------------------------------------------

def first_layer_filters(model):
    """The weights ``(F, C, k, k)`` of the first ``nn.Conv2d`` of ``model`` (a detached copy)."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            return module.weight.detach().clone()
    raise ValueError(f"first_layer_filters: {type(model).__name__} has no nn.Conv2d layer")


def feature_maps(model, layer, images):
    """The output of ``layer`` (a submodule of ``model``) while ``model`` runs on ``images``.

    The whole model runs, in eval mode and without gradients, so the maps are exactly the
    ones its later layers receive.
    """
    if not any(module is layer for module in model.modules()):
        raise ValueError(f"feature_maps: layer {type(layer).__name__} is not a part of "
                         f"{type(model).__name__}")
    caught = []
    with forward_hooks([layer], lambda _module, _inputs, out: caught.append(out.detach())), \
            evaluating(model) as device:
        model(images.to(device))
    return caught[0].cpu()


def shift_error(f, images, shift, stride=1, margin=None):
    """Relative error between ``f(images shifted by (shift, shift))`` and ``f(images)``
    shifted by ``shift / stride``.

    ``margin=None`` compares whole maps, including the strip the shift uncovers (where the
    shifted map has nothing to show); an integer compares only the map pixels at least
    ``margin`` from every border before and after the shift, i.e. away from the border.

    ``stride`` is the total stride of ``f``: its maps move by one pixel when the input moves
    by ``stride``. A shift that is not a multiple of it cannot be represented on the map's
    grid; the error is then the smaller of the two neighbouring whole shifts.
    The images must have room to move: a shift that pushes ink out of the frame compares two
    different images, so it is refused.
    """
    lost = images_losing_ink(images, shift, shift)
    if lost:
        raise ValueError(f"shift_error: shifting by ({shift}, {shift}) pushes ink out of the "
                         f"frame in {lost} of {len(images)} images; place them in a larger "
                         "frame (cnnbook.equivariance.place_at) or shift less")
    return equivariance_error(f, images, shift, shift, stride=stride, margin=margin)


# --- occlusion ---------------------------------------------------------------

def _patch_bounds(centre, patch, length):
    """[start, stop) of a ``patch``-pixel window centred on ``centre``, clipped to the frame."""
    start = centre - patch // 2
    return max(start, 0), min(start + patch, length)


def _occluded_copies(image, pixels, patch, fill):
    """One copy of ``image (C, H, W)`` per pixel ``(row, col)`` of ``pixels``, with the
    patch centred on that pixel set to ``fill``."""
    height, width = image.shape[-2:]
    copies = image.expand(len(pixels), *image.shape).clone()
    for n, (row, col) in enumerate(pixels):
        top, bottom = _patch_bounds(row, patch, height)
        left, right = _patch_bounds(col, patch, width)
        copies[n, :, top:bottom, left:right] = fill
    return copies


def occlusion_map(model, image, target, patch, fill=0.0, batch_size=256):
    """Drop of class ``target``'s score when a ``patch`` x ``patch`` square centred on each
    pixel of ``image (C, H, W)`` is set to ``fill``: an ``(H, W)`` map.

    Positive where covering the image lowers the score (the score needed what was there),
    negative where it raises it. The squares are clipped at the border, and for an even
    ``patch`` the "centre" is the pixel just below and right of the square's middle.
    """
    if image.dim() != 3 or patch < 1:
        raise ValueError(f"occlusion_map: image must be (C, H, W) and patch >= 1, got shape "
                         f"{tuple(image.shape)} and patch {patch}")
    height, width = image.shape[-2:]
    pixels = [(row, col) for row in range(height) for col in range(width)]
    scores = []
    with evaluating(model) as device:
        reference = model(image[None].to(device))[0, target]
        for start in range(0, len(pixels), batch_size):
            copies = _occluded_copies(image, pixels[start:start + batch_size], patch, fill)
            scores.append(model(copies.to(device))[:, target])
    return (reference - torch.cat(scores)).cpu().view(height, width)


# --- gradients ---------------------------------------------------------------

def input_gradient(model, images, targets):
    """Gradient of each image's ``targets[n]`` score with respect to that image, ``(N, C, H, W)``.

    The images of a batch do not interact in eval mode, so the gradient of the summed
    target scores is, image by image, the gradient of its own score. Computed in eval mode;
    the model's parameters get no gradient.
    """
    targets = torch.as_tensor(targets).reshape(-1)
    if len(targets) != len(images):
        raise ValueError(f"input_gradient: {len(images)} images but {len(targets)} targets")
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        x = images.detach().to(device).requires_grad_(True)
        scores = model(x)
        picked = scores.gather(1, targets.to(device)[:, None]).sum()
        (gradient,) = torch.autograd.grad(picked, x)
    finally:
        model.train(was_training)
    return gradient.cpu()


def saliency_map(model, images, targets):
    """Plain-gradient saliency, ``(N, H, W)``: the largest ``|gradient|`` over the channels
    at each pixel (Simonyan et al., 2014). It shows how strongly the score reacts to a small
    change of each pixel, not whether the pixel is evidence for or against the class."""
    return input_gradient(model, images, targets).abs().amax(dim=1)


# --- centre of mass ------------------------------------------------------------

def centre_of_mass(maps):
    """Intensity-weighted mean ``(row, column)`` of non-negative ``maps (..., H, W)``: ``(..., 2)``.

    A map with all its mass on one pixel has that pixel as its centre; a uniform map has the
    middle of the frame, ``((H - 1) / 2, (W - 1) / 2)``.
    """
    maps = torch.as_tensor(maps, dtype=torch.float64)
    if maps.dim() < 2 or (maps < 0).any():
        raise ValueError("centre_of_mass: maps must be non-negative (..., H, W), got "
                         f"shape {tuple(maps.shape)} with minimum {float(maps.min()):g}")
    mass = maps.sum(dim=(-2, -1))
    if (mass == 0).any():
        raise ValueError("centre_of_mass: a map with no mass has no centre")
    rows = torch.arange(maps.shape[-2], dtype=torch.float64)
    cols = torch.arange(maps.shape[-1], dtype=torch.float64)
    row = (maps.sum(dim=-1) * rows).sum(dim=-1) / mass
    col = (maps.sum(dim=-2) * cols).sum(dim=-1) / mass
    return torch.stack([row, col], dim=-1)
