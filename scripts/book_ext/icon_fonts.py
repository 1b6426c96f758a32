"""Cut the theme's icon fonts down to the icons the site uses.

The theme draws its icons (menu, search, download, GitHub, ...) with the Font Awesome web
fonts: 156 kB for the solid icons and 118 kB for the brands, about 2,000 icons, of which
a page of the book shows about twenty, and every page downloads both fonts. After the
build, each Font Awesome font the theme's stylesheet names is rewritten in place, in its
own format, with only the glyphs the site can show:

- the icon of every ``fa-<name>`` class that appears in a page or in a script of
  ``_static`` (a script may add an icon later, e.g. the theme's close button; the widget
  manager in ``_static/npm`` has fonts of its own), looked up in the stylesheets'
  ``.fa-<name>:before {content: ...}`` rules;
- every icon a stylesheet draws in a rule of its own (``content``, or a ``--pst-icon-*``
  variable: admonition titles, external links, ...).

The stylesheets are unchanged, so the fonts keep their names. The browser test
tests/browser/test_book_icons.py checks every icon of every page against the served fonts.
fontTools (which matplotlib requires) writes woff2 with the brotli package.
"""

from __future__ import annotations

import re
from pathlib import Path

from sphinx.util import logging

logger = logging.getLogger(__name__)

FAMILY = "Font Awesome"
RULE = re.compile(r"([^{}]*)\{([^{}]*)\}")
ICON_CLASS = re.compile(r"\bfa-[a-z0-9]+(?:-[a-z0-9]+)*\b")
CLASS_SELECTOR = re.compile(r"\.(fa-[a-z0-9-]+)::?(?:before|after)")
ESCAPE = re.compile(r"\\([0-9a-fA-F]{1,6})\s?")
URL = re.compile(r"url\(\s*['\"]?([^'\")?#]+)")


def private_use(text: str) -> set[int]:
    """The private-use code points (where icon fonts put their glyphs) in CSS text,
    written as characters or as escapes."""
    points = {int(code, 16) for code in ESCAPE.findall(text)}
    points |= {ord(char) for char in text}
    return {point for point in points if 0xE000 <= point <= 0xF8FF or 0xF0000 <= point}


def read_stylesheets(css_texts: list[str]) -> tuple[dict[str, set[int]], set[int]]:
    """(icon class -> its code points, code points drawn by other rules)."""
    by_class: dict[str, set[int]] = {}
    drawn: set[int] = set()
    for css in css_texts:
        css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
        for selectors, body in RULE.findall(css):
            points = private_use(body)
            if not points or selectors.strip().startswith("@font-face"):
                continue
            names = [CLASS_SELECTOR.fullmatch(s.strip()) for s in selectors.split(",")]
            if all(names):
                for name in names:
                    by_class.setdefault(name[1], set()).update(points)
            else:
                drawn |= points
    return by_class, drawn


def font_files(css_path: Path) -> list[Path]:
    """The files of the stylesheet's Font Awesome @font-face rules."""
    files = []
    for face in re.findall(r"@font-face\s*\{([^}]*)\}", css_path.read_text(encoding="utf-8")):
        if FAMILY in face.replace("\\", ""):
            files += [(css_path.parent / url).resolve() for url in URL.findall(face)]
    return files


def used_icon_points(site: Path) -> tuple[set[int], list[Path]]:
    """The code points the site can show, and the Font Awesome font files it serves."""
    static = site / "_static"
    stylesheets = sorted(static.rglob("*.css"))
    by_class, drawn = read_stylesheets([path.read_text(encoding="utf-8") for path in stylesheets])
    classes: set[str] = set()
    # the theme's and Sphinx's scripts; not npm/ (the widget manager brings its own fonts)
    scripts = [path for path in static.rglob("*.js") if "npm" not in path.relative_to(static).parts]
    for path in [*site.rglob("*.html"), *scripts]:
        classes |= set(ICON_CLASS.findall(path.read_text(encoding="utf-8", errors="replace")))
    points = set(drawn)
    for name in classes:
        points |= by_class.get(name, set())
    fonts = sorted({font for css in stylesheets for font in font_files(css) if font.is_file()})
    return points, fonts


def subset_font(path: Path, points: set[int]) -> tuple[int, int]:
    """Rewrite the font at ``path`` in its format with only the glyphs of ``points`` it
    has; return (bytes before, bytes after)."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    before = path.stat().st_size
    font = TTFont(path)
    flavor = font.flavor  # None (ttf), "woff" or "woff2"
    keep = points & set(font.getBestCmap())
    options = subset.Options()
    options.flavor = flavor
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=keep)
    subsetter.subset(font)
    font.flavor = flavor
    font.save(path)
    return before, path.stat().st_size


def subset_icon_fonts(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    points, fonts = used_icon_points(Path(app.outdir))
    before = after = 0
    for font in fonts:
        sizes = subset_font(font, points)
        before, after = before + sizes[0], after + sizes[1]
    logger.info(f"icon fonts: {len(points)} icons kept, {len(fonts)} files "
                f"{before / 1e3:.0f} kB -> {after / 1e3:.0f} kB")


def setup(app):
    app.connect("build-finished", subset_icon_fonts)
