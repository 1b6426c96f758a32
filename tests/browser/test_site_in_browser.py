"""Open every page of the built book in headless Chromium with the network cut off.

For each page of _toc.yml (so new pages are covered without editing this file):
- every request outside the local site is blocked, and any attempt is a failure;
- no console error, no uncaught exception, no failed request, no HTTP error;
- no script, stylesheet, image or frame refers to another origin, even one not loaded yet;
- math is typeset: at least one MathJax ``mjx-container`` per Sphinx math element, and
  no MathJax error;
- every <img> loaded (naturalWidth > 0), and every embedded widget rendered;
- launch buttons (Colab, Binder) appear exactly on .ipynb pages and point at that
  notebook in the repository; every download link answers with the file;
- a full-page screenshot goes to test-results/screenshots/.
And the search page finds "equivariance".
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from urllib.parse import urlparse

import pytest
import yaml

import book_pages
from reader import Problems

pytestmark = pytest.mark.slow

PAGES = book_pages.toc_docnames()
LOAD_TIMEOUT_MS = 30_000
VIEWPORT = {"width": 1280, "height": 900}

FOREIGN_RESOURCES_JS = """() => {
  const selector = 'script[src], link[href]:not([rel~="canonical"]), img[src], iframe[src],'
                 + ' source[src], video[src], audio[src], object[data], embed[src]';
  return [...document.querySelectorAll(selector)]
    .filter(el => el.tagName !== 'LINK' || !/^(alternate|next|prev|index|search)$/
                                                .test(el.getAttribute('rel') || ''))
    .map(el => el.src || el.href || el.data)
    .filter(url => url && !url.startsWith(location.origin) && !url.startsWith('data:'));
}"""

MATH_JS = """async waitMs => {
  const math = document.querySelectorAll('span.math, div.math').length;
  if (math === 0) return {math, typeset: 0, errors: 0};
  const deadline = Date.now() + waitMs;
  while (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) {
    if (Date.now() > deadline) return {math, typeset: 0, errors: 0, missing: true};
    await new Promise(resolve => setTimeout(resolve, 100));
  }
  await MathJax.startup.promise;
  return {math,
          typeset: document.querySelectorAll('mjx-container').length,
          errors: document.querySelectorAll('mjx-merror').length};
}"""

BROKEN_IMAGES_JS = """() => [...document.images]
  .filter(img => !(img.complete && img.naturalWidth > 0))
  .map(img => img.currentSrc || img.src || img.outerHTML.slice(0, 120))"""

# Figures drawn by the pages: every one needs a caption and an alt text that describes it
# (not the generated file's path, which is what a figure without one gets).
UNDESCRIBED_FIGURES_JS = """() => [...document.querySelectorAll('main .cell_output img')]
  .filter(img => !img.getAttribute('src').startsWith('data:'))   // the slider's frames
  .filter(img => !img.closest('figure') || !img.closest('figure').querySelector('figcaption')
                 || !img.alt || /[/\\\\]|\\.(png|svg|jpe?g)$/i.test(img.alt))
  .map(img => img.getAttribute('src'))"""

EAGER_IMAGES_JS = "() => document.querySelectorAll('img[loading=lazy]').forEach(i => i.loading = 'eager')"

WIDGET_VIEWS_JS = """() => document.querySelectorAll(
  'script[type="application/vnd.jupyter.widget-view+json"]').length"""

RENDERED_WIDGETS_JS = """views => document.querySelectorAll(
  '.widget-subarea > *, .jupyter-widgets').length >= views"""

SEARCH_FINISHED_JS = """() => /Search finished/.test(
  (document.querySelector('#search-results .search-summary') || {}).innerText || '')"""

HEADER_LINKS_JS = """() => ({
  launch: [...document.querySelectorAll('.dropdown-launch-buttons a[href]')].map(a => a.href),
  download: [...document.querySelectorAll('.dropdown-download-buttons a[href]')].map(a => a.href),
})"""


@contextmanager
def visit(browser, url: str, origin: str):
    """Open url in a fresh context that blocks every other origin; yield (page, problems)."""
    problems = Problems()
    context = browser.new_context(viewport=VIEWPORT, service_workers="block")

    def only_this_site(route):
        if route.request.url.startswith(origin):
            route.continue_()
        else:
            problems.outside.append(route.request.url)
            route.abort("blockedbyclient")

    context.route("**/*", only_this_site)
    page = context.new_page()
    page.on("console", lambda message: message.type == "error" and problems.console.append(
        f"{message.text} ({message.location.get('url', '')})"))
    page.on("pageerror", lambda error: problems.console.append(f"uncaught {error}"))
    page.on("requestfailed", lambda request: request.url.startswith(origin)
            and problems.requests.append(f"{request.url}: {request.failure}"))
    page.on("response", lambda response: response.status >= 400 and problems.requests.append(
        f"{response.url}: HTTP {response.status}"))
    try:
        page.goto(url, wait_until="load", timeout=LOAD_TIMEOUT_MS)
        page.wait_for_load_state("networkidle", timeout=LOAD_TIMEOUT_MS)
        yield page, problems
    finally:
        context.close()


def repository(repo_root) -> tuple[str, str]:
    """(org/name, branch) of the repository the book's buttons point at."""
    config = yaml.safe_load((repo_root / "_config.yml").read_text())["repository"]
    return urlparse(config["url"]).path.strip("/"), config["branch"]


