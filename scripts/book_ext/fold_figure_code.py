"""Fold the code that draws a figure: one rule for every notebook page of the book.

A code cell whose output is a captioned figure (``mystnb: figure:`` in its metadata) is
there for the figure; its code is plotting detail, often long and wide (cut off on a
desktop, sideways scrolling on a phone). Such a cell shows its figure, with its code
folded under "Show code cell source", as myst-nb's ``hide-input`` tag would do, without a
tag on each cell. A figure cell whose code is itself the lesson (it sets up and runs the
experiment the figure reports) opts out with the tag ``show-input``.

This module also names myst-nb's fold button by what it shows: myst-nb labels each
<summary> "Toggle hidden content" while it reads "Show code cell source", which fails
WCAG 2.5.3 (label in name; axe: label-content-name-mismatch). Without the label, the
visible text is the name.
"""

from __future__ import annotations

from html import escape

from docutils import nodes
from myst_nb.sphinx_ import HideCodeCellNode, HideInputCells, depart_HideCellInput
from sphinx.transforms.post_transforms import SphinxPostTransform

SHOW_INPUT = "show-input"


def is_figure_cell(metadata: dict) -> bool:
    return bool((metadata.get("mystnb") or {}).get("figure"))


def folds_input(metadata: dict) -> bool:
    """The rule: a figure cell's code is folded unless the cell is tagged show-input."""
    return is_figure_cell(metadata) and SHOW_INPUT not in (metadata.get("tags") or [])


class FoldFigureCode(SphinxPostTransform):
    """Mark figure cells' code as folded, before myst-nb's HideInputCells folds it."""

    default_priority = HideInputCells.default_priority - 1
    formats = ("html",)

    def run(self, **kwargs):
        config = self.app.config
        for cell in self.document.findall(nodes.container):
            if cell.get("nb_element") != "cell_code" or cell.get("hide_mode"):
                continue  # not a code cell, or its tags already hide something
            if folds_input(cell.get("cell_metadata") or {}):
                cell["hide_mode"] = "input"
                cell["prompt_show"] = config.nb_code_prompt_show
                cell["prompt_hide"] = config.nb_code_prompt_hide


def visit_fold(self, node: HideCodeCellNode):
    """myst-nb's visit_HideCellInput, without the aria-label on <summary>."""
    classes = " ".join(node["classes"])
    self.body.append(f'<details class="admonition hide {classes}">\n<summary>\n')
    self.body.append(f'<p class="collapsed admonition-title">{escape(node["prompt_show"])}</p>\n')
    self.body.append(f'<p class="expanded admonition-title">{escape(node["prompt_hide"])}</p>\n')
    self.body.append("</summary>\n")


def setup(app):
    app.add_post_transform(FoldFigureCode)
    app.add_node(HideCodeCellNode, override=True, html=(visit_fold, depart_HideCellInput))
