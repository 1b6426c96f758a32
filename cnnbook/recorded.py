"""Recorded runs: each lab's question answered at a budget large enough for it.

A lab page executes in quick mode when the book is built, on a small subset with
narrow networks, so that the whole book builds in minutes; its numbers show the
method, and most of its comparisons end in "the seeds overlap".  The conclusion a
page states is drawn instead from a **recorded run**: the same notebook, executed
once by

    python -m cnnbook.recorded record cnn_vs_mlp        # or another lab's name

at the budget in :data:`RECORD_BUDGETS` (all 5,000 fallback digits or full
CIFAR-10, more epochs, at least five seeds).  In that run the lab's own code calls
:func:`save_if_recording`, which writes ``book/labs/recorded/<lab>.json``: the
per-seed results and their provenance (device, data, sizes, seeds, the code
version, the git commit, the date).

The page then shows the recorded numbers next to its live quick run
(:func:`load`).  The **code version** is a hash of the lab's code cells, except the
cells tagged ``recorded-view`` that only display the recorded file.  If the lab's
code changed since the recording, :func:`load` raises :class:`RecordedRunStale`,
the page fails to execute and so does the strict book build: a stale recording
cannot be shown as if it were the page's result.

On a CUDA machine, ``record --full`` runs the lab's own full mode instead (whole
CIFAR-10 when it is available, the lab's full epochs and width) with the same five
seeds: that is the run to record there.
"""
import argparse
import datetime
import hashlib
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np

RECORD_ENV = "CNNBOOK_RECORD_TO"
VIEW_TAG = "recorded-view"
LABS_DIR = Path(__file__).resolve().parent.parent / "book" / "labs"

# Parameters that override each lab's `parameters` cell in a recorded CPU run: full mode,
# five seeds and more data than quick mode, sized so that each lab records in a quarter of an
# hour or less on a shared two-core CPU (the networks keep their quick-mode width there).
RECORD_BUDGETS = {
    "cnn_vs_mlp": {"quick": False, "seeds": [0, 1, 2, 3, 4], "epochs": {"quick": 3, "full": 8},
                   "progress": False},
    "better_networks": {"quick": False, "seeds": {"quick": [0, 1, 2], "full": [0, 1, 2, 3, 4]},
                        "epochs": {"quick": 3, "full": 4}, "width": {"quick": 0.125, "full": 0.125},
                        "batch_size": {"quick": 32, "full": 32},
                        "train_images": {"quick": 800, "full": 2000},
                        "val_images": {"quick": 400, "full": 1000},
                        "time_budget_s": {"quick": 3.0, "full": 5.0}, "progress": False},
    "data_augmentation": {"quick": False, "seeds": {"quick": [0, 1], "full": [0, 1, 2, 3, 4]},
                          "epochs": {"quick": 8, "full": 20},
                          "train_images": {"quick": 500, "full": 1000},
                          "val_images": {"quick": 500, "full": 1000},
                          "width": {"quick": 0.125, "full": 0.125}, "progress": False},
    "shifted_mnist_equivariance": {"quick": False,
                                   "seeds": {"quick": [0, 1], "full": [0, 1, 2, 3, 4]},
                                   "epochs": {"quick": 4, "full": 4},
                                   "train_images": {"quick": 1000, "full": 2000},
                                   "val_images": {"quick": 300, "full": 500},
                                   "test_digits": {"quick": 40, "full": 500}, "progress": False},
}


class RecordedRunStale(RuntimeError):
    """The recorded run was made with other lab code than the page's."""


class RecordedRunMissing(RuntimeError):
    """The lab has no recorded run yet."""


