"""The book build: strict (warnings fail), executes notebooks, and names a failing cell.

The slow tests build tiny throwaway books in tmp_path with the real _config.yml
(execution settings, strict flags, the scripts/book_ext extension), then the real book.
"""

from __future__ import annotations

import json
import re
from pathlib import PurePosixPath

import pytest
import yaml

import book_pages
import build_book


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


def myst_nb_excludes(path, patterns) -> bool:
    """myst-nb's rule (myst_nb.core.execute): a pattern matches the end of the path."""
    return any(PurePosixPath(path.resolve().as_posix()).match(p) for p in patterns)


def test_only_the_student_release_is_excluded_from_execution(repo_root):
    patterns = yaml.safe_load((repo_root / "_config.yml").read_text())["execute"][
        "exclude_patterns"]
    for docname in book_pages.toc_docnames(repo_root / "_toc.yml"):
        path = book_pages.source_path(docname, repo_root)
        released = docname.startswith("exercises/") and path.suffix == ".ipynb"
        assert myst_nb_excludes(path, patterns) == released, docname


def test_build_command_is_strict(repo_root):
    command = build_book.build_command(repo_root, repo_root)
    assert {"-W", "-n", "--keep-going", "--all"} <= set(command)
    config = yaml.safe_load((repo_root / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "cache"
    assert config["execute"]["timeout"] > 0
    assert config["sphinx"]["config"]["nb_execution_raise_on_error"] is True


def test_package_fingerprint_follows_every_source_file(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "a.py").write_text("x = 1\n")
    (package / "sub" / "b.py").write_text("y = 2\n")
    before = build_book.package_fingerprint(package)
    assert build_book.package_fingerprint(package) == before
    (package / "sub" / "b.py").write_text("y = 3\n")
    assert build_book.package_fingerprint(package) != before


def test_package_fingerprint_follows_the_labs_recorded_runs(tmp_path):
    package, recorded = tmp_path / "pkg", tmp_path / "recorded"
    package.mkdir()
    recorded.mkdir()
    (package / "a.py").write_text("x = 1\n")
    before = build_book.package_fingerprint(package, recorded)
    (recorded / "lab.json").write_text("{}\n")
    assert build_book.package_fingerprint(package, recorded) != before


def test_execution_cache_is_dropped_when_the_package_changed(tmp_path):
    build_dir = tmp_path / "_build"
    cache = build_dir / ".jupyter_cache"
    cache.mkdir(parents=True)
    (cache / "entry").write_text("outputs of the old code")
    assert build_book.drop_stale_cache(build_dir, "old") is True  # made before stamps existed
    assert not cache.exists()
    cache.mkdir()
    assert build_book.drop_stale_cache(build_dir, "old") is False  # same code: kept
    assert cache.exists()
    assert build_book.drop_stale_cache(build_dir, "new") is True
    assert not cache.exists()
    assert build_book.drop_stale_cache(tmp_path / "fresh", "new") is False  # nothing to drop


# ---------------------------------------------------------------- tiny books


@pytest.mark.slow
def test_raising_cell_in_myst_notebook_names_notebook_and_cell(tiny_book):
    source = tiny_book.myst_notebook(
        "x = 1", "def f():\n    raise ValueError('boom in cell three')\nf()")
    result = tiny_book.build({"bad.md": source})
    assert result.returncode != 0
    line = tiny_book.code_cell_line(source, 1)
    expected = (f"bad.md:{line}: ERROR: notebook bad.md failed in cell 3 of 3 "
                f"(code cell at line {line}): ValueError: boom in cell three")
    assert expected in result.stdout, result.stdout[-3000:]


@pytest.mark.slow
def test_raising_cell_in_ipynb_names_notebook_and_cell(tiny_book):
    source = tiny_book.ipynb_notebook("import math", "math.sqrt(-1)", "print('never runs')")
    result = tiny_book.build({"lab.ipynb": source})
    assert result.returncode != 0
    assert ("notebook lab.ipynb failed in cell 3 of 4: ValueError: math domain error"
            in result.stdout), result.stdout[-3000:]


@pytest.mark.slow
def test_cell_over_the_time_limit_fails_and_is_named(tiny_book):
    # A notebook may lower the per-cell limit in its metadata; 1 s keeps this test short.
    source = tiny_book.myst_notebook("import time", "time.sleep(30)",
                                     metadata="execution:\n  timeout: 1\n")
    result = tiny_book.build({"slow.md": source})
    assert result.returncode != 0
    line = tiny_book.code_cell_line(source, 1)
    expected = (f"slow.md:{line}: ERROR: notebook slow.md failed in cell 3 of 3 "
                f"(code cell at line {line}): CellTimeoutError: A cell timed out")
    assert expected in result.stdout, result.stdout[-3000:]


@pytest.mark.slow
def test_broken_reference_and_missing_image_fail_the_build(tiny_book):
    page = ("# Broken\n\nSee {doc}`no_such_page`.\n\n"
            "![a figure that was never drawn](figures/missing.png)\n")
    result = tiny_book.build({"broken.md": page})
    assert result.returncode != 0
    assert "unknown document: 'no_such_page'" in result.stdout, result.stdout[-3000:]
    assert "image file not readable: figures/missing.png" in result.stdout


@pytest.mark.slow
def test_working_notebook_builds_and_shows_its_output(tiny_book):
    result = tiny_book.build({"good.md": tiny_book.myst_notebook("print(sum(range(10)) * 7)")})
    assert result.returncode == 0, result.stdout[-3000:]
    assert "315" in (tiny_book.html / "good.html").read_text()  # the executed output
    report = result.stdout.split("execution time per notebook page")[1].splitlines()
    assert re.fullmatch(r"\s+\d+\.\d  good  \[cache\]", report[1]), report[:3]


# ---------------------------------------------------------------- the real book


@pytest.mark.slow
def test_real_book_has_a_page_for_every_toc_entry(built_book, repo_root):
    for docname in book_pages.toc_docnames(repo_root / "_toc.yml"):
        assert (built_book / book_pages.html_path(docname)).is_file(), docname
    assert (built_book / "index.html").is_file()
    assert (built_book / "search.html").is_file()
