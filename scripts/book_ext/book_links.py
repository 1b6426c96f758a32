"""Turn links to the published book into links inside this build.

The exercise notebooks are handed to students on their own (nbgrader's release), where a
relative link to a chapter would lead nowhere, so they link to the chapters by absolute
URL on the published site. The same notebooks are pages of this book, which must work
offline and may be built before (or without) the site being published. So every link whose
address starts with the site's address, ``html_baseurl`` in ``_config.yml`` (the one place
it is configured), is rewritten here into a relative link to the page of this build.

A link to a page this build does not have, or whose text is not that page's title, is a
warning, which fails the strict build: the exercises cannot point at a chapter that moved,
nor call it by another name.
"""

from docutils import nodes
from sphinx.util import logging

logger = logging.getLogger(__name__)


def linked_page(refuri: str, baseurl: str) -> tuple[str, str] | None:
    """(docname, "#anchor" or "") of a link to the published book, else None."""
    if not baseurl or not refuri.startswith(baseurl):
        return None
    path, _, anchor = refuri[len(baseurl):].partition("#")
    if not path.endswith(".html"):
        return path, ("#" + anchor if anchor else "")
    return path[: -len(".html")], ("#" + anchor if anchor else "")


def problem(docname: str, text: str, titles: dict) -> str | None:
    """Why a link with ``text`` to ``docname`` is wrong, or None."""
    if docname not in titles:
        return f"links to {docname!r}, which is not a page of this book"
    if text != titles[docname]:
        return f"calls the page {docname!r} {text!r}, but its title is {titles[docname]!r}"
    return None


def localise_book_links(app, doctree, fromdocname):
    baseurl = app.config.html_baseurl
    titles = {name: title.astext() for name, title in app.env.titles.items()}
    for ref in list(doctree.findall(nodes.reference)):
        target = linked_page(ref.get("refuri", ""), baseurl)
        if target is None:
            continue
        docname, anchor = target
        why = problem(docname, ref.astext(), titles)
        if why:
            logger.warning(f"book_links: a link in {fromdocname} {why}", location=ref)
            continue
        ref["refuri"] = app.builder.get_relative_uri(fromdocname, docname) + anchor
        ref["internal"] = True


def setup(app):
    app.connect("doctree-resolved", localise_book_links)
