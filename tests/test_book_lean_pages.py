"""The build rules that keep a page light (scripts/book_ext): what they remove and keep.

The pages' real weight is measured in the browser (tests/browser/test_book_page_weight.py);
the fast tests here pin down each rule on made-up input, and the last one checks the built
book: MathJax (0.8 MB with its fonts) is loaded by exactly the pages that have maths.
"""

from __future__ import annotations

import base64
import hashlib
from types import SimpleNamespace

import pytest
import yaml
from sphinx.builders.html._assets import _JavaScript

import book_pages
from book_ext import embedded_images, no_thebe, theme_scripts, widgets_where_shown

HEAD = """<link rel="preload" as="script" href="../_static/scripts/bootstrap.js?digest=1" />
  <script defer src="../_static/scripts/fontawesome.js?digest=1"></script>
  <script src="../_static/searchtools.js"></script>
  <script src="../searchindex.js"></script>
  <script>var fontawesome = "scripts/fontawesome.js";</script>
"""


def test_without_scripts_drops_only_the_named_script_tags():
    kept = str(theme_scripts.without_scripts(HEAD, "_static/scripts/fontawesome.js",
                                             "searchindex.js"))
    assert "fontawesome.js?digest" not in kept and "../searchindex.js" not in kept
    assert '<script src="../_static/searchtools.js"></script>' in kept
    assert 'rel="preload"' in kept and 'var fontawesome = "scripts/fontawesome.js"' in kept


def page_scripts():
    """A page's scripts as Sphinx holds them: by their path in the site."""
    return [_JavaScript("_static/documentation_options.js"),
            _JavaScript("", type=widgets_where_shown.WIDGET_STATE, body="{}"),
            _JavaScript("_static/npm/requirejs/require.js"),
            _JavaScript("_static/widget-setup.js"),
            _JavaScript("_static/npm/html-manager/embed-amd.js")]


WIDGETS_APP = SimpleNamespace(config=SimpleNamespace(nb_ipywidgets_js={
    "npm/requirejs/require.js": {}, "widget-setup.js": {}, "npm/html-manager/embed-amd.js": {}}))


def test_a_page_without_a_widget_view_loads_no_widget_manager():
    context = {"script_files": page_scripts(), "body": "<p>A slider made in a removed output.</p>"}
    widgets_where_shown.drop_unused_widget_scripts(WIDGETS_APP, "lab", "page.html", context, None)
    assert [script.filename for script in context["script_files"]] == [
        "_static/documentation_options.js"]


def test_a_page_that_shows_a_widget_keeps_the_manager():
    body = f'<script type="{widgets_where_shown.WIDGET_VIEW}">{{"model_id": "1"}}</script>'
    context = {"script_files": page_scripts(), "body": body}
    widgets_where_shown.drop_unused_widget_scripts(WIDGETS_APP, "lab", "page.html", context, None)
    assert len(context["script_files"]) == 5


def test_the_thebe_scripts_are_dropped_as_sphinx_holds_them():
    scripts = [_JavaScript("_static/sphinx-thebe.js", **{"async": "async"}),
               _JavaScript("", body='const THEBE_JS_URL = "https://unpkg.com/thebe"'),
               _JavaScript("_static/doctools.js")]
    context = {"script_files": scripts}
    no_thebe.drop_thebe_scripts(None, "page", "page.html", context, None)
    assert [script.filename for script in context["script_files"]] == ["_static/doctools.js"]


PNG = bytes.fromhex("89504e470d0a1a0a") + b"frame"


def test_embedded_images_become_files_named_by_their_content(tmp_path):
    url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    html = f'<img src="{url}"><script>var frames = [["{url}"]];</script>'
    result = embedded_images.externalise(html, tmp_path / "_images", "../../_images")
    name = hashlib.sha256(PNG).hexdigest() + ".png"
    assert result == (f'<img src="../../_images/{name}">'
                      f'<script>var frames = [["../../_images/{name}"]];</script>')
    assert (tmp_path / "_images" / name).read_bytes() == PNG


def test_an_embedded_url_that_is_not_base64_is_left_alone(tmp_path):
    html = '<img src="data:image/png;base64,abc">'  # 3 characters: not valid base64
    assert embedded_images.externalise(html, tmp_path, "_images") == html
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_mathjax_loads_exactly_on_the_pages_with_maths(built_book, repo_root):
    config = yaml.safe_load((repo_root / "_config.yml").read_text())["sphinx"]["config"]
    script = config["mathjax_path"]
    wrong = []
    for docname in book_pages.toc_docnames(repo_root / "_toc.yml"):
        html = (built_book / book_pages.html_path(docname)).read_text()
        has_maths = 'class="math' in html
        if has_maths != (script in html):
            wrong.append(f"{docname}: {'maths' if has_maths else 'no maths'}, MathJax "
                         f"{'loaded' if script in html else 'not loaded'}")
    assert not wrong, "\n".join(wrong)