def code_version(notebook_path):
    """SHA-256 (first 16 hex digits) of the lab's code cells, ``recorded-view`` cells excluded."""
    notebook = json.loads(Path(notebook_path).read_text(encoding="utf-8"))
    digest = hashlib.sha256()
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code" or VIEW_TAG in cell.get("metadata", {}).get("tags", []):
            continue
        source = "".join(cell["source"])
        digest.update("\n".join(line.rstrip() for line in source.strip().splitlines()).encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def per_seed(results, metrics):
    """{label: {metric: [one value per seed]}} from {label: [History, ...]}."""
    from cnnbook.training import final

    return {label: {metric: final(histories, metric).tolist() for metric in metrics}
            for label, histories in results.items()}


def save_if_recording(lab, results, provenance):
    """Write ``results`` (JSON-able per-seed numbers) and ``provenance`` to the file named
    by ``$CNNBOOK_RECORD_TO`` when this notebook runs under ``record``; else do nothing.
    Returns the path written, or None."""
    target = os.environ.get(RECORD_ENV)
    if not target:
        return None
    record = {"lab": lab, "code_version": os.environ.get("CNNBOOK_RECORD_VERSION", ""),
              "recorded_at": os.environ.get("CNNBOOK_RECORD_DATE", ""),
              "git_commit": os.environ.get("CNNBOOK_RECORD_COMMIT", ""),
              "overrides": json.loads(os.environ.get("CNNBOOK_RECORD_OVERRIDES", "{}")),
              "python": platform.python_version(), "torch": _torch_version(),
              "provenance": provenance, "results": results}
    Path(target).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return Path(target)


def _torch_version():
    import torch

    return torch.__version__


def load(lab, folder=None):
    """The recorded run of ``lab`` (a dict), after checking that it was made with the
    page's own code.  ``folder`` holds ``<lab>.ipynb`` and ``recorded/`` (default: the
    working directory, which is the notebook's folder when the book executes it).

    Returns None when the notebook is not the book's own copy, i.e. not in
    ``book/labs`` of a checkout with its ``_toc.yml`` (Colab, Binder, a test's
    scratch folder), and during the recording run itself; raises :class:`RecordedRunMissing` or
    :class:`RecordedRunStale` inside it.
    """
    folder = Path(folder) if folder is not None else Path.cwd()
    notebook, path = folder / f"{lab}.ipynb", folder / "recorded" / f"{lab}.json"
    in_the_book = notebook.exists() and (folder.parent.parent / "_toc.yml").exists()
    if not in_the_book or os.environ.get(RECORD_ENV):
        return None     # a copy of the lab elsewhere, or this is the recording run itself
    if not path.exists():
        raise RecordedRunMissing(f"{lab} has no recorded run ({path}); create it with "
                                 f"`python -m cnnbook.recorded record {lab}`")
    record = json.loads(path.read_text(encoding="utf-8"))
    expected = code_version(notebook)
    if record.get("code_version") != expected:
        raise RecordedRunStale(
            f"the recorded run of {lab} was made with code version "
            f"{record.get('code_version')!r}, but the page's code is now {expected!r}; run "
            f"`python -m cnnbook.recorded record {lab}` again (minutes to a quarter of an "
            "hour on a CPU)")
    return record


def describe_provenance(record):
    """One Markdown paragraph saying where and how the recorded run was made."""
    p = record["provenance"]
    return (f"**Recorded run** of {record['recorded_at'][:10]} on {p['device']}: "
            f"{len(p['seeds'])} seeds, {p['epochs']} epochs, {p['train']:,} training"
            + (f", {p['val']:,} validation" if p.get("val") else "")
            + (f" and {p['test']:,} test" if p.get("test") else "")
            + f" images. {p['data']} Code version `{record['code_version']}`"
            + (f", commit `{record['git_commit'][:10]}`" if record.get("git_commit") else "")
            + f", PyTorch {record['torch']}. Made with "
            f"`python -m cnnbook.recorded record {record['lab']}`; the overrides of the "
            f"parameters cell were `{json.dumps(record['overrides'])}`.")


def medians(record, metric):
    """{label: (median, smallest, largest)} of ``metric`` over the recorded seeds."""
    from cnnbook.run_stats import median_and_range

    return {label: median_and_range(values[metric]) for label, values in record["results"].items()}


def separated(record, a, b, metric):
    """"a" if every recorded run of ``a`` beat every run of ``b`` on ``metric``, "b" for
    the reverse, None when the runs overlap."""
    values_a = np.asarray(record["results"][a][metric])
    values_b = np.asarray(record["results"][b][metric])
    if values_a.min() > values_b.max():
        return "a"
    if values_b.min() > values_a.max():
        return "b"
    return None


# --- the command ----------------------------------------------------------------

def _git_commit():
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              cwd=LABS_DIR, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""
    return head


def _with_overrides(notebook, overrides):
    """The notebook (an nbformat node) with a cell that sets ``overrides`` right after
    its parameters cell, as papermill does."""
    assignments = "\n".join(f"{name} = {value!r}" for name, value in overrides.items())
    import nbformat

    cell = nbformat.v4.new_code_cell(
        "# injected by python -m cnnbook.recorded record\n" + assignments,
        metadata={"tags": ["injected-parameters"]})
    index = next(i for i, c in enumerate(notebook.cells)
                 if "parameters" in c.get("metadata", {}).get("tags", []))
    notebook.cells.insert(index + 1, cell)
    return notebook


def full_mode_overrides(lab):
    """The lab's own full mode (the whole dataset, its full epochs and width), with the
    recording budget's five seeds: the run to record on a CUDA machine."""
    return {"quick": False, "seeds": RECORD_BUDGETS[lab]["seeds"], "progress": False}


def record(lab, full=False, timeout_s=3600):
    """Execute ``lab`` at its recording budget and write ``recorded/<lab>.json``."""
    import nbformat
    from nbclient import NotebookClient

    path = LABS_DIR / f"{lab}.ipynb"
    if lab not in RECORD_BUDGETS or not path.exists():
        raise SystemExit(f"record: unknown lab {lab!r}; choose one of {sorted(RECORD_BUDGETS)}")
    overrides = full_mode_overrides(lab) if full else RECORD_BUDGETS[lab]
    target = LABS_DIR / "recorded" / f"{lab}.json"
    target.parent.mkdir(exist_ok=True)
    os.environ.update({
        RECORD_ENV: str(target), "CNNBOOK_RECORD_VERSION": code_version(path),
        "CNNBOOK_RECORD_DATE": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"),
        "CNNBOOK_RECORD_COMMIT": _git_commit(), "CNNBOOK_RECORD_OVERRIDES": json.dumps(overrides)})
    notebook = _with_overrides(nbformat.read(path, as_version=4), overrides)
    NotebookClient(notebook, timeout=timeout_s,
                   resources={"metadata": {"path": str(LABS_DIR)}}).execute()
    if not target.exists():
        raise SystemExit(f"record: {lab} ran but wrote no results "
                         "(does it call save_if_recording?)")
    print(f"record: wrote {target}")
    return target


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m cnnbook.recorded",
                                     description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="run a lab at its recording budget")
    rec.add_argument("lab", choices=sorted(RECORD_BUDGETS))
    rec.add_argument("--full", action="store_true",
                     help="the lab's own full mode (for a CUDA machine) instead of the CPU budget")
    args = parser.parse_args(argv)
    record(args.lab, full=args.full)
    return 0


if __name__ == "__main__":
    sys.exit(main())
