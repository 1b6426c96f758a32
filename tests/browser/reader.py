"""How the book's browser tests open a page as a reader would.

Three ways of reading (``MODES``): a desktop window in light mode, the same in dark mode
(the reader's system prefers dark; the book follows it), and a phone 390 pixels wide.
``open_page`` opens a page of the served site in a fresh context (empty cache, no
service worker), blocks every request to another origin, and collects what went wrong:
console errors, failed requests, HTTP errors, requests outside the site.

``run_axe`` runs axe-core, pinned in scripts/js_assets.json and staged by
``scripts/setup.sh test``, with the rules the book promises: WCAG 2.1 A and AA, plus the
best-practice rules ``region`` (no content outside a landmark) and ``empty-table-header``.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import js_assets

LOAD_TIMEOUT_MS = 30_000
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}  # CSS pixels of a common phone


@dataclass(frozen=True)
class Mode:
    name: str
    viewport: dict
    color_scheme: str
    phone: bool = False

    def context_options(self) -> dict:
        options = {"viewport": self.viewport, "color_scheme": self.color_scheme,
                   "service_workers": "block"}
        if self.phone:
            options.update(is_mobile=True, has_touch=True, device_scale_factor=3)
        return options


MODES = {mode.name: mode for mode in (
    Mode("light", DESKTOP, "light"),
    Mode("dark", DESKTOP, "dark"),
    Mode("phone", PHONE, "light", phone=True),
)}


@dataclass
class Problems:
    """Everything that went wrong while a page was open."""

    console: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)

    def report(self) -> list[str]:
        return ([f"console: {m}" for m in self.console]
                + [f"request failed: {m}" for m in self.requests]
                + [f"request outside the site (blocked): {m}" for m in self.outside])


@contextmanager
def open_page(browser, url: str, origin: str, mode: Mode = MODES["light"], route: bool = True):
    """Open ``url`` as ``mode`` reads it; yield (page, problems).

    ``route=False`` lets requests go without interception: Chromium then also asks for
    /favicon.ico when a page names no icon, which it never does while requests are routed.
    """
    problems = Problems()
    context = browser.new_context(**mode.context_options())

    def only_this_site(route):
        if route.request.url.startswith(origin):
            route.continue_()
        else:
            problems.outside.append(route.request.url)
            route.abort("blockedbyclient")

    if route:
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


MATHJAX_DONE_JS = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
}"""

AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "rules": {"region": {"enabled": True}, "empty-table-header": {"enabled": True}},
    "resultTypes": ["violations"],
}


def axe_source() -> str:
    return js_assets.staged_file("axe-core", "axe.min.js").read_text(encoding="utf-8")


def run_axe(page, source: str) -> list[dict]:
    """axe-core's violations on the page as it is now (after MathJax typeset it)."""
    page.evaluate(MATHJAX_DONE_JS)
    page.add_script_tag(content=source)
    return page.evaluate("options => axe.run(document, options)", AXE_OPTIONS)["violations"]


def describe_violations(violations: list[dict], examples: int = 3) -> list[str]:
    """One line per rule (impact, rule, count, help), then its first elements."""
    lines = []
    for rule in violations:
        nodes = rule["nodes"]
        lines.append(f"{rule['impact']} {rule['id']}: {len(nodes)} element(s): {rule['help']}")
        for node in nodes[:examples]:
            summary = (node.get("failureSummary") or "").replace("\n", " ")[:200]
            lines.append(f"    {' > '.join(map(str, node['target']))}: {summary}")
    return lines
