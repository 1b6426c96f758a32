"""Every page of the book reads on a phone 390 pixels wide.

- the page never scrolls sideways (code blocks and output tables scroll inside their own
  boxes);
- every table of the text fits its column, and a wide one shows each cell's column name;
- every figure a notebook draws is legible: shown at nine tenths of its drawn size or
  more, or a link to its full-size image (tap to enlarge), which the site serves.
"""

from __future__ import annotations

import pytest

import book_pages
from reader import LOAD_TIMEOUT_MS, MODES, open_page

pytestmark = pytest.mark.slow

PAGES = book_pages.toc_docnames()
LEGIBLE_SCALE = 0.9

LAYOUT_JS = """() => {
  const tables = [...document.querySelectorAll('article.bd-article table')]
    .filter(table => !table.closest('.cell_output'));
  return {
    pageWidth: document.documentElement.scrollWidth,
    viewport: window.innerWidth,
    overflowingTables: tables
      .filter(table => table.getBoundingClientRect().width > table.parentElement.clientWidth + 1)
      .map(table => `${(table.querySelector('th') || table).innerText.slice(0, 40)}: `
                    + `${Math.round(table.getBoundingClientRect().width)} px`),
    unlabelledCells: [...document.querySelectorAll('article.bd-article table.wide-table td')]
      .filter(cell => { const label = cell.querySelector('.cell-label');
                        return !label || label.getBoundingClientRect().height === 0; }).length,
  };
}"""

FIGURES_JS = """() => [...document.querySelectorAll('article.bd-article .cell_output img')]
  .map(img => ({src: img.currentSrc, shown: img.getBoundingClientRect().width,
                drawn: img.naturalWidth, link: (img.closest('a[href]') || {}).href || null}))"""

EAGER_IMAGES_JS = """() => document.querySelectorAll('img[loading=lazy]')
  .forEach(image => { image.loading = 'eager'; })"""


def illegible_figures(page, figures: list[dict]) -> list[str]:
    """The figures shown too small that do not open their own image when tapped."""
    found = []
    for figure in figures:
        if figure["shown"] >= LEGIBLE_SCALE * figure["drawn"]:
            continue
        if figure["link"] != figure["src"]:
            found.append(f"{figure['src']}: drawn {figure['drawn']} px wide, shown "
                         f"{figure['shown']:.0f} px, no link to the full-size image")
            continue
        response = page.request.get(figure["link"])
        if not response.ok or not response.headers.get("content-type", "").startswith("image/"):
            found.append(f"{figure['link']}: the full-size image answers HTTP {response.status}")
    return found


@pytest.mark.parametrize("docname", PAGES)
def test_page_reads_on_a_phone(docname, browser, site_url):
    with open_page(browser, site_url + book_pages.html_path(docname), site_url.rstrip("/"),
                   MODES["phone"]) as (page, problems):
        page.evaluate(EAGER_IMAGES_JS)
        page.wait_for_load_state("networkidle", timeout=LOAD_TIMEOUT_MS)
        layout = page.evaluate(LAYOUT_JS)
        found = illegible_figures(page, page.evaluate(FIGURES_JS))
        found += problems.report()
    if layout["pageWidth"] > layout["viewport"]:
        found.append(f"the page is {layout['pageWidth']} px wide: it scrolls sideways")
    found += [f"table wider than the page: {table}" for table in layout["overflowingTables"]]
    if layout["unlabelledCells"]:
        found.append(f"{layout['unlabelledCells']} cells of a wide table show no column name")
    assert not found, f"{docname}:\n  " + "\n  ".join(found)


SMALL_FIGURE_PAGE = """<!DOCTYPE html><html lang="en"><head><title>Figures</title>
<link rel="icon" href="data:,"><meta name="viewport" content="width=device-width, initial-scale=1">
</head><body><main><article class="bd-article"><div class="cell_output">
<img src="wide.svg" alt="a wide figure" style="max-width:100%">
<a href="wide.svg"><img src="wide.svg" alt="the same, tappable" style="max-width:100%"></a>
</div></article></main></body></html>"""

WIDE_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="630" height="300">'
            '<rect width="630" height="300" fill="teal"/></svg>')


def test_a_shrunken_figure_is_legible_only_when_it_links_to_its_image(browser, folder_server,
                                                                      tmp_path):
    (tmp_path / "figures.html").write_text(SMALL_FIGURE_PAGE)
    (tmp_path / "wide.svg").write_text(WIDE_SVG)
    with folder_server(tmp_path) as url, open_page(browser, url + "figures.html", url.rstrip("/"),
                                                   MODES["phone"]) as (page, _):
        figures = page.evaluate(FIGURES_JS)
        found = illegible_figures(page, figures)
    assert [figure["link"] is None for figure in figures] == [True, False]
    assert len(found) == 1 and "no link to the full-size image" in found[0], found
