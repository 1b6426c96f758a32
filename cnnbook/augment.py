"""Data augmentation applied to a whole batch at once, on the batch's device.

Each function takes a batch of shape (N, C, H, W) and a ``torch.Generator``
on the same device, draws one random choice per image from that generator
(so a seeded generator gives the same augmented batch every time) and
returns a new batch of the same shape and dtype.  Nothing loops over images
in Python, which is what lets the labs keep the GPU busy.
"""
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


class Augment:
    """A fixed pipeline: random crop with padding, horizontal flip, cutout.

    ``Augment(crop_padding=4, flip=True, cutout_size=8)`` is the classic
    CIFAR-10 recipe; a zero (or False) switches a step off.  Calling it on a
    batch applies the steps in that order with the given generator.  On
    normalised batches ``fill=0`` pads and erases with the mean colour.
    """

    def __init__(self, crop_padding=0, flip=False, cutout_size=0, fill=0):
        self.crop_padding = int(crop_padding)
        self.flip = bool(flip)
        self.cutout_size = int(cutout_size)
        self.fill = fill

    def __call__(self, x, generator=None):
        if self.crop_padding:
            x = random_crop(x, self.crop_padding, generator, self.fill)
        if self.flip:
            x = random_flip(x, generator)
        if self.cutout_size:
            x = cutout(x, self.cutout_size, generator, self.fill)
        return x

    def __bool__(self):
        return bool(self.crop_padding or self.flip or self.cutout_size)

    def __repr__(self):
        return (f"Augment(crop_padding={self.crop_padding}, flip={self.flip}, "
                f"cutout_size={self.cutout_size})")


def lab_augment(dataset_name):
    """The labs' augmentation for ``dataset_name`` ("cifar10" or "mnist"): crop with
    padding 4, flip and 8x8 cutout for CIFAR-10; padding 2 and no flip for MNIST,
    since a mirrored digit is not the same digit."""
    cifar = dataset_name == "cifar10"
    return Augment(crop_padding=4 if cifar else 2, flip=cifar, cutout_size=8)
