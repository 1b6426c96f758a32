"""The site's root page is a complete page (scripts/book_ext/root_redirect.py).

Its effect in the browser is checked by tests/browser/test_book_navigation.py (the site's
address opens the first page without an error); this fast test pins down the page.
"""

from __future__ import annotations

from book_ext import root_redirect


def test_the_root_page_is_a_complete_page_that_asks_for_no_icon():
    page = root_redirect.redirect_page("book/intro.html", "CNN <Properties>", "en")
    assert page.startswith("<!DOCTYPE html>\n<html lang=\"en\">")
    assert '<meta http-equiv="refresh" content="0; url=book/intro.html">' in page
    assert '<link rel="icon" href="data:,">' in page
    assert "<title>CNN &lt;Properties&gt;</title>" in page
    assert '<a href="book/intro.html">CNN &lt;Properties&gt;</a>' in page
