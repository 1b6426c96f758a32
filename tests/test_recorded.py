"""cnnbook.recorded: a lab's recorded run carries its code version, and a page refuses to
show a recording made with other code."""
import json

import nbformat
import pytest

from cnnbook import recorded
from cnnbook.recorded import (RecordedRunMissing, RecordedRunStale, code_version, load, medians,
                              save_if_recording, separated)


@pytest.fixture
def labs(tmp_path):
    """A book/labs folder inside a checkout (one with a _toc.yml)."""
    (tmp_path / "_toc.yml").write_text("root: intro\n")
    folder = tmp_path / "book" / "labs"
    folder.mkdir(parents=True)
    return folder


def write_lab(folder, code="x = 1", view="show(recorded)"):
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("quick = None", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(code),
        nbformat.v4.new_code_cell(view, metadata={"tags": ["recorded-view"]})])
    nbformat.write(notebook, folder / "lab.ipynb")
    return folder / "lab.ipynb"


def write_record(folder, version, results=None):
    (folder / "recorded").mkdir(exist_ok=True)
    record = {"lab": "lab", "code_version": version, "results": results or {}}
    (folder / "recorded" / "lab.json").write_text(json.dumps(record))


@pytest.fixture(autouse=True)
def not_recording(monkeypatch):
    monkeypatch.delenv(recorded.RECORD_ENV, raising=False)


def test_code_version_follows_the_code_but_not_the_view_cells(tmp_path):
    base = code_version(write_lab(tmp_path))
    assert code_version(write_lab(tmp_path, view="another(view)")) == base
    assert code_version(write_lab(tmp_path, code="x = 2")) != base
    assert code_version(write_lab(tmp_path, code="x = 1   \n")) == base   # trailing blanks


def test_a_recording_made_with_the_pages_code_is_loaded(labs):
    write_record(labs, code_version(write_lab(labs)))
    assert load("lab", labs)["lab"] == "lab"


def test_a_stale_recording_fails_and_says_how_to_redo_it(labs):
    write_record(labs, code_version(write_lab(labs)))
    write_lab(labs, code="x = 2")
    with pytest.raises(RecordedRunStale, match="python -m cnnbook.recorded record lab"):
        load("lab", labs)


def test_a_missing_recording_fails_in_the_book_only(labs, tmp_path):
    assert load("lab", labs) is None                      # no notebook here
    write_lab(labs)
    with pytest.raises(RecordedRunMissing, match="has no recorded run"):
        load("lab", labs)
    elsewhere = tmp_path / "scratch"                       # a copy outside the book: Colab, tests
    elsewhere.mkdir()
    write_lab(elsewhere)
    assert load("lab", elsewhere) is None


def test_the_recording_run_itself_shows_no_recording(labs, monkeypatch):
    write_lab(labs)
    monkeypatch.setenv(recorded.RECORD_ENV, str(labs / "out.json"))
    assert load("lab", labs) is None


def test_results_are_written_only_under_the_record_command(tmp_path, monkeypatch):
    assert save_if_recording("lab", {"a": {"acc": [0.5]}}, {"seeds": [0]}) is None
    target = tmp_path / "out.json"
    monkeypatch.setenv(recorded.RECORD_ENV, str(target))
    monkeypatch.setenv("CNNBOOK_RECORD_VERSION", "abc")
    save_if_recording("lab", {"a": {"acc": [0.5]}}, {"seeds": [0]})
    written = json.loads(target.read_text())
    assert written["code_version"] == "abc" and written["results"] == {"a": {"acc": [0.5]}}
    assert written["provenance"] == {"seeds": [0]} and written["torch"]


def test_the_overrides_cell_comes_right_after_the_parameters_cell(tmp_path):
    notebook = nbformat.read(write_lab(tmp_path), as_version=4)
    cells = recorded._with_overrides(notebook, {"quick": False, "seeds": [0, 1]}).cells
    assert "quick = False\nseeds = [0, 1]" in cells[1].source
    assert cells[2].source == "x = 1"


def test_medians_and_separation_read_the_per_seed_values():
    record = {"results": {"cnn": {"acc": [0.9, 0.92, 0.91]}, "mlp": {"acc": [0.8, 0.95, 0.85]},
                          "weak": {"acc": [0.5, 0.6, 0.55]}}}
    assert medians(record, "acc")["cnn"] == (0.91, 0.9, 0.92)
    assert separated(record, "cnn", "weak", "acc") == "a"
    assert separated(record, "weak", "cnn", "acc") == "b"
    assert separated(record, "cnn", "mlp", "acc") is None


def test_every_lab_has_a_recording_budget_that_names_its_own_parameters():
    for lab, overrides in recorded.RECORD_BUDGETS.items():
        notebook = nbformat.read(recorded.LABS_DIR / f"{lab}.ipynb", as_version=4)
        parameters = next(c.source for c in notebook.cells
                          if "parameters" in c.metadata.get("tags", []))
        for name in overrides:
            assert f"\n{name} = " in "\n" + parameters, f"{lab} has no parameter {name!r}"


@pytest.mark.parametrize("lab", sorted(recorded.RECORD_BUDGETS))
def test_every_lab_has_a_recorded_run_made_with_its_current_code(lab):
    record = load(lab, recorded.LABS_DIR)
    assert record["lab"] == lab and len(record["provenance"]["seeds"]) >= 5


def test_full_mode_recording_keeps_five_seeds_and_the_labs_own_budget():
    for lab, budget in recorded.RECORD_BUDGETS.items():
        overrides = recorded.full_mode_overrides(lab)
        assert overrides == {"quick": False, "seeds": budget["seeds"], "progress": False}
        seeds = budget["seeds"]["full"] if isinstance(budget["seeds"], dict) else budget["seeds"]
        assert len(seeds) >= 5
