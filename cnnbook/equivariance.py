"""Measuring equivariance and invariance, and the networks of the shifted-MNIST lab.

A map ``f`` is *equivariant* to a transformation when transforming the input
transforms the output in a matching way, ``f(g(x)) = g'(f(x))``; it is
*invariant* when the output does not change at all, ``f(g(x)) = f(x)``.  The
functions here measure how far a network is from either, as a relative error
(0 means exact), so the book can show where the textbook statement holds and
where it breaks: at borders, with strides and pooling, for rotations and
rescalings.

Images are torch tensors whose last two axes are height and width; a shift
``(dy, dx)`` moves content down by ``dy`` and right by ``dx`` pixels.
"""
import copy
import math

import torch
from torch import nn
import torch.nn.functional as F

SHIFT_MODES = ("zero", "circular")


# --- transformations ---------------------------------------------------------

def _axis_slices(shift, length):
    """Destination and source slices that move a 1-D axis by ``shift`` pixels."""
    if shift >= 0:
        return slice(shift, length), slice(0, length - shift)
    return slice(0, length + shift), slice(-shift, length)


def translate(x, dy, dx, mode="zero"):
    """``x`` moved by ``(dy, dx)`` pixels along its last two axes.

    ``mode="zero"`` fills the uncovered strip with zeros and drops what leaves
    the frame; ``mode="circular"`` wraps it around to the other side.
    """
    if mode not in SHIFT_MODES:
        raise ValueError(f"translate: mode must be one of {SHIFT_MODES}, got {mode!r}")
    if x.dim() < 2:
        raise ValueError(f"translate: x needs at least two (spatial) axes, got shape {tuple(x.shape)}")
    dy, dx = int(dy), int(dx)
    if mode == "circular":
        return torch.roll(x, shifts=(dy, dx), dims=(-2, -1))
    height, width = x.shape[-2:]
    out = torch.zeros_like(x)
    if abs(dy) >= height or abs(dx) >= width:
        return out
    (dst_y, src_y), (dst_x, src_x) = _axis_slices(dy, height), _axis_slices(dx, width)
    out[..., dst_y, dst_x] = x[..., src_y, src_x]
    return out


def relative_error(actual, expected):
    """``||actual - expected|| / ||expected||`` in float64 (0 when both are zero)."""
    if actual.shape != expected.shape:
        raise ValueError(f"relative_error: shapes differ, {tuple(actual.shape)} vs {tuple(expected.shape)}")
    actual, expected = actual.double(), expected.double()
    diff = torch.linalg.vector_norm(actual - expected)
    scale = torch.linalg.vector_norm(expected)
    if scale == 0:
        return float(diff)
    return float(diff / scale)


def _evaluate(f, x):
    with torch.no_grad():
        return f(x)


def transform_error(f, x, g_in, g_out):
    """How far ``f`` is from equivariance, ``f(g_in(x))`` against ``g_out(f(x))``.

    ``g_in`` acts on inputs and ``g_out`` on outputs, e.g. a 90 degree rotation
    of both; the result is their relative difference (0 = equivariant).
    """
    return relative_error(_evaluate(f, g_in(x)), g_out(_evaluate(f, x)))


def rotate90(x, turns=1):
    """``x`` rotated by ``turns`` quarter turns (exact: no interpolation)."""
    return torch.rot90(x, turns, dims=(-2, -1))


def upscale(x, factor=2):
    """``x`` enlarged ``factor`` times by repeating pixels (nearest neighbour)."""
    return F.interpolate(x, scale_factor=factor, mode="nearest")


# --- translations ------------------------------------------------------------

def interior_mask(hw, dy, dx, margin):
    """Pixels ``p`` of an ``hw`` map for which ``p`` and ``p - (dy, dx)`` are both
    at least ``margin`` pixels from every border.

    These are the output positions whose value cannot have been affected by the
    border, neither before nor after the shift.
    """
    rows = torch.arange(hw[0])
    cols = torch.arange(hw[1])

    def inside(coord, length):
        return (coord >= margin) & (coord < length - margin)

    row_ok = inside(rows, hw[0]) & inside(rows - dy, hw[0])
    col_ok = inside(cols, hw[1]) & inside(cols - dx, hw[1])
    return row_ok[:, None] & col_ok[None, :]


