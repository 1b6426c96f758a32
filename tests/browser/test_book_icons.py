"""Every icon of every page is drawn: its glyph is in the icon font the site serves.

The build cuts the Font Awesome fonts down to the icons the site uses
(scripts/book_ext/icon_fonts.py). Here each page is opened, and for every element (shown
or not) whose ::before or ::after is drawn in a Font Awesome family, the glyph is looked up
in the font file that the site's stylesheet names for that family and weight, as served.
The fonts the page loaded must also have loaded without an error.
"""

from __future__ import annotations

import io
import re
from urllib.parse import urljoin

import pytest
from fontTools.ttLib import TTFont

import book_pages
from reader import MODES, open_page

pytestmark = pytest.mark.slow

PAGES = book_pages.toc_docnames()
STYLESHEET = "_static/styles/pydata-sphinx-theme.css"

ICONS_JS = """() => {
  const found = [];
  for (const element of document.querySelectorAll('*')) {
    for (const pseudo of ['::before', '::after']) {
      const style = getComputedStyle(element, pseudo);
      if (!/Font Awesome/.test(style.fontFamily) || !/^["']/.test(style.content)) continue;
      for (const char of style.content.slice(1, -1)) {
        const point = char.codePointAt(0);
        if (point >= 0xE000 && point <= 0xF8FF)
          found.push({point, family: style.fontFamily, weight: style.fontWeight,
                      element: element.tagName.toLowerCase() + '.' + [...element.classList].join('.')});
      }
    }
  }
  return found;
}"""

FAILED_FONTS_JS = """async () => { await document.fonts.ready;
  return [...document.fonts].filter(face => face.status === 'error').map(face => face.family); }"""


def family_name(css_family: str) -> str:
    return re.sub(r"[\"'\\]", "", css_family).split(",")[0].strip()


def served_fonts(request, site_url: str) -> dict[tuple[str, str], set[int]]:
    """(family, weight) -> the code points of the font file the stylesheet names for it."""
    css = request.get(site_url + STYLESHEET).text()
    fonts = {}
    for face in re.findall(r"@font-face\s*\{([^}]*)\}", css):
        family = re.search(r"font-family:([^;]+)", face)
        if not family or "Font Awesome" not in family[1]:
            continue
        weight = re.search(r"font-weight:\s*(\d+)", face)[1]
        url = re.search(r"url\(([^)]+\.woff2)\)", face)[1].strip("'\"")
        data = request.get(urljoin(site_url + STYLESHEET, url)).body()
        fonts[(family_name(family[1]), weight)] = set(TTFont(io.BytesIO(data)).getBestCmap())
    return fonts


@pytest.fixture(scope="module")
def fonts(browser, site_url):
    context = browser.new_context()
    try:
        return served_fonts(context.request, site_url)
    finally:
        context.close()


def missing_glyphs(icons: list[dict], fonts: dict) -> list[str]:
    """The icons drawn in one of the cut fonts that lack their glyph there. (An icon in
    another family, such as the widget manager's Font Awesome 5, has its own whole font.)"""
    missing = set()
    for icon in icons:
        key = (family_name(icon["family"]), icon["weight"])
        if key in fonts and icon["point"] not in fonts[key]:
            missing.add(f"U+{icon['point']:04X} in {key[0]} {key[1]} ({icon['element']})")
    return sorted(missing)


@pytest.mark.parametrize("docname", PAGES)
def test_every_icon_on_the_page_is_in_the_served_font(docname, browser, site_url, fonts):
    assert fonts, f"no Font Awesome font named in {STYLESHEET}"
    with open_page(browser, site_url + book_pages.html_path(docname), site_url.rstrip("/"),
                   MODES["light"]) as (page, problems):
        icons = page.evaluate(ICONS_JS)
        failed = page.evaluate(FAILED_FONTS_JS)
    assert icons, f"{docname}: no icon found; did the page or the check change?"
    found = missing_glyphs(icons, fonts) + [f"font failed to load: {f}" for f in failed]
    assert not found, f"{docname}:\n  " + "\n  ".join(found + problems.report())


def test_a_glyph_missing_from_the_font_is_reported():
    fonts = {("Font Awesome 6 Free", "900"): {0xF0C9}}
    icons = [{"point": 0xF0C9, "family": '"Font Awesome 6 Free"', "weight": "900",
              "element": "span.fa-bars"},
             {"point": 0xF002, "family": '"Font Awesome 6 Free"', "weight": "900",
              "element": "i.fa-magnifying-glass"},
             {"point": 0xF019, "family": '"Font Awesome 5 Free"', "weight": "900",
              "element": "i.fas.fa-download"}]
    assert missing_glyphs(icons, fonts) == [
        "U+F002 in Font Awesome 6 Free 900 (i.fa-magnifying-glass)"]
