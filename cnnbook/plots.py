"""Figures shared by the labs: learning curves over seeds, image grids, bars.

Every function draws into a new matplotlib figure (or the ``ax`` given) and
returns the figure; the notebooks end such a cell with ``plt.show()`` so the
figure is rendered exactly once, in Jupyter and in the built book alike.
"""
import itertools

import matplotlib.pyplot as plt
import numpy as np
import torch

from cnnbook.training import final, lr_factor, mean_and_spread

METRIC_LABELS = {
    "train_acc": "training accuracy (during epoch)",
    "val_acc": "validation accuracy",
    "clean_train_acc": "training accuracy (clean, end of epoch)",
    "gap_acc": "clean training minus validation accuracy",
    "train_loss": "training loss (during epoch)",
    "val_loss": "validation loss",
    "clean_train_loss": "training loss (clean, end of epoch)",
}


def _per_epoch(histories, metric):
    """(epochs, runs) array of ``metric``; runs cut short by a time budget are
    truncated to the shortest run so the mean is over the same epochs."""
    runs = [getattr(h, metric) for h in histories]
    if not all(runs):
        raise ValueError(f"no per-epoch values of {metric!r} in these runs")
    shortest = min(len(r) for r in runs)
    return np.array([r[:shortest] for r in runs], dtype=float).T


def plot_curves(results, metrics=("train_acc", "val_acc"), ax=None, title=None):
    """Mean (line) and min-to-max band over seeds, per epoch, for each label.

    ``results`` maps a label to the list of Histories of its seeds.  Each
    metric gets its own line style (solid for the first, dashed for the
    second, ...); each label its own colour.
    """
    fig, ax = _figure(ax, figsize=(6.4, 4))
    styles = ["-", "--", ":", "-."]
    colours = itertools.cycle(plt.rcParams["axes.prop_cycle"].by_key()["color"])
    for colour, (label, histories) in zip(colours, results.items()):
        for style, metric in zip(styles, metrics):
            values = _per_epoch(histories, metric)
            epochs = np.arange(1, values.shape[0] + 1)
            ax.plot(epochs, values.mean(1), style, color=colour, marker="o", markersize=3,
                    label=f"{label}: {METRIC_LABELS.get(metric, metric)}")
            if values.shape[1] > 1:
                ax.fill_between(epochs, values.min(1), values.max(1), color=colour, alpha=0.15)
    ax.set_xlabel("epoch")
    ax.set_ylabel(" / ".join(sorted({METRIC_LABELS.get(m, m).split(" (")[0] for m in metrics})))
    ax.xaxis.get_major_locator().set_params(integer=True)
    runs = len(next(iter(results.values())))
    ax.set_title(title or f"mean over {runs} seeds (band: min to max)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_final(results, metric="val_acc", ax=None, title=None):
    """Bar per label: mean of the final ``metric`` over seeds, each seed as a dot,
    and an error bar of one standard deviation."""
    fig, ax = _figure(ax, figsize=(6.4, 3.2))
    finals = {label: final(histories, metric) for label, histories in results.items()}
    for i, values in enumerate(finals.values()):
        mean, spread = mean_and_spread(values)
        ax.bar(i, mean, yerr=spread, color="C0", alpha=0.5, capsize=4)
        ax.plot(np.full(len(values), i), values, "k.", markersize=6)
    ax.set_xticks(range(len(finals)), list(finals), rotation=20, ha="right")
    ax.set_ylabel(METRIC_LABELS.get(metric, metric.replace("_", " ")))
    lows = np.concatenate(list(finals.values()))
    ax.set_ylim(max(0.0, lows.min() - 0.1 * (1 - lows.min()) - 0.02), None)
    ax.set_title(title or "final value per run (dots), mean and one standard deviation")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_recorded_and_live(recorded, live, metric_label, ax=None):
    """One row per label: the recorded run's per-seed values (filled dots, median as a bar)
    next to the page's live run (open circles), so the two are never mistaken for each other.
    ``recorded`` and ``live`` map labels to sequences of per-seed values."""
    labels = list(recorded)
    fig, ax = _figure(ax, figsize=(6.4, 0.5 + 0.55 * len(labels)))
    for row, label in enumerate(labels):
        values = np.asarray(recorded[label], dtype=float)
        ax.plot(values, np.full(len(values), row + 0.12), "o", color="C0", ms=5,
                label="recorded run" if row == 0 else None)
        ax.plot([np.median(values)] * 2, [row - 0.05, row + 0.29], color="C0", lw=2)
        if label in live:
            mine = np.asarray(live[label], dtype=float)
            ax.plot(mine, np.full(len(mine), row - 0.18), "o", mfc="none", color="C1", ms=5,
                    label="this page's run" if row == 0 else None)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(metric_label)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def to_image_array(image):
    """One (C, H, W) image -> an array imshow understands: (H, W) for one
    channel, (H, W, 3) otherwise; floats are rescaled to 0..1 for display."""
    image = torch.as_tensor(image).detach().cpu()
    if image.dtype != torch.uint8:
        image = image.float()
        image = (image - image.min()) / (image.max() - image.min()).clamp_min(1e-8)
    array = image.permute(1, 2, 0).numpy()
    return array[..., 0] if array.shape[2] == 1 else array


def _show(ax, image):
    # a fixed grey scale, so an erased (zero) patch looks black in every image
    vmax = 255 if torch.as_tensor(image).dtype == torch.uint8 else 1
    ax.imshow(to_image_array(image), cmap="gray", vmin=0, vmax=vmax)


def image_grid(images, labels=None, classes=None, ncols=8, title=None, size=1.2):
    """Show a batch (N, C, H, W) in a grid, with class names as titles if given."""
    n = len(images)
    nrows = max(1, -(-n // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * 1.15),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        _show(ax, images[i])
        if labels is not None:
            label = int(labels[i])
            ax.set_title(classes[label] if classes else str(label), fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def image_rows(rows, size=1.2, title=None):
    """One row per entry of ``rows`` (name -> batch of the same N images),
    the name written at the left: e.g. the same images under each augmentation."""
    names = list(rows)
    ncols = len(rows[names[0]])
    fig, axes = plt.subplots(len(names), ncols, figsize=(ncols * size + 1.2, len(names) * size),
                             squeeze=False)
    for r, name in enumerate(names):
        for c in range(ncols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            _show(ax, rows[name][c])
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_lr_schedules(schedules, warmup=0.2, ax=None):
    """The learning-rate multiplier of each schedule over a run (0..1)."""
    fig, ax = _figure(ax, figsize=(5, 2.8))
    progress = np.linspace(0, 1, 201)
    for name in schedules:
        ax.plot(progress, [lr_factor(name, p, warmup) for p in progress], label=name)
    ax.set_xlabel("fraction of the run")
    ax.set_ylabel("learning rate / base rate")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_layer_stds(stds_by_label, ax=None, title=None):
    """Activation standard deviation after each block, one line per label."""
    fig, ax = _figure(ax, figsize=(5.5, 3.2))
    for label, stds in stds_by_label.items():
        ax.plot(np.arange(1, len(stds) + 1), stds, marker="o", label=label)
    ax.set_yscale("log")
    ax.set_xlabel("block (conv blocks, then fully connected blocks)")
    ax.set_ylabel("std of activations")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def _figure(ax, figsize):
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=figsize)
    return fig, ax