def check_math(page, wait_ms: int = LOAD_TIMEOUT_MS) -> list[str]:
    math = page.evaluate(MATH_JS, wait_ms)
    if math.get("missing"):
        return [f"{math['math']} math elements but MathJax never started"]
    problems = []
    if math["typeset"] < math["math"]:
        problems.append(f"{math['math']} math elements, only {math['typeset']} typeset")
    if math["errors"]:
        problems.append(f"{math['errors']} MathJax errors (mjx-merror)")
    return problems


def check_images(page) -> list[str]:
    page.evaluate(EAGER_IMAGES_JS)
    page.wait_for_load_state("networkidle", timeout=LOAD_TIMEOUT_MS)
    return [f"image not loaded: {src}" for src in page.evaluate(BROKEN_IMAGES_JS)]


def check_figures(page) -> list[str]:
    return [f"figure without a caption or a describing alt text: {src}"
            for src in page.evaluate(UNDESCRIBED_FIGURES_JS)]


def check_widgets(page) -> list[str]:
    views = page.evaluate(WIDGET_VIEWS_JS)
    if not views:
        return []
    try:
        page.wait_for_function(RENDERED_WIDGETS_JS, arg=views, timeout=LOAD_TIMEOUT_MS)
    except Exception:  # Playwright's TimeoutError: report, don't crash the other checks
        return [f"{views} widget views embedded but not rendered"]
    return []


def check_launch_buttons(links: list[str], docname: str, repo_root) -> list[str]:
    source = book_pages.source_path(docname, repo_root)
    relative = source.relative_to(repo_root).as_posix()
    if source.suffix != ".ipynb":
        return [f"launch buttons on a {source.suffix} page: {links}"] if links else []
    slug, branch = repository(repo_root)
    expected = {"colab.research.google.com", "mybinder.org"}
    hosts = {urlparse(link).hostname for link in links}
    problems = [f"launch buttons missing: {sorted(expected - hosts)}"] if expected - hosts else []
    for link in links:
        if slug not in link or branch not in link or not link.endswith(relative):
            problems.append(f"launch link does not open {slug}@{branch}:{relative}: {link}")
    return problems


def check_downloads(page, links: list[str]) -> list[str]:
    if not links:
        return ["no download button"]
    problems = []
    for link in links:
        response = page.request.get(link)
        if not response.ok or not response.body():
            problems.append(f"download {link}: HTTP {response.status}")
        elif link.endswith(".ipynb") and "cells" not in json.loads(response.body()):
            problems.append(f"download {link}: not a notebook")
    return problems


