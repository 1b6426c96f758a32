"""Parallel pre-execution into the build's cache: which pages, and that the build uses it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import book_pages
import build_book
import preexecute

MYST_FRONT_MATTER = ("---\njupytext:\n  text_representation:\n    format_name: myst\n"
                     "kernelspec:\n  name: python3\n  display_name: Python 3\n{extra}---\n")


def write_pages(root: Path, pages: dict[str, str], execute: dict) -> None:
    (root / "_config.yml").write_text(yaml.safe_dump({"execute": execute}))
    toc = {"format": "jb-book", "root": "index",
           "chapters": [{"file": name.rsplit(".", 1)[0]} for name in pages]}
    (root / "_toc.yml").write_text(yaml.safe_dump(toc))
    (root / "index.md").write_text("# Index\n")
    for name, text in pages.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def ipynb(metadata: dict | None = None) -> str:
    return json.dumps({"cells": [], "nbformat": 4, "nbformat_minor": 5,
                       "metadata": {"kernelspec": {"name": "python3"}, **(metadata or {})}})


def test_only_notebooks_the_build_would_cache_are_preexecuted(tmp_path):
    write_pages(tmp_path, {
        "chapter.md": MYST_FRONT_MATTER.format(extra="") + "# Chapter\n",
        "prose.md": "# Plain Markdown, not a notebook\n",
        "lab.ipynb": ipynb(),
        "forced.md": MYST_FRONT_MATTER.format(extra="mystnb:\n  execution_mode: force\n"),
        "off.ipynb": ipynb({"mystnb": {"execution_mode": "off"}}),
        "exercises/set1/ex.ipynb": ipynb(),
    }, {"execute_notebooks": "cache", "exclude_patterns": ["exercises/*/*.ipynb"]})
    settings = preexecute.ExecutionSettings.from_config(tmp_path / "_config.yml")
    pages = preexecute.cacheable_pages(tmp_path, settings)
    assert [p.relative_to(tmp_path).as_posix() for p in pages] == ["chapter.md", "lab.ipynb"]


def test_nothing_is_preexecuted_unless_the_build_uses_the_cache(tmp_path):
    write_pages(tmp_path, {"lab.ipynb": ipynb()}, {"execute_notebooks": "force"})
    assert preexecute.preexecute(tmp_path, tmp_path) == (
        "pre-execution skipped: execute_notebooks is 'force', not 'cache'")


def test_real_config_excludes_exactly_the_student_release(repo_root):
    settings = preexecute.ExecutionSettings.from_config(repo_root / "_config.yml")
    for docname in book_pages.toc_docnames(repo_root / "_toc.yml"):
        path = book_pages.source_path(docname, repo_root)
        released = docname.startswith("exercises/") and path.suffix == ".ipynb"
        assert settings.excludes(path) == released, docname


@pytest.mark.slow
def test_build_uses_the_preexecuted_notebooks_and_still_names_a_failing_cell(tiny_book, capfd):
    good = tiny_book.myst_notebook("print(6 * 7)")
    bad = tiny_book.myst_notebook("x = 1", "raise RuntimeError('stop here')")
    # Sphinx reads pages in name order: a_good.md is read (from the cache) before b_bad.md.
    tiny_book.build({"a_good.md": good, "b_bad.md": bad})  # writes the book (and fails)
    capfd.readouterr()
    status = build_book.build(source=tiny_book.root, output=tiny_book.root, clean=True)
    captured = capfd.readouterr()
    output = captured.out + captured.err  # Sphinx writes its errors to stderr
    assert status != 0
    assert "preexecute: executed 1 of 2 uncached notebook pages" in output, output[-3000:]
    assert "failed: b_bad.md (the build runs them again and names the cell)" in output
    assert "a_good.md: Using cached notebook" in output
    line = tiny_book.code_cell_line(bad, 1)
    assert (f"notebook b_bad.md failed in cell 3 of 3 (code cell at line {line}): "
            "RuntimeError: stop here") in output