def _output_shifts(shift, stride):
    """Integer output shifts that could match an input shift of ``shift`` pixels."""
    return sorted({math.floor(shift / stride), math.ceil(shift / stride)})


def equivariance_error(f, x, dy, dx, mode="zero", stride=1, margin=None):
    """Relative error between ``f(shift(x))`` and ``shift'(f(x))``.

    - ``mode``: how the shift treats the frame border, ``"zero"`` or ``"circular"``.
    - ``stride``: the total stride of ``f``; the output is shifted by
      ``(dy, dx) / stride``.  When that is not a whole number of pixels the
      neighbouring whole shifts are all tried and the smallest error is
      returned, so a large error cannot be blamed on a badly chosen output shift.
    - ``margin``: ``None`` compares whole maps; an integer compares only the
      pixels given by :func:`interior_mask`, i.e. away from the border.
    """
    fx = _evaluate(f, x)
    fgx = _evaluate(f, translate(x, dy, dx, mode))
    if fx.dim() < 2 or fx.shape != fgx.shape:
        raise ValueError("equivariance_error: f must map images to feature maps of a fixed "
                         f"shape, got {tuple(fx.shape)} and {tuple(fgx.shape)}")
    errors = []
    for out_dy in _output_shifts(dy, stride):
        for out_dx in _output_shifts(dx, stride):
            expected = translate(fx, out_dy, out_dx, mode)
            if margin is None:
                errors.append(relative_error(fgx, expected))
            else:
                keep = interior_mask(fx.shape[-2:], out_dy, out_dx, margin)
                if not keep.any():
                    raise ValueError(f"equivariance_error: margin {margin} leaves no pixel to "
                                     f"compare in a {tuple(fx.shape[-2:])} map shifted by "
                                     f"({out_dy}, {out_dx})")
                errors.append(relative_error(fgx[..., keep], expected[..., keep]))
    return min(errors)


def with_padding_mode(model, mode):
    """A copy of ``model`` whose convolutions pad with ``mode`` ("zeros" or "circular").

    The weights are copied too, so the two models differ only at the border.
    """
    if mode not in ("zeros", "circular"):
        raise ValueError(f"with_padding_mode: mode must be 'zeros' or 'circular', got {mode!r}")
    clone = copy.deepcopy(model)
    for module in clone.modules():
        if isinstance(module, nn.Conv2d):
            module.padding_mode = mode
    return clone


def invariance_error(f, x, dy, dx, mode="zero"):
    """Relative change of ``f``'s output when the input is shifted by ``(dy, dx)``."""
    return relative_error(_evaluate(f, translate(x, dy, dx, mode)), _evaluate(f, x))


# --- the shifted-MNIST lab ---------------------------------------------------

def frame_offsets(positions=7, step=4):
    """The ``positions**2`` top-left corners ``(dy, dx)`` of a grid, row by row."""
    if positions < 1 or step < 1:
        raise ValueError(f"frame_offsets: positions and step must be positive, got {positions}, {step}")
    return [(step * r, step * c) for r in range(positions) for c in range(positions)]


def place_at(images, frame, dy, dx):
    """``images (N, C, h, w)`` pasted into an empty ``frame`` x ``frame`` canvas at ``(dy, dx)``."""
    if images.dim() != 4:
        raise ValueError(f"place_at: images must be (N, C, h, w), got {tuple(images.shape)}")
    n, c, h, w = images.shape
    if dy < 0 or dx < 0 or dy + h > frame or dx + w > frame:
        raise ValueError(f"place_at: {h}x{w} images at offset ({dy}, {dx}) do not fit in a "
                         f"{frame}x{frame} frame")
    canvas = images.new_zeros((n, c, frame, frame))
    canvas[..., dy:dy + h, dx:dx + w] = images
    return canvas


