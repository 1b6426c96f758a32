"""Code that draws a figure is folded on every page, by one rule in one place.

The rule (scripts/book_ext/fold_figure_code.py): a code cell whose output is a captioned
figure shows its figure with its code folded, unless the cell is tagged ``show-input``.
No page folds a figure's code by hand (a ``hide-input`` tag on a figure cell), so the
rule stays the one place that decides. The built pages are checked cell by cell.
"""

from __future__ import annotations

import nbformat
import pytest
from bs4 import BeautifulSoup
from myst_nb.core.read import read_myst_markdown_notebook

import book_pages
from book_ext.fold_figure_code import SHOW_INPUT, folds_input, is_figure_cell

FIGURE = {"mystnb": {"figure": {"caption": "A figure.", "name": "fig-x"}}}


def notebook_pages(repo_root) -> list[str]:
    """Docnames of the pages built from notebooks (MyST Markdown with code cells, .ipynb)."""
    pages = []
    for docname in book_pages.toc_docnames(repo_root / "_toc.yml"):
        source = book_pages.source_path(docname, repo_root)
        if source.suffix == ".ipynb" or "```{code-cell}" in source.read_text():
            pages.append(docname)
    return pages


def code_cells(source) -> list[dict]:
    """The metadata of each code cell of a notebook page, in order."""
    if source.suffix == ".ipynb":
        notebook = nbformat.read(source, as_version=4)
    else:
        notebook = read_myst_markdown_notebook(source.read_text())
    return [cell.metadata for cell in notebook.cells if cell.cell_type == "code"]


def unfolded_figure_cells(html: str) -> tuple[int, list[str]]:
    """(figure cells on the page, those whose code is shown although the rule folds it)."""
    soup = BeautifulSoup(html, "html.parser")
    # a captioned figure of myst-nb is a child of the output; a <figure> inside an HTML
    # output (the lab's position viewer) is not one
    cells = [cell for cell in soup.select("div.cell")
             if cell.select_one("div.cell_output > figure")]
    unfolded = []
    for cell in cells:
        code = cell.select_one("div.cell_input")
        folded = code is None or code.find_parent("details", class_="above-input") is not None
        if not folded and "tag_" + SHOW_INPUT not in cell.get("class", []):
            figure = cell.select_one("div.cell_output > figure")
            unfolded.append(figure.get("id") or figure.get_text(" ", strip=True)[:60])
    return len(cells), unfolded


def test_the_rule_folds_figure_cells_unless_tagged_show_input():
    assert folds_input(FIGURE)
    assert not folds_input({"tags": ["hide-output"]})
    assert not folds_input({**FIGURE, "tags": [SHOW_INPUT]})
    assert folds_input({**FIGURE, "tags": ["remove-stderr"]})


def test_the_check_finds_a_figure_whose_code_is_shown():
    page = ('<div class="cell"><div class="cell_input">plt.plot()</div>'
            '<div class="cell_output"><figure id="fig-a"></figure></div></div>'
            '<div class="cell"><details class="above-input"><div class="cell_input">x</div>'
            '</details><div class="cell_output"><figure id="fig-b"></figure></div></div>'
            '<div class="cell tag_show-input"><div class="cell_input">train()</div>'
            '<div class="cell_output"><figure id="fig-c"></figure></div></div>'
            '<div class="cell"><div class="cell_input">viewer()</div><div class="cell_output">'
            '<div class="output text_html"><figure></figure></div></div></div>')
    assert unfolded_figure_cells(page) == (3, ["fig-a"])


def test_no_page_folds_a_figures_code_by_hand(repo_root):
    by_hand = []
    for docname in notebook_pages(repo_root):
        source = book_pages.source_path(docname, repo_root)
        for index, metadata in enumerate(code_cells(source), start=1):
            if is_figure_cell(metadata) and "hide-input" in (metadata.get("tags") or []):
                by_hand.append(f"{source.relative_to(repo_root)}: code cell {index}")
    assert not by_hand, ("figure cells tagged hide-input; the rule folds them "
                         "(scripts/book_ext/fold_figure_code.py):\n  " + "\n  ".join(by_hand))


@pytest.mark.slow
def test_every_figure_cell_of_the_book_shows_its_figure_with_its_code_folded(built_book,
                                                                            repo_root):
    found, figures = [], 0
    for docname in notebook_pages(repo_root):
        source = book_pages.source_path(docname, repo_root)
        expected = sum(is_figure_cell(m) for m in code_cells(source)
                       if not {"remove-cell", "remove-output"} & set(m.get("tags") or []))
        html = (built_book / book_pages.html_path(docname)).read_text()
        count, unfolded = unfolded_figure_cells(html)
        figures += count
        if count != expected:
            found.append(f"{docname}: {count} figure cells built, {expected} in the source")
        found += [f"{docname}: the code of {figure} is shown" for figure in unfolded]
    assert not found, "\n".join(found)
    assert figures > 0
