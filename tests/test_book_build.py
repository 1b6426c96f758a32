"""The book build: strict (warnings fail), executes notebooks, and names a failing cell.

The slow tests build tiny throwaway books in tmp_path with the real _config.yml
(execution settings, strict flags, the scripts/book_ext extension), then the real book.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import nbformat
import pytest
import yaml

import book_pages
import build_book
import js_assets

NOTEBOOK_FRONT_MATTER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
"""


def tiny_book_config(repo_root: Path) -> dict:
    """The real configuration, with its repository-relative paths made absolute."""
    config = yaml.safe_load((repo_root / "_config.yml").read_text())
    sphinx = config["sphinx"]
    sphinx["local_extensions"] = {name: str(repo_root / path)
                                  for name, path in sphinx["local_extensions"].items()}
    sphinx["config"]["html_static_path"] = [str(js_assets.SITE_DIR)]
    return config


def write_tiny_book(root: Path, repo_root: Path, pages: dict[str, str]) -> None:
    """A book whose root page links nothing, then `pages` (name -> source) in order."""
    (root / "_config.yml").write_text(yaml.safe_dump(tiny_book_config(repo_root)))
    toc = {"format": "jb-book", "root": "index",
           "chapters": [{"file": Path(name).with_suffix("").as_posix()} for name in pages]}
    (root / "_toc.yml").write_text(yaml.safe_dump(toc))
    (root / "index.md").write_text("# Tiny book\n\nA test book.\n")
    for name, source in pages.items():
        (root / name).write_text(source)


def build_tiny_book(root: Path) -> subprocess.CompletedProcess:
    assert js_assets.main() == 0, "the offline assets must be staged for the build"
    return subprocess.run(build_book.build_command(root, root), cwd=root, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)


def myst_notebook(*cells: str) -> str:
    return NOTEBOOK_FRONT_MATTER + "# A notebook\n\n" + "\n".join(
        f"```{{code-cell}} ipython3\n{cell}\n```\n" for cell in cells)


def ipynb_notebook(*cells: str) -> str:
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# A notebook")]
        + [nbformat.v4.new_code_cell(cell) for cell in cells],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}})
    return nbformat.writes(notebook)


# ---------------------------------------------------------------- fast checks


def test_every_toc_entry_has_exactly_one_source(repo_root):
    pages = book_pages.toc_docnames(repo_root / "_toc.yml")
    assert pages[0] == "book/intro"
    for docname in pages:
        book_pages.source_path(docname, repo_root)  # raises with a clear message


def test_source_path_names_the_missing_page(tmp_path):
    with pytest.raises(FileNotFoundError, match="'book/nowhere'.*book/nowhere.md"):
        book_pages.source_path("book/nowhere", tmp_path)


def test_committed_notebooks_have_no_outputs(repo_root):
    """Notebook pages are executed by the build; committed outputs would be stale."""
    for path in sorted((repo_root / "book").rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        notebook = json.loads(path.read_text())
        stale = [index for index, cell in enumerate(notebook["cells"], start=1)
                 if cell["cell_type"] == "code"
                 and (cell.get("outputs") or cell.get("execution_count") is not None)]
        assert not stale, f"{path.relative_to(repo_root)}: cells {stale} have outputs"


def test_build_command_is_strict(repo_root):
    command = build_book.build_command(repo_root, repo_root)
    assert {"-W", "-n", "--keep-going"} <= set(command)
    config = yaml.safe_load((repo_root / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "cache"
    assert config["execute"]["timeout"] > 0
    assert config["sphinx"]["config"]["nb_execution_raise_on_error"] is True


# ---------------------------------------------------------------- tiny books


@pytest.mark.slow
def test_raising_cell_in_myst_notebook_names_notebook_and_cell(tmp_path, repo_root):
    source = myst_notebook("x = 1", "def f():\n    raise ValueError('boom in cell three')\nf()")
    write_tiny_book(tmp_path, repo_root, {"bad.md": source})
    result = build_tiny_book(tmp_path)
    assert result.returncode != 0
    start = [n for n, text in enumerate(source.splitlines(), start=1)
             if text.startswith("```{code-cell}")][1]
    expected = (f"notebook bad.md failed in cell 3 of 3 (code cell at line {start}): "
                "ValueError: boom in cell three")
    assert f"bad.md:{start}: ERROR: {expected}" in result.stdout, result.stdout[-3000:]


@pytest.mark.slow
def test_raising_cell_in_ipynb_names_notebook_and_cell(tmp_path, repo_root):
    source = ipynb_notebook("import math", "math.sqrt(-1)", "print('never runs')")
    write_tiny_book(tmp_path, repo_root, {"lab.ipynb": source})
    result = build_tiny_book(tmp_path)
    assert result.returncode != 0
    assert ("notebook lab.ipynb failed in cell 3 of 4: ValueError: math domain error"
            in result.stdout), result.stdout[-3000:]


@pytest.mark.slow
def test_cell_over_the_time_limit_fails_and_is_named(tmp_path, repo_root):
    # A notebook may lower the per-cell limit in its metadata; 1 s keeps this test short.
    source = myst_notebook("import time", "time.sleep(30)").replace(
        "kernelspec:", "execution:\n  timeout: 1\nkernelspec:")
    write_tiny_book(tmp_path, repo_root, {"slow.md": source})
    result = build_tiny_book(tmp_path)
    assert result.returncode != 0
    start = [n for n, text in enumerate(source.splitlines(), start=1)
             if text.startswith("```{code-cell}")][1]
    expected = (f"slow.md:{start}: ERROR: notebook slow.md failed in cell 3 of 3 "
                f"(code cell at line {start}): CellTimeoutError: A cell timed out")
    assert expected in result.stdout, result.stdout[-3000:]


@pytest.mark.slow
def test_broken_reference_and_missing_image_fail_the_build(tmp_path, repo_root):
    page = ("# Broken\n\nSee {doc}`no_such_page`.\n\n"
            "![a figure that was never drawn](figures/missing.png)\n")
    write_tiny_book(tmp_path, repo_root, {"broken.md": page})
    result = build_tiny_book(tmp_path)
    assert result.returncode != 0
    assert "no_such_page" in result.stdout and "missing.png" in result.stdout, (
        result.stdout[-3000:])


@pytest.mark.slow
def test_working_notebook_builds_and_shows_its_output(tmp_path, repo_root):
    source = myst_notebook("print(sum(range(10)) * 7)")
    write_tiny_book(tmp_path, repo_root, {"good.md": source})
    result = build_tiny_book(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    html = (tmp_path / "_build" / "html" / "good.html").read_text()
    assert "315" in html  # the executed cell's output is in the page


# ---------------------------------------------------------------- the real book


@pytest.mark.slow
def test_real_book_has_a_page_for_every_toc_entry(built_book, repo_root):
    for docname in book_pages.toc_docnames(repo_root / "_toc.yml"):
        assert (built_book / book_pages.html_path(docname)).is_file(), docname
    assert (built_book / "index.html").is_file()
    assert (built_book / "search.html").is_file()
