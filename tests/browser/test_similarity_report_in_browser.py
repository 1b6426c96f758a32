"""The similarity report in headless Chromium, offline: the matches are there to see, and nothing runs.

The known-answer class of ``tests/similarity_class.py``, joined by a student whose answer cell tries to
close the page's tags and open a script, is compared with ``python -m autograder.similarity``; the report
folder is served on localhost with every other request refused, and opened at desktop and phone width:

* the ranking lists the copied pairs first, and its first row's link leads to that pair's code, both
  sides next to each other at desktop width (one above the other on a phone), with the shared stretches
  marked and styled (the page's one stylesheet is allowed by its hash in the Content-Security-Policy,
  so a wrong hash would leave the marks unstyled and log a refusal);
* the page asks for nothing but itself, runs no script (no dialog opens), and logs no error.

Screenshots go to ``test-results/screenshots/similarity-*.png``.
"""
import pytest

import corpus
import similarity_class as sc
from browser.conftest import in_chromium, serve

pytestmark = pytest.mark.slow

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 3}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
HOSTILE_CODE = ("    # </code></pre><script>alert('comment')</script>\n"
                "    out = np.zeros(3)  # <img src=x onerror=alert('image')>\n")

PROBE = """() => {
  const rows = [...document.querySelectorAll('table.ranking tbody tr')].map(tr =>
      [...tr.querySelectorAll('td')].map(td => td.innerText));
  const section = document.querySelector(location.hash || '#pair-1');
  const figures = [...section.querySelectorAll('.sides')[0].querySelectorAll('figure')].map(f => {
      const r = f.getBoundingClientRect(); return {left: r.left, top: r.top, width: r.width}; });
  const marks = [...section.querySelectorAll('mark')];
  return {
    rows, hash: location.hash, sectionTop: section.getBoundingClientRect().top,
    heading: section.querySelector('h2').innerText, figures,
    marks: marks.length, markedText: marks.map(m => m.innerText).join(''),
    markColour: marks.length ? getComputedStyle(marks[0]).backgroundColor : '',
    scripts: document.scripts.length, text: document.body.innerText,
    scrollWidth: document.documentElement.scrollWidth,
  };
}"""


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    course = sc.make_class_course(tmp_path_factory.mktemp("similarity-browser"))
    corpus.write_submission(course, "mallory", "numpy_cnn",
                            {**sc.INDEPENDENT["einsum"], "conv_forward_naive": sc.filled("conv_forward_naive", HOSTILE_CODE)})
    status, folder = sc.run_similarity(course)
    assert status == 0
    return folder


def look(page, url, origin, context_options, screenshot):
    """Open ``url``, follow the first ranking link, and report what is on the screen."""
    context = page.context.browser.new_context(**context_options)
    try:
        page = context.new_page()
        requested, console, dialogs = [], [], []
        page.on("request", lambda request: requested.append(request.url))
        page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(origin) else route.abort())
        page.goto(url, wait_until="load")
        page.click("table.ranking tbody tr:first-child a")
        page.wait_for_timeout(300)
        seen = page.evaluate(PROBE)
        page.screenshot(path=str(screenshot))
        return {**seen, "requested": requested, "console": console, "dialogs": dialogs}
    finally:
        context.close()


@pytest.fixture(scope="module")
def seen(report, repo_root):
    shots = repo_root / "test-results" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with serve(report) as origin:
        return {name: {**in_chromium(look, origin + "report.html", origin, options, shots / f"similarity-{name}.png"),
                       "url": origin + "report.html"}
                for name, options in (("desktop", DESKTOP), ("phone", PHONE))}


def test_the_ranking_lists_the_copied_pairs_first(seen):
    # mallory copied three of einsum's four functions: eight copied pairs in all.
    rows = seen["desktop"]["rows"]
    assert all(sc.is_copied_pair(row[1], row[2]) or {row[1], row[2]} == {"mallory", "einsum"}
               for row in rows[:8]), rows[:9]
    assert rows[0][1:4] == ["instructor", "renamed", "100%"]


def test_the_first_link_shows_that_pairs_code_side_by_side_with_the_matches_marked(seen):
    desktop, phone = seen["desktop"], seen["phone"]
    for report in (desktop, phone):
        assert report["hash"] == "#pair-1" and abs(report["sectionTop"]) < 5
        assert report["heading"] == "1. instructor and renamed: 100%"
        assert report["marks"] >= 8 and "np.pad" in report["markedText"]
        assert report["markColour"] == "rgb(255, 216, 168)"            # the page's own style applied
    left, right = desktop["figures"]
    assert left["top"] == right["top"] and right["left"] >= left["left"] + left["width"]
    top, bottom = phone["figures"]
    assert bottom["top"] > top["top"] and phone["scrollWidth"] <= 390


def test_the_page_asks_for_nothing_runs_nothing_and_logs_nothing(seen):
    for report in seen.values():
        assert report["requested"] == [report["url"]]
        assert report["scripts"] == 0 and report["dialogs"] == []
        assert report["console"] == []
    assert "mallory" in seen["desktop"]["text"]