@pytest.mark.parametrize("docname", PAGES)
def test_page_renders_offline(docname, browser, site_url, screenshot_dir, repo_root):
    origin = site_url.rstrip("/")
    with visit(browser, site_url + book_pages.html_path(docname), origin) as (page, problems):
        found = [f"refers to another origin: {url}"
                 for url in page.evaluate(FOREIGN_RESOURCES_JS)]
        found += check_math(page)
        found += check_images(page)
        if docname.startswith(("book/chapters/", "book/labs/")):
            found += check_figures(page)
        found += check_widgets(page)
        links = page.evaluate(HEADER_LINKS_JS)
        found += check_launch_buttons(links["launch"], docname, repo_root)
        found += check_downloads(page, links["download"])
        page.screenshot(path=screenshot_dir / f"{docname.replace('/', '__')}.png",
                        full_page=True)
        found += problems.report()
    assert not found, f"{docname}:\n  " + "\n  ".join(found)


def test_search_finds_equivariance(browser, site_url, screenshot_dir):
    origin = site_url.rstrip("/")
    with visit(browser, site_url + "search.html?q=equivariance", origin) as (page, problems):
        # Wait for the whole list: Sphinx adds the results one by one, then this line.
        page.wait_for_function(SEARCH_FINISHED_JS, timeout=LOAD_TIMEOUT_MS)
        hits = page.eval_on_selector_all("#search-results li a",
                                         "links => links.map(a => a.getAttribute('href'))")
        page.screenshot(path=screenshot_dir / "search.png", full_page=True)
        found = problems.report()
    pages_hit = {href.split(".html")[0] for href in hits}
    assert pages_hit & set(PAGES), f"search results {hits} name no page of the book"
    assert not found, "search page:\n  " + "\n  ".join(found)


BROKEN_PAGE = """<!DOCTYPE html><html><head>
<script src="https://cdn.example.org/lib.js"></script>
</head><body>
<p>Inline math <span class="math notranslate nohighlight">\\(x^2\\)</span>, no MathJax.</p>
<img src="figures/never_drawn.png" alt="missing">
<script>console.error("a script failed");</script>
</body></html>"""


def test_the_checks_catch_a_broken_page(browser, folder_server, tmp_path):
    """The same checks, on a page that breaks every rule, report every problem."""
    (tmp_path / "broken.html").write_text(BROKEN_PAGE)
    with folder_server(tmp_path) as url, visit(browser, url + "broken.html", url.rstrip("/")) as (
            page, problems):
        foreign = page.evaluate(FOREIGN_RESOURCES_JS)
        math = check_math(page, wait_ms=1000)
        images = check_images(page)
        report = problems.report()
    assert foreign == ["https://cdn.example.org/lib.js"]
    assert math == ["1 math elements but MathJax never started"]
    assert len(images) == 1 and images[0].endswith("figures/never_drawn.png")
    assert "request outside the site (blocked): https://cdn.example.org/lib.js" in report
    assert any("never_drawn.png: HTTP 404" in line for line in report)
    assert any("a script failed" in line for line in report)


WIDGET_PAGE_CELLS = (
    "import ipywidgets as widgets\n"
    "widgets.IntSlider(value=3, min=0, max=9, description=r'shift $s$')",
    "widgets.Button(description='Go', icon='check')",  # an icon needs the widget fonts
)


def test_widgets_and_math_render_offline_on_a_nested_page(tiny_book, browser, folder_server):
    """Interactive widgets embedded by the build work with no network, from a subfolder.

    No page of the book may use ipywidgets yet; this makes sure the offline widget
    manager (require.js, widget-setup.js, embed-amd.js and its fonts) works when one does.
    """
    source = tiny_book.myst_notebook(*WIDGET_PAGE_CELLS,
                                     prose="A shift $T_s$ of the input:\n\n$$f(T_s x)$$\n\n")
    result = tiny_book.build({"labs/widgets.md": source})
    assert result.returncode == 0, result.stdout[-3000:]
    with folder_server(tiny_book.html) as url, visit(
            browser, url + "labs/widgets.html", url.rstrip("/")) as (page, problems):
        views = page.evaluate(WIDGET_VIEWS_JS)
        found = check_widgets(page) + check_math(page) + check_images(page)
        found += [f"refers to another origin: {u}" for u in page.evaluate(FOREIGN_RESOURCES_JS)]
        found += problems.report()
    assert views == 2
    assert not found, "\n".join(found)
