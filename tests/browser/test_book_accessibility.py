"""axe-core finds no violation on any page of the book, in light mode, dark mode and on a
phone.

The rules (reader.AXE_OPTIONS): WCAG 2.1 A and AA, plus the best-practice rules
``region`` and ``empty-table-header``. Every page of _toc.yml is checked in each mode,
after MathJax has typeset it; one violation of any impact fails the page. A last test
shows the same check failing on a page made of known violations.
"""

from __future__ import annotations

import pytest

import book_pages
from reader import AXE_OPTIONS, MODES, axe_source, describe_violations, open_page, run_axe

pytestmark = pytest.mark.slow

PAGES = book_pages.toc_docnames()


@pytest.fixture(scope="module")
def axe():
    return axe_source()


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("docname", PAGES)
def test_axe_finds_no_violation(docname, mode, browser, site_url, axe):
    reading = MODES[mode]
    with open_page(browser, site_url + book_pages.html_path(docname), site_url.rstrip("/"),
                   reading) as (page, problems):
        theme = page.evaluate("() => document.documentElement.dataset.theme")
        violations = run_axe(page, axe)
    assert theme == reading.color_scheme, f"{docname}: the page did not switch to {mode} mode"
    assert not violations, f"{docname} ({mode}):\n  " + "\n  ".join(describe_violations(violations))


INACCESSIBLE_PAGE = """<!DOCTYPE html><html lang="en"><head><title>Broken</title></head><body>
<main>
<p style="color:#9ca4af;background:#ced6dd">A caption of 1.7:1</p>
<button aria-label="Search"><span>Search</span> <kbd>Ctrl</kbd>+<kbd>K</kbd></button>
<table><thead><tr><th></th><th>a</th></tr></thead><tbody><tr><th>0</th><td>1</td></tr></tbody></table>
</main>
<p>Text outside every landmark.</p>
</body></html>"""


def test_the_axe_check_reports_each_kind_of_violation(browser, folder_server, tmp_path, axe):
    (tmp_path / "broken.html").write_text(INACCESSIBLE_PAGE)
    with folder_server(tmp_path) as url, open_page(browser, url + "broken.html",
                                                   url.rstrip("/")) as (page, _):
        violations = run_axe(page, axe)
    found = {rule["id"] for rule in violations}
    assert found == {"color-contrast", "label-content-name-mismatch", "empty-table-header",
                     "region"}, describe_violations(violations)


def test_the_back_to_top_button_a_reader_scrolls_back_to_on_a_phone_has_no_violation(browser, site_url, axe):
    """The theme shows it only below 1200 px and after the reader scrolls down and back up, which a page
    as loaded never has: axe checks it there, on the longest page."""
    docname = "book/instructors/protections"
    with open_page(browser, site_url + book_pages.html_path(docname), site_url.rstrip("/"),
                   MODES["phone"]) as (page, problems):
        page.evaluate("() => window.scrollTo(0, document.documentElement.scrollHeight)")
        page.wait_for_timeout(300)                     # down to the end, then back up a little: the theme
        page.evaluate("() => window.scrollBy(0, -300)")  # shows the button on a scroll up past the header
        page.locator("#pst-back-to-top").wait_for(state="visible", timeout=10_000)
        page.add_script_tag(content=axe)
        violations = page.evaluate("options => axe.run('#pst-back-to-top', options)", AXE_OPTIONS)["violations"]
    assert not violations, f"{docname} (phone):\n  " + "\n  ".join(describe_violations(violations))