def place_in_frames(images, frame=56, positions=7, step=4):
    """Every image pasted at each of the ``positions**2`` offsets of a larger frame.

    ``images`` has shape ``(N, C, h, w)``; the result has shape
    ``(N, positions**2, C, frame, frame)`` with zeros around the image.  The
    seed notes' setting is 28x28 digits in a 56x56 frame at 7 x 7 = 49 offsets
    4 pixels apart.
    """
    if images.dim() != 4:
        raise ValueError(f"place_in_frames: images must be (N, C, h, w), got {tuple(images.shape)}")
    last = step * (positions - 1)
    if last + max(images.shape[-2:]) > frame:
        raise ValueError(f"place_in_frames: {images.shape[-2]}x{images.shape[-1]} images at "
                         f"offsets up to {last} do not fit in a {frame}x{frame} frame")
    return torch.stack([place_at(images, frame, dy, dx)
                        for dy, dx in frame_offsets(positions, step)], dim=1)


def predictions_by_position(model, frames, batch_size=1024):
    """Predicted class of every framed image: ``frames (N, P, C, H, W)`` -> ``(N, P)``."""
    if frames.dim() != 5:
        raise ValueError(f"predictions_by_position: frames must be (N, P, C, H, W), got {tuple(frames.shape)}")
    flat = frames.flatten(0, 1)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            preds = [model(flat[i:i + batch_size].to(device)).argmax(dim=1).cpu()
                     for i in range(0, len(flat), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(preds).view(frames.shape[:2])


class SeedMapCNN(nn.Module):
    """The seed notes' fully convolutional net: three 3x3 'same' convs, image in, map out."""

    def __init__(self, channels=(20, 40)):
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels[0], 3, padding=1)
        self.conv2 = nn.Conv2d(channels[0], channels[1], 3, padding=1)
        self.conv3 = nn.Conv2d(channels[1], 1, 3, padding=1)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        return F.relu(self.conv3(x))


class SeedMapMLP(nn.Module):
    """The seed notes' MLP with an image-sized output: frame**2 -> 100 -> 100 -> frame**2."""

    def __init__(self, frame=56, hidden=100):
        super().__init__()
        self.frame = frame
        self.fc1 = nn.Linear(frame * frame, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, frame * frame)

    def forward(self, x):
        n = x.shape[0]
        x = F.relu(self.fc1(x.flatten(start_dim=1)))
        x = F.relu(self.fc2(x))
        return F.relu(self.fc3(x)).view(n, 1, self.frame, self.frame)


class FrameClassifier(nn.Module):
    """A small digit classifier whose head either flattens the feature maps or pools them.

    The trunk is conv-relu-pool, conv-relu-pool, conv-relu (3x3 'same' convs,
    2x2 max pools), so its total stride is 4.  ``head="flatten"`` gives the
    linear classifier one weight per feature *and position*, like the seed's
    ThreeLayerConvNet; ``head="gap"`` averages each feature map over all
    positions first (global average pooling), so the classifier only sees
    *what* was detected, not *where*.
    """

    STRIDE = 4

    def __init__(self, head="gap", frame=56, channels=(16, 32, 32), num_classes=10):
        super().__init__()
        if head not in ("flatten", "gap"):
            raise ValueError(f"FrameClassifier: head must be 'flatten' or 'gap', got {head!r}")
        if frame % self.STRIDE:
            raise ValueError(f"FrameClassifier: frame must be a multiple of {self.STRIDE}, got {frame}")
        c1, c2, c3 = channels
        self.head = head
        self.trunk = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c2, c3, 3, padding=1), nn.ReLU(),
        )
        side = frame // self.STRIDE
        features = c3 if head == "gap" else c3 * side * side
        self.classifier = nn.Linear(features, num_classes)

    def features(self, x):
        """The trunk's feature maps, ``(N, channels[-1], frame/4, frame/4)``."""
        return self.trunk(x)

    def forward(self, x):
        maps = self.trunk(x)
        pooled = maps.mean(dim=(-2, -1)) if self.head == "gap" else maps.flatten(start_dim=1)
        return self.classifier(pooled)
