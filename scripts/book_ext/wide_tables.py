"""Let a wide table of the book's text read as one card per row on a phone.

A table of many columns cannot fit 390 pixels: the instructor guide's threat model (eight
columns of sentences) was 6,000 pixels wide on a phone, read by scrolling sideways. Each
table of at least ``MIN_COLUMNS`` columns gets the class ``wide-table``, and each of its
body cells a first line naming its column (``<p class="cell-label">``). static/book.css
shows a wide table as usual on a wider screen, with the labels hidden, and below 768
pixels lays out each row as a block of labelled cells, one under the other.
Notebook outputs (DataFrames) are raw HTML and are not touched.
"""

from __future__ import annotations

from docutils import nodes

MIN_COLUMNS = 4
WIDE_CLASS = "wide-table"
LABEL_CLASS = "cell-label"


def column_headers(table: nodes.table) -> list[str] | None:
    """The text of the last header row, one per column; None for a table without a
    header or with a cell that spans columns or rows (its labels would be ambiguous)."""
    group = table.next_node(nodes.tgroup)
    head = group.next_node(nodes.thead) if group else None
    if head is None:
        return None
    if any(entry.get("morecols") or entry.get("morerows") for entry in table.findall(nodes.entry)):
        return None
    header_row = head.children[-1]
    return [entry.astext().strip() for entry in header_row.children]


def label_wide_table(table: nodes.table) -> bool:
    headers = column_headers(table)
    if headers is None or len(headers) < MIN_COLUMNS:
        return False
    table["classes"].append(WIDE_CLASS)
    for body in table.findall(nodes.tbody):
        for row in body.children:
            for header, entry in zip(headers, row.children):
                entry.insert(0, nodes.paragraph(header, header, classes=[LABEL_CLASS]))
    return True


def label_wide_tables(app, doctree, docname):
    if app.builder.format == "html":
        for table in list(doctree.findall(nodes.table)):
            label_wide_table(table)


def setup(app):
    app.connect("doctree-resolved", label_wide_tables)
