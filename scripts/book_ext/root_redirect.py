"""Give the site an icon, and write its root page, index.html, as a complete page that
sends readers to the book's first page.

Chromium asks a page that names no icon for /favicon.ico, which the site has not got: a
404 on every visit. Unless ``html_favicon`` is set, it is static/favicon.svg, which every
page then names.

The book's first page is book/intro.html, so Jupyter Book's table of contents extension
writes a one-line index.html holding only a refresh tag: the site's address logged that
404. This page has a language, a title, a link for a reader whose browser does not follow
the refresh, and an empty icon (``data:,``): it leaves at once, so a request for the
book's icon would only be cut off. It is written before the extension's handler, which
then leaves an existing index.html alone.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

ICON = Path(__file__).parent / "static" / "favicon.svg"

PAGE = """<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<title>{title}</title>
<meta http-equiv="refresh" content="0; url={target}">
<link rel="icon" href="data:,">
</head>
<body>
<p><a href="{target}">{title}</a></p>
</body>
</html>
"""


def redirect_page(target: str, title: str, lang: str) -> str:
    return PAGE.format(target=escape(target), title=escape(title), lang=escape(lang))


def write_root_page(app, exception):
    if exception is not None or app.builder.format != "html" or app.config.root_doc == "index":
        return
    page = redirect_page(app.builder.get_target_uri(app.config.root_doc),
                         app.config.html_title or app.config.project, app.config.language or "en")
    Path(app.outdir, "index.html").write_text(page, encoding="utf-8")


def default_icon(app, config):
    if not config.html_favicon:
        config.html_favicon = str(ICON)


def setup(app):
    app.connect("config-inited", default_icon)
    # before sphinx-external-toc's ensure_index_file (priority 500)
    app.connect("build-finished", write_root_page, priority=400)
