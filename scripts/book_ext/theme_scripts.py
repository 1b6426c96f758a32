"""Leave the theme's scripts that no page of the book uses out of every page.

pydata-sphinx-theme writes a few script tags straight into its layout, where no Sphinx
setting reaches them: fontawesome.js (1.5 MB, a third of a page's weight) on every page,
and Sphinx's search scripts with the whole search index on every page for a
search-as-you-type field the book does not use. ``templates/layout.html`` extends the
theme's layout and passes those two blocks through the ``without_scripts`` filter
registered here (theme_templates.py puts that layout ahead of the theme's). The icons
still show: the theme's stylesheet draws each one from the Font Awesome web fonts, which
is all fontawesome.js did again, as SVG. The dropped files are removed from the site.
"""

from __future__ import annotations

import re
from pathlib import Path

from markupsafe import Markup

# The files dropped from _static after the build: no page loads them any more.
UNUSED_THEME_FILES = ("scripts/fontawesome.js", "scripts/fontawesome.js.map",
                      "scripts/fontawesome.js.LICENSE.txt")
SCRIPT_TAG = re.compile(r'<script\b[^>]*?\bsrc="(?P<src>[^"]*)"[^>]*>\s*</script>[ \t]*\n?')


def without_scripts(html: str, *paths: str) -> Markup:
    """``html`` without the <script src=...> tags whose path (query left out) ends with
    one of ``paths``."""
    def keep(tag: re.Match) -> str:
        src = tag["src"].split("?", 1)[0]
        return "" if src.endswith(paths) else tag[0]
    return Markup(SCRIPT_TAG.sub(keep, str(html)))


def register_filter(app):
    templates = getattr(app.builder, "templates", None)
    if templates is not None and hasattr(templates, "environment"):
        templates.environment.filters["without_scripts"] = without_scripts


def remove_unused_files(app, exception):
    if exception is None and app.builder.format == "html":
        for name in UNUSED_THEME_FILES:
            (Path(app.outdir) / "_static" / name).unlink(missing_ok=True)


def setup(app):
    app.connect("builder-inited", register_filter)
    app.connect("build-finished", remove_unused_files)
