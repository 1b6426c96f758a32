"""Measuring equivariance and invariance; the shifted-MNIST lab's networks and viewer.

A map ``f`` is *equivariant* to a transformation when transforming the input
transforms the output in a matching way, ``f(g(x)) = g'(f(x))``; it is
*invariant* when the output does not change at all, ``f(g(x)) = f(x)``.  The
functions here measure how far a network is from either, as a relative error
(0 means exact), so the book can show where the textbook statement holds and
where it breaks: at borders, with strides and pooling, for rotations and
rescalings.

Images are torch tensors whose last two axes are height and width; a shift
``(dy, dx)`` moves content down by ``dy`` and right by ``dx`` pixels.

The lab places digits at many positions of a larger frame
(:func:`place_in_frames`), runs networks on all of them (:func:`maps_by_position`,
:func:`predictions_by_position`), measures how the outputs move
(:func:`position_errors`) and shows them with a slider that needs no kernel
(:func:`position_viewer_html`).
"""
import base64
import copy
import html
import io
import json
import math
import uuid

import torch
from torch import nn
import torch.nn.functional as F

from cnnbook.models import evaluating, init_weights_

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


def _shift_error(fx, fgx, dy, dx, mode, stride, margin):
    """Smallest relative error between ``fgx`` and ``fx`` shifted by ``(dy, dx) / stride``."""
    if fx.dim() < 2 or fx.shape != fgx.shape:
        raise ValueError("equivariance_error: f must map images to feature maps of a fixed "
                         f"shape, got {tuple(fx.shape)} and {tuple(fgx.shape)}")
    errors = []
    for out_dy in _output_shifts(dy, stride):
        for out_dx in _output_shifts(dx, stride):
            expected = translate(fx, out_dy, out_dx, mode)
            if margin is None:
                errors.append(relative_error(fgx, expected))
                continue
            keep = interior_mask(fx.shape[-2:], out_dy, out_dx, margin)
            if not keep.any():
                raise ValueError(f"equivariance_error: margin {margin} leaves no pixel to "
                                 f"compare in a {tuple(fx.shape[-2:])} map shifted by "
                                 f"({out_dy}, {out_dx})")
            errors.append(relative_error(fgx[..., keep], expected[..., keep]))
    return min(errors)


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
    return _shift_error(fx, fgx, dy, dx, mode, stride, margin)


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


def images_losing_ink(x, dy, dx):
    """How many images of the batch ``x`` lose content when shifted by ``(dy, dx)``
    with zero fill, i.e. have non-zero pixels pushed out of the frame.

    An equivariance or invariance measurement means something only while this
    is 0: past that point the shifted image is a different, cropped image.
    """
    # count non-zero pixels rather than add intensities: a float sum taken over
    # moved positions can differ in its last bit without any pixel being lost
    kept = (translate(x, dy, dx) != 0).flatten(1).sum(dim=1)
    return int((kept < (x != 0).flatten(1).sum(dim=1)).sum())


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


def position_errors(maps, offsets, stride=1, margin=None):
    """Equivariance error at every position, from maps computed once per position.

    ``maps`` has shape ``(N, P, C, H, W)``: a network's output for N images
    placed at each of the P ``offsets`` by :func:`place_in_frames`.  Position
    ``k`` is compared with the maps at position 0 shifted by
    ``(offsets[k] - offsets[0]) / stride``, exactly as :func:`equivariance_error`
    would do for the image at position 0, but without running the network twice.
    """
    if maps.dim() != 5 or maps.shape[1] != len(offsets):
        raise ValueError(f"position_errors: maps must be (N, P, C, H, W) with P = {len(offsets)} "
                         f"positions, got {tuple(maps.shape)}")
    (y0, x0), base = offsets[0], maps[:, 0]
    return [_shift_error(base, maps[:, k], dy - y0, dx - x0, "zero", stride, margin)
            for k, (dy, dx) in enumerate(offsets)]


def _owner(f):
    """The module behind ``f`` (a module or a bound method of one), else None."""
    owner = f if isinstance(f, nn.Module) else getattr(f, "__self__", None)
    return owner if isinstance(owner, nn.Module) else None


def maps_by_position(f, frames, batch_size=256):
    """``f`` (a module or one of its methods) applied to every framed image.

    ``frames (N, P, C, H, W)`` in, ``(N, P, ...)`` out, on the CPU, computed in
    batches on the device of ``f``'s parameters.
    """
    if frames.dim() != 5:
        raise ValueError(f"maps_by_position: frames must be (N, P, C, H, W), got {tuple(frames.shape)}")
    module = _owner(f)
    if module is None:
        raise ValueError("maps_by_position: f must be an nn.Module or a method of one")
    flat = frames.flatten(0, 1)
    with evaluating(module) as device:
        out = [f(flat[i:i + batch_size].to(device)).cpu() for i in range(0, len(flat), batch_size)]
    return torch.cat(out).unflatten(0, tuple(frames.shape[:2]))


