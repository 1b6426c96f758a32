"""Give notebook output tables no empty header cells.

pandas writes the corner above a DataFrame's index, and the blanks of a multi-level
header, as empty ``<th>`` cells: a screen reader announces a header with no name (axe:
empty-table-header), 59 of them in the book. An empty cell heads nothing, so it becomes a
``<td>`` (attributes kept, so pandas' styling still applies). A header with text is left
alone, as is every other part of the output.
"""

from __future__ import annotations

import re

from docutils import nodes

from .embedded_images import in_cell_output

EMPTY_HEADER = re.compile(r"<th(?P<attrs>\s[^>]*)?>(?:\s|&nbsp;|&#160;|&#xa0;)*</th>",
                          re.IGNORECASE)


def without_empty_headers(html: str) -> str:
    return EMPTY_HEADER.sub(lambda cell: f"<td{cell['attrs'] or ''}></td>", html)


def fix_output_tables(app, doctree, docname):
    for raw in list(doctree.findall(nodes.raw)):
        if "html" not in raw.get("format", "").split() or not in_cell_output(raw):
            continue
        text = raw.astext()
        if "<th" not in text:
            continue
        new_text = without_empty_headers(text)
        if new_text != text:
            raw.replace_self(nodes.raw(new_text, new_text, **raw.attributes))


def setup(app):
    app.connect("doctree-resolved", fix_output_tables)
