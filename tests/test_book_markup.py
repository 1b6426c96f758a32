"""The build rules that fix the pages' markup for every reader (scripts/book_ext):
output tables without empty header cells, wide tables with labelled cells, and a root
page that is a complete page.

Their effect on the real pages is checked in the browser (tests/browser: axe-core, the
phone layout, the site's address); these fast tests pin down each rule.
"""

from __future__ import annotations

from docutils import nodes

from book_ext import output_tables, root_redirect, wide_tables

DATAFRAME = """<table border="1" class="dataframe">
  <thead>
    <tr style="text-align: right;"><th></th><th>accuracy</th></tr>
    <tr><th class="blank level0" >&nbsp;</th><th class="index_name level0" >seed</th></tr>
  </thead>
  <tbody><tr><th>CNN</th><td>0.98</td></tr></tbody>
</table>"""


def test_empty_header_cells_become_data_cells_and_named_ones_stay():
    fixed = output_tables.without_empty_headers(DATAFRAME)
    assert "<th></th>" not in fixed and "&nbsp;</th>" not in fixed
    assert '<td></td><th>accuracy</th>' in fixed
    assert '<td class="blank level0" ></td><th class="index_name level0" >seed</th>' in fixed
    assert "<th>CNN</th><td>0.98</td>" in fixed


def table(headers: list[str], rows: list[list[str]]) -> nodes.table:
    def row(texts):
        return nodes.row("", *[nodes.entry("", nodes.paragraph(text, text)) for text in texts])
    group = nodes.tgroup(cols=len(headers))
    group += [nodes.colspec(colwidth=1) for _ in headers]
    group += nodes.thead("", row(headers))
    group += nodes.tbody("", *[row(texts) for texts in rows])
    return nodes.table("", group)


def test_a_wide_table_labels_every_cell_with_its_column():
    wide = table(["surface", "size", "depth", "time"], [["upload", "50 MB", "4 levels", "60 s"]])
    assert wide_tables.label_wide_table(wide)
    assert wide_tables.WIDE_CLASS in wide["classes"]
    cells = list(wide.findall(nodes.entry))[4:]  # the body row
    labels = [cell.children[0] for cell in cells]
    assert [label.astext() for label in labels] == ["surface", "size", "depth", "time"]
    assert all(wide_tables.LABEL_CLASS in label["classes"] for label in labels)
    assert [cell.children[1].astext() for cell in cells] == ["upload", "50 MB", "4 levels", "60 s"]


def test_a_narrow_table_and_a_table_with_spans_are_left_alone():
    narrow = table(["path", "what it is", "in git"], [["a", "b", "c"]])
    assert not wide_tables.label_wide_table(narrow)
    spanning = table(["a", "b", "c", "d"], [["1", "2", "3", "4"]])
    next(iter(spanning.findall(nodes.entry)))["morecols"] = 1
    assert not wide_tables.label_wide_table(spanning)
    assert "wide-table" not in narrow["classes"] + spanning["classes"]


def test_the_root_page_is_a_complete_page_that_asks_for_no_icon():
    page = root_redirect.redirect_page("book/intro.html", "CNN <Properties>", "en")
    assert page.startswith("<!DOCTYPE html>\n<html lang=\"en\">")
    assert '<meta http-equiv="refresh" content="0; url=book/intro.html">' in page
    assert '<link rel="icon" href="data:,">' in page
    assert "<title>CNN &lt;Properties&gt;</title>" in page
    assert '<a href="book/intro.html">CNN &lt;Properties&gt;</a>' in page
