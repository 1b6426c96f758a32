"""No page of the book weighs more than 2 MB on a fresh load.

A page's weight is every byte the browser fetches to show it: the HTML, its styles,
scripts, fonts and images, as the site's static server sends them (Python's http.server:
no compression), into a fresh context (empty cache). Images the browser would load
lazily are loaded too, as when the reader scrolls to the end. Every page of _toc.yml is
weighed; the weights go to test-results/page_weights.txt, the heaviest first. The build
prints the whole site's size (scripts/build_book.py).
"""

from __future__ import annotations

import pytest

import book_pages
from reader import LOAD_TIMEOUT_MS, MODES, open_page

pytestmark = pytest.mark.slow

PAGES = book_pages.toc_docnames()
BUDGET_BYTES = 2_000_000

EAGER_IMAGES_JS = """() => document.querySelectorAll('img[loading=lazy]')
  .forEach(image => { image.loading = 'eager'; })"""


def page_weight(browser, url: str, origin: str) -> dict[str, int]:
    """Bytes of each response a fresh load of ``url`` received (URL -> bytes)."""
    received: dict[str, int] = {}

    def record(response):
        if response.status < 300:
            received[response.url] = len(response.body())

    with open_page(browser, "about:blank", origin, MODES["light"]) as (page, problems):
        page.on("response", record)
        page.goto(url, wait_until="load", timeout=LOAD_TIMEOUT_MS)
        page.wait_for_load_state("networkidle", timeout=LOAD_TIMEOUT_MS)
        page.evaluate(EAGER_IMAGES_JS)
        page.wait_for_load_state("networkidle", timeout=LOAD_TIMEOUT_MS)
        page.wait_for_timeout(200)  # a font or image the last response asked for
        page.wait_for_load_state("networkidle", timeout=LOAD_TIMEOUT_MS)
        assert not problems.report(), problems.report()
    return received


def heaviest(received: dict[str, int], origin: str, count: int = 5) -> str:
    items = sorted(received.items(), key=lambda item: -item[1])[:count]
    return ", ".join(f"{url.removeprefix(origin)} {size / 1e3:.0f} kB" for url, size in items)


@pytest.fixture(scope="module")
def weights_file(repo_root):
    weights: dict[str, int] = {}
    yield weights
    if weights:
        folder = repo_root / "test-results"
        folder.mkdir(exist_ok=True)
        lines = [f"{size / 1e6:5.2f} MB  {docname}"
                 for docname, size in sorted(weights.items(), key=lambda item: -item[1])]
        (folder / "page_weights.txt").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("docname", PAGES)
def test_page_weighs_at_most_2_mb(docname, browser, site_url, weights_file):
    origin = site_url.rstrip("/")
    received = page_weight(browser, site_url + book_pages.html_path(docname), origin)
    total = sum(received.values())
    weights_file[docname] = total
    assert total <= BUDGET_BYTES, (
        f"{docname}: {total / 1e6:.2f} MB on a fresh load, over the {BUDGET_BYTES / 1e6:.0f} MB "
        f"budget; heaviest: {heaviest(received, origin + '/')}")


def test_the_weight_counts_every_byte_a_page_loads(browser, folder_server, tmp_path):
    """A page with a 1.5 MB script, a lazily loaded 0.8 MB image and a style weighs their
    sum and the page itself: over the budget."""
    (tmp_path / "big.js").write_bytes(b"//" + b"x" * 1_499_998)
    (tmp_path / "style.css").write_text("p { color: black; }\n")
    image = tmp_path / "figure.png"
    image.write_bytes(bytes.fromhex("89504e470d0a1a0a") + b"\0" * 799_992)  # only its bytes count
    html = ('<!DOCTYPE html><html lang="en"><head><title>Heavy</title><link rel="icon" href="data:,">'
            '<link rel="stylesheet" href="style.css"><script src="big.js"></script></head>'
            '<body><p>Far below:</p><div style="height:5000px"></div>'
            '<img src="figure.png" alt="a figure" loading="lazy"></body></html>')
    (tmp_path / "heavy.html").write_text(html)
    with folder_server(tmp_path) as url:
        received = page_weight(browser, url + "heavy.html", url.rstrip("/"))
    expected = sum(path.stat().st_size for path in tmp_path.iterdir())
    assert sum(received.values()) == expected > BUDGET_BYTES
