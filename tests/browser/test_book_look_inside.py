"""The chapter that looks inside a trained network shows what its code computed, in the built book.

The page trains a network and measures it while the book is built; every number in its prose is
glued in from that run. In headless Chromium, as a reader opens it: each of its figures loads
(a decoded image, not a broken link) and says what it shows, and each generated sentence is
there with its numbers, with no glue role left unrendered.
"""

from __future__ import annotations

import re

import pytest

from reader import MODES, open_page

pytestmark = pytest.mark.slow

PAGE = "book/chapters/look_inside.html"
# The page's captioned figures: filters, moving feature maps, occlusion, saliency.
FIGURES = 4
# Generated sentences, each a fixed opening and the computed numbers that follow it.
SENTENCES = {
    "the training run, naming its data, size and budget":
        r"Trained on this page for \d+ epochs of Adam .* on one CPU thread, \d+\.\d s in all, "
        r"on [\d,]+ training digits from .*MNIST.*, the network classifies \d+% of [\d,]+ "
        r"held-out digits from the same source correctly",
    "the shift check of the last layer":
        r"for every other shift the error is at least \d\.\d\d",
    "the saliency's share off the ink": r"\d+% of the saliency falls on pixels with no ink",
    "the centre-of-mass check": r"follows the digit to within \d+\.\d\d pixels on average",
}

FIGURE_STATE_JS = """() => Array.from(document.querySelectorAll('main figure img')).map(img => ({
  src: img.getAttribute('src'), alt: img.getAttribute('alt') || '',
  complete: img.complete, width: img.naturalWidth}))"""


@pytest.fixture(scope="module")
def chapter(browser, site_url):
    """(figures, text of the article) of the page as a desktop reader sees it."""
    with open_page(browser, site_url + PAGE, site_url.rstrip("/"), MODES["light"]) as (page,
                                                                                     problems):
        for image in page.locator("main figure img").all():
            image.scroll_into_view_if_needed()       # a lazily loaded image loads when shown
        page.wait_for_load_state("networkidle")
        page.wait_for_function("() => Array.from(document.querySelectorAll('main figure img'))"
                               ".every(img => img.complete)")
        figures = page.evaluate(FIGURE_STATE_JS)
        text = page.locator("main article").inner_text()
        assert not problems.report(), problems.report()
    return figures, text


def test_every_figure_of_the_chapter_loads_and_says_what_it_shows(chapter):
    figures, _ = chapter
    assert len(figures) == FIGURES, [figure["src"] for figure in figures]
    for figure in figures:
        assert figure["complete"] and figure["width"] > 0, f"{figure['src']} did not load"
        assert len(figure["alt"].split()) >= 8, f"{figure['src']} has no real alt text"


@pytest.mark.parametrize("name", list(SENTENCES))
def test_each_generated_sentence_is_there_with_its_numbers(chapter, name):
    _, text = chapter
    flat = " ".join(text.split())
    assert re.search(SENTENCES[name], flat), f"{name}: not found on the page"


def test_no_glue_role_is_left_unrendered(chapter):
    _, text = chapter
    assert "{glue" not in text and "glue:text" not in text
