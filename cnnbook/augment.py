"""Data augmentation applied to a whole batch at once, on the batch's device.

Each function takes a batch of shape (N, C, H, W) and a ``torch.Generator``
on the same device, draws one random choice per image from that generator
(so a seeded generator gives the same augmented batch every time) and
returns a new batch of the same shape and dtype.  Nothing loops over images
in Python, which is what lets the labs keep the GPU busy.

Crop, flip, cutout and rotation are *geometric* (they move or remove
pixels); brightness and contrast jitter is *photometric* (it changes values,
not positions).  The data-augmentation lab shows each one and trains with
them; the equivariance chapter explains why rotations and rescalings have to
be learned this way while shifts come with the architecture.
"""
import math

import torch
import torch.nn.functional as F


def _check_batch(x):
    if x.dim() != 4:
        raise ValueError(f"expected a batch of shape (N, C, H, W), got shape {tuple(x.shape)}")


def _uniform_ints(low, high, n, generator, device):
    """n integers drawn uniformly from low..high inclusive."""
    return torch.randint(low, high + 1, (n,), generator=generator, device=device)


def random_crop(x, padding, generator=None, fill=0):
    """Pad each side by ``padding`` with ``fill`` and cut a random H x W window.

    The window's offset is drawn per image, so each image moves by up to
    ``padding`` pixels in each direction; the output keeps the input's size.
    """
    _check_batch(x)
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    if padding == 0:
        return x.clone()
    n, c, h, w = x.shape
    padded = F.pad(x, (padding,) * 4, value=fill)
    top = _uniform_ints(0, 2 * padding, n, generator, x.device)
    left = _uniform_ints(0, 2 * padding, n, generator, x.device)
    rows = (top[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (left[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
    image = torch.arange(n, device=x.device)[:, None, None, None]
    channel = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[image, channel, rows, cols]


def random_flip(x, generator=None, p=0.5):
    """Mirror each image left-right with probability ``p``."""
    _check_batch(x)
    flip = torch.rand(x.shape[0], generator=generator, device=x.device) < p
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def cutout(x, size, generator=None, fill=0):
    """Set a ``size`` x ``size`` square to ``fill`` in every image.

    As in DeVries & Taylor (2017), the square's centre is uniform over the
    whole image, so near a border part of the square falls outside and less
    is erased.  For an even ``size`` the centre pixel is the lower-right of
    the middle four.
    """
    _check_batch(x)
    if size <= 0:
        return x.clone()
    n, _, h, w = x.shape
    cy = _uniform_ints(0, h - 1, n, generator, x.device)
    cx = _uniform_ints(0, w - 1, n, generator, x.device)
    return erase_squares(x, cy - size // 2, cx - size // 2, size, fill)


def erase_squares(x, top, left, size, fill=0):
    """Set the square [top, top+size) x [left, left+size) of each image to ``fill``.

    ``top`` and ``left`` hold one (possibly negative) corner per image; the
    parts of a square outside the image are ignored.
    """
    rows = torch.arange(x.shape[2], device=x.device)
    cols = torch.arange(x.shape[3], device=x.device)
    in_rows = (rows >= top[:, None]) & (rows < top[:, None] + size)
    in_cols = (cols >= left[:, None]) & (cols < left[:, None] + size)
    mask = in_rows[:, :, None] & in_cols[:, None, :]
    return x.masked_fill(mask[:, None], fill)


def random_rotation(x, max_degrees, generator=None, fill=0):
    """Rotate each image about its centre by an angle drawn uniformly from
    [-max_degrees, max_degrees], with bilinear interpolation; corners that
    come in from outside the image get ``fill``.

    Positive angles turn the content counter-clockwise as displayed (row 0 at
    the top); a quarter turn reproduces ``torch.rot90`` on square images.
    """
    _check_batch(x)
    if max_degrees < 0:
        raise ValueError(f"max_degrees must be >= 0, got {max_degrees}")
    n = x.shape[0]
    angles = (torch.rand(n, generator=generator, device=x.device) * 2 - 1) * max_degrees
    return rotate_by(x, angles, fill)


def rotate_by(x, degrees, fill=0):
    """Rotate image ``i`` of the batch by ``degrees[i]`` (see :func:`random_rotation`)."""
    radians = torch.as_tensor(degrees, dtype=x.dtype, device=x.device) * (math.pi / 180)
    cos, sin = torch.cos(radians), torch.sin(radians)
    zero = torch.zeros_like(cos)
    # affine_grid maps each output pixel to the input point it samples from
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # sample x - fill with zero padding, then add fill back: outside points get fill
    return F.grid_sample(x - fill, grid, mode="bilinear", padding_mode="zeros",
                         align_corners=False) + fill


def random_brightness_contrast(x, strength, generator=None):
    """Photometric jitter: per image, scale the deviation from the image's mean by
    a contrast factor in [1 - strength, 1 + strength] and add a brightness
    offset in [-strength, strength] (in the units of ``x``: on normalised
    batches, standard deviations of the dataset).  Positions do not change.
    """
    _check_batch(x)
    if not 0 <= strength < 1:
        raise ValueError(f"strength must be in [0, 1), got {strength}")
    n = x.shape[0]
    contrast = 1 + (torch.rand(n, generator=generator, device=x.device) * 2 - 1) * strength
    brightness = (torch.rand(n, generator=generator, device=x.device) * 2 - 1) * strength
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return ((x - mean) * contrast.view(-1, 1, 1, 1) + mean
            + brightness.view(-1, 1, 1, 1)).to(x.dtype)


class Augment:
    """A fixed pipeline: random crop with padding, horizontal flip, cutout.

    ``Augment(crop_padding=4, flip=True, cutout_size=8)`` is the classic
    CIFAR-10 recipe; a zero (or False) switches a step off.  Calling it on a
    batch applies the steps in that order with the given generator.  On
    normalised batches ``fill=0`` pads and erases with the mean colour.
    """

    def __init__(self, crop_padding=0, flip=False, cutout_size=0, fill=0, rotate_degrees=0,
                 jitter=0.0):
        self.crop_padding = int(crop_padding)
        self.flip = bool(flip)
        self.cutout_size = int(cutout_size)
        self.fill = fill
        self.rotate_degrees = float(rotate_degrees)
        self.jitter = float(jitter)

    def __call__(self, x, generator=None):
        if self.rotate_degrees:
            x = random_rotation(x, self.rotate_degrees, generator, self.fill)
        if self.crop_padding:
            x = random_crop(x, self.crop_padding, generator, self.fill)
        if self.flip:
            x = random_flip(x, generator)
        if self.jitter:
            x = random_brightness_contrast(x, self.jitter, generator)
        if self.cutout_size:
            x = cutout(x, self.cutout_size, generator, self.fill)
        return x

    def __bool__(self):
        return bool(self.crop_padding or self.flip or self.cutout_size or self.rotate_degrees
                    or self.jitter)

    def __repr__(self):
        extra = "".join(f", {name}={value:g}" for name, value in
                        (("rotate_degrees", self.rotate_degrees), ("jitter", self.jitter)) if value)
        return (f"Augment(crop_padding={self.crop_padding}, flip={self.flip}, "
                f"cutout_size={self.cutout_size}{extra})")


def lab_augment(dataset_name):
    """The labs' augmentation for ``dataset_name`` ("cifar10" or "mnist"): crop with
    padding 4, flip and 8x8 cutout for CIFAR-10; padding 2 and no flip for MNIST,
    since a mirrored digit is not the same digit."""
    cifar = dataset_name == "cifar10"
    return Augment(crop_padding=4 if cifar else 2, flip=cifar, cutout_size=8)