def predictions_by_position(model, frames, batch_size=1024):
    """Predicted class of every framed image: ``frames (N, P, C, H, W)`` -> ``(N, P)``."""
    if frames.dim() != 5:
        raise ValueError(f"predictions_by_position: frames must be (N, P, C, H, W), got {tuple(frames.shape)}")
    return maps_by_position(model, frames, batch_size).argmax(dim=-1)


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
    2x2 max pools), so its total stride is 4.  The head decides what the final
    linear layer sees:

    - ``"flatten"``: every feature at every position, with one weight per
      feature *and position*, like the seed's ThreeLayerConvNet;
    - ``"gmp"`` / ``"gap"``: each feature map reduced to one number by global
      max / average pooling, so the classifier sees *what* was detected, not
      *where*.

    The convolutions start from He initialisation (zero biases), which keeps
    the scale of the signal through the ReLUs; with PyTorch's default the
    pooled heads took several epochs to start learning.
    """

    STRIDE = 4
    HEADS = ("flatten", "gmp", "gap")

    def __init__(self, head="gmp", frame=56, channels=(8, 16, 32), num_classes=10):
        super().__init__()
        if head not in self.HEADS:
            raise ValueError(f"FrameClassifier: head must be one of {self.HEADS}, got {head!r}")
        if frame % self.STRIDE:
            raise ValueError(f"FrameClassifier: frame must be a multiple of {self.STRIDE}, got {frame}")
        c1, c2, c3 = channels
        self.head = head
        self.trunk = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c2, c3, 3, padding=1), nn.ReLU(),
        )
        init_weights_(self.trunk, "he")
        side = frame // self.STRIDE
        features = c3 * side * side if head == "flatten" else c3
        self.classifier = nn.Linear(features, num_classes)

    def features(self, x):
        """The trunk's feature maps, ``(N, channels[-1], frame/4, frame/4)``."""
        return self.trunk(x)

    def forward(self, x):
        maps = self.trunk(x)
        if self.head == "gmp":
            pooled = maps.amax(dim=(-2, -1))
        elif self.head == "gap":
            pooled = maps.mean(dim=(-2, -1))
        else:
            pooled = maps.flatten(start_dim=1)
        return self.classifier(pooled)


# --- a viewer that works without a kernel --------------------------------------

def _png_data_uris(stack, cmap):
    """One PNG data URI per image of ``stack (P, H, W)``, on a colour scale shared by all."""
    import matplotlib
    from matplotlib.image import imsave

    stack = torch.as_tensor(stack).detach().float().cpu().numpy()
    low, high = float(stack.min()), float(stack.max())
    uris = []
    for image in stack:
        buffer = io.BytesIO()
        imsave(buffer, image, cmap=matplotlib.colormaps[cmap], vmin=low,
               vmax=high if high > low else low + 1, format="png")
        uris.append("data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode())
    return uris


def position_viewer_html(panels, titles, captions, cmap="viridis", width_px=128, interval_ms=400,
                         alts=None):
    """Self-contained HTML: a row of images, a slider over positions and a play button.

    ``panels`` is a list of stacks ``(P, H, W)``, one per panel (sizes may
    differ between panels; each is drawn ``width_px`` wide with sharp pixels and
    its own colour scale, shared across positions so that movement is visible);
    ``titles`` names the panels and ``captions`` describes each position.
    ``alts`` describes each panel's image to a screen reader (what it shows and how it
    moves, since the image changes with the slider); it defaults to the titles, which are
    labels rather than descriptions.  The
    frames are embedded as PNG data URIs and a few lines of JavaScript swap
    them, so the viewer works in a static web page with no kernel and no
    network, as well as in Jupyter.
    """
    positions = len(captions)
    if len(panels) != len(titles) or not panels:
        raise ValueError(f"position_viewer_html: {len(panels)} panels but {len(titles)} titles")
    alts = list(titles) if alts is None else list(alts)
    if len(alts) != len(titles):
        raise ValueError(f"position_viewer_html: {len(titles)} panels but {len(alts)} alts")
    for title, stack in zip(titles, panels):
        if stack.dim() != 3 or stack.shape[0] != positions:
            raise ValueError(f"position_viewer_html: panel {title!r} must have shape "
                             f"({positions}, H, W), got {tuple(stack.shape)}")
    frames = [_png_data_uris(stack, cmap) for stack in panels]
    uid = "posview-" + uuid.uuid4().hex[:12]
    figures = "".join(
        f'<figure style="margin:0;text-align:center">'
        f'<img data-panel="{i}" src="{frames[i][0]}" width="{width_px}" height="{width_px}" '
        f'alt="{html.escape(alt)}" style="image-rendering:pixelated;border:1px solid #888">'
        f'<figcaption style="font-size:0.85em">{html.escape(title)}</figcaption></figure>'
        for i, (title, alt) in enumerate(zip(titles, alts)))
    return f"""<div id="{uid}" style="max-width:100%">
<div style="display:flex;flex-wrap:wrap;gap:10px">{figures}</div>
<div style="display:flex;align-items:center;gap:8px;margin-top:6px">
<button type="button" style="min-width:4.5em">Play</button>
<input type="range" min="0" max="{positions - 1}" value="0" step="1" aria-label="position" style="flex:1">
</div>
<p style="margin:4px 0;font-size:0.9em" aria-live="polite">{html.escape(captions[0])}</p>
<script>
(function () {{
  var frames = {json.dumps(frames)}, captions = {json.dumps(list(captions))};
  var root = document.getElementById("{uid}");
  var images = root.querySelectorAll("img[data-panel]");
  var slider = root.querySelector("input"), button = root.querySelector("button");
  var caption = root.querySelector("p"), timer = null;
  function show(k) {{
    for (var i = 0; i < images.length; i++) images[i].src = frames[i][k];
    caption.textContent = captions[k];
    slider.value = k;
  }}
  slider.addEventListener("input", function () {{ show(+slider.value); }});
  button.addEventListener("click", function () {{
    if (timer) {{ clearInterval(timer); timer = null; button.textContent = "Play"; return; }}
    button.textContent = "Pause";
    timer = setInterval(function () {{ show((+slider.value + 1) % captions.length); }}, {interval_ms});
  }});
}})();
</script>
</div>"""
