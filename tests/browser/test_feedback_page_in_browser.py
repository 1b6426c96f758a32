"""bob's feedback page as he fetches it, in headless Chromium at phone (390 px) and desktop width, offline.

A throw-away course releases ``numpy_cnn`` into an exchange of its own; bob fetches it, hands it in with
the corpus's ``missing_bias`` bug in ``conv_forward_naive`` (every check of that part fails) and submits;
the instructor collects, grades with the trusted grader (``python -m autograder grade``), generates and
releases the feedback, and bob runs ``nbgrader fetch_feedback``.  His fetched ``convolution.html`` is
served on localhost with every other request refused, and opened:

* the first screen holds the total and the failing checks with their reasons (at desktop width the first
  five at least, at phone width the first), each marked "FAIL" in words, not by colour alone; the counts,
  titles and reasons expected are read from the text the grader wrote;
* nothing is wider than 390 px, and no word of the summary or of the test cells' output is split
  across lines;
* the page asks for nothing but itself: no script, stylesheet, font or MathJax; formulas are the TeX
  the notebook holds, and the page says so;
* the whole text follows, rendered (copy, find and innerText reach it) in a box shorter than the screen;
* the test cells show their checks, not their value (no ``Out[1]: 0.0``);
* the text file: ``fetch_feedback`` copies the pages alone, and the link on the page saves the same
  bytes as ``feedback/bob/numpy_cnn/autograder_feedback.txt``.

Screenshots go to ``test-results/screenshots/feedback-*.png``.
"""
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import nbformat
import pytest

import corpus
from autograder.checks.feedback import read_feedback
from autograder.nbgrader_io import cells
from browser.conftest import in_chromium, serve

pytestmark = pytest.mark.slow

ASSIGNMENT = "numpy_cnn"
COURSE_ID = "cnn-properties"
BUG = "missing_bias"                # conv_forward_naive forgets the bias: every check of it fails
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 3}
DESKTOP = {"viewport": {"width": 1280, "height": 800}}


class Term:
    """The course, its exchange and a home per person; each command as that person, from their folder."""

    def __init__(self, base):
        self.base, self.course = base, corpus.make_course(base / "course", corpus.REPO)
        self.exchange = base / "exchange"
        self.exchange.mkdir()

    def home(self, who):
        return self.base / "homes" / who

    def run(self, who, *command):
        home = self.home(who)
        home.mkdir(parents=True, exist_ok=True)
        env = corpus.grader_environment(self.course, "feedback-page-secret")
        env.update(HOME=str(home), JUPYTER_CONFIG_DIR=str(home / ".jupyter"),
                   JUPYTER_DATA_DIR=str(home / ".local/share/jupyter"), JUPYTER_RUNTIME_DIR=str(home / ".run"))
        if who != "instructor":
            del env["PYTHONPATH"], env["AUTOGRADER_SECRET"]
        done = subprocess.run([sys.executable, "-m", *command], cwd=self.course if who == "instructor" else home,
                              env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"{who}: {command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"

    def nbgrader(self, who, *args):
        student = [] if who == "instructor" else [f"--student={who}"]
        self.run(who, "nbgrader", *args, ASSIGNMENT, f"--Exchange.root={self.exchange}", f"--course={COURSE_ID}",
                 *student)


def answer(folder, answers):
    for path in sorted(folder.glob("*.ipynb")):
        notebook = cells.read_notebook(path)
        for cell in notebook.cells:
            if cells.grade_id(cell) in answers and cells.is_answer_cell(cell):
                cell.source = answers[cells.grade_id(cell)]
        nbformat.write(notebook, str(path))


@pytest.fixture(scope="module")
def term(tmp_path_factory):
    term = Term(tmp_path_factory.mktemp("feedback-page"))
    term.nbgrader("instructor", "release_assignment")
    term.nbgrader("bob", "fetch_assignment")
    part, source = corpus.BUGS[BUG]
    answer(term.home("bob") / ASSIGNMENT, {**corpus.solution_answers(corpus.REPO / "solutions" / ASSIGNMENT),
                                          part: source})
    term.nbgrader("bob", "submit")
    term.nbgrader("instructor", "collect")
    term.run("instructor", "autograder", "grade", ASSIGNMENT)
    term.nbgrader("instructor", "generate_feedback")
    term.nbgrader("instructor", "release_feedback")
    term.nbgrader("bob", "fetch_feedback")
    [term.fetched] = (term.home("bob") / ASSIGNMENT / "feedback").iterdir()      # one folder per submission time
    return term


# What the page shows once loaded: geometry of the summary, marks, overflow, words split across lines.
PROBE = """(width) => {
  const box = el => { const r = el.getBoundingClientRect(); return {top: r.top, bottom: r.bottom, right: r.right}; };
  const summary = document.querySelector('.autograder-summary');
  const splitWords = root => {               // a word (no space, no hyphen) drawn on two lines is split
    const split = [], walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
      const node = walker.currentNode;
      if (!node.parentElement.getClientRects().length) continue;          // inside a closed <details>
      for (const word of node.data.matchAll(/[^\\s\\-]+/g)) {
        const range = document.createRange();
        range.setStart(node, word.index); range.setEnd(node, word.index + word[0].length);
        const lines = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
        if (lines.size > 1) split.push(word[0]);
      }
    }
    return split;
  };
  const failed = [...document.querySelectorAll('li.autograder-failed')].map(li => ({
    text: li.innerText, mark: li.querySelector('.autograder-mark').innerText, box: box(li),
    reason: li.querySelector('.autograder-reason').innerText}));
  const wide = [...document.querySelectorAll('body *')].filter(el => el.getBoundingClientRect().right > width + 0.5
                                                                     && !el.closest('.input_area, .rendered_html pre'))
                                                       .map(el => el.tagName + '.' + el.className);
  return {
    width: innerWidth, height: innerHeight, scrollWidth: document.documentElement.scrollWidth,
    total: {text: document.querySelector('.autograder-total').innerText,
            box: box(document.querySelector('.autograder-total'))},
    failedTitle: document.querySelector('.autograder-failed-title').innerText, failed,
    passedOpen: document.querySelector('details.autograder-passed').open,
    whole: {text: document.querySelector('pre.autograder-feedback').innerText,
            box: box(document.querySelector('pre.autograder-feedback'))},
    passedSummary: document.querySelector('details.autograder-passed summary').innerText,
    wide, splitInSummary: splitWords(summary),
    splitInTestOutput: [...document.querySelectorAll('.output_stdout')].flatMap(splitWords),
    elements: document.querySelectorAll('script, link, iframe, object, embed, [src^="http"]').length,
    mathjax: typeof window.MathJax, mjx: document.querySelectorAll('mjx-container, .MathJax').length,
    text: document.body.innerText, html: document.documentElement.outerHTML,
    executeResults: document.querySelectorAll('.output_execute_result').length,
    testOutput: [...document.querySelectorAll('.output_stdout')].map(el => el.innerText).join('\\n'),
  };
}"""


def look(page, url, origin, context_options, screenshot):
    """``url`` in a fresh context of ``context_options``, every request recorded and all but ``origin``'s refused."""
    context = page.context.browser.new_context(**context_options)
    try:
        page = context.new_page()
        requested = []
        page.on("request", lambda request: requested.append(request.url))
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(origin)
                   else route.abort())
        page.goto(url, wait_until="load")
        page.wait_for_timeout(500)
        report = page.evaluate(PROBE, context_options["viewport"]["width"])
        page.screenshot(path=str(screenshot))
        return {**report, "requested": requested}
    finally:
        context.close()


@pytest.fixture(scope="module")
def seen(term, repo_root):
    """bob's fetched convolution.html at phone and desktop width: ``{"phone": report, "desktop": report}``."""
    shots = repo_root / "test-results" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with serve(term.fetched) as origin:
        url = origin + quote("convolution.html")
        return {name: {**in_chromium(look, url, origin, options, shots / f"feedback-{name}.png"), "url": url}
                for name, options in (("phone", PHONE), ("desktop", DESKTOP))}


def written(term):
    """The text the page was made from, as the instructor's feedback folder holds it, read back."""
    return read_feedback((term.course / "feedback" / "bob" / ASSIGNMENT / "autograder_feedback.txt").read_text())


def test_the_first_screen_shows_the_total_and_the_failing_checks_with_their_reasons(seen, term):
    text = written(term)
    failed = [check for check in text.checks if not check.passed]
    assert failed and {check.part for check in failed} == {"conv_forward_naive"}
    for name, report in seen.items():
        assert report["width"] == (390 if name == "phone" else 1280)
        assert report["total"]["text"] == text.total == "Total: 70 / 80 points (autograded 70)"
        assert report["total"]["box"]["bottom"] <= report["height"] / 4, name        # at the very top
        assert report["failedTitle"] == f"{len(failed)} checks failed" and len(report["failed"]) == len(failed)
        for shown, check in zip(report["failed"], failed):
            assert check.title in shown["text"] and shown["reason"] == check.detail
        on_first_screen = [f for f in report["failed"] if f["box"]["bottom"] <= report["height"]]
        assert len(on_first_screen) >= (min(5, len(failed)) if name == "desktop" else 1), name
    passes = len(text.checks) - len(failed)
    assert seen["phone"]["passedSummary"] == f"\u2713 {passes} checks passed" and not seen["phone"]["passedOpen"]


def test_the_whole_text_follows_the_summary_in_a_box_of_its_own(seen, term):
    text = (term.course / "feedback" / "bob" / ASSIGNMENT / "autograder_feedback.txt").read_text()
    for name, report in seen.items():
        whole = report["whole"]
        assert whole["text"].rstrip("\n") == text.rstrip("\n"), name              # rendered, all of it
        assert whole["box"]["top"] > report["failed"][-1]["box"]["bottom"]
        assert whole["box"]["bottom"] - whole["box"]["top"] < report["height"], name


def test_each_failure_is_marked_in_words_not_by_colour_alone(seen):
    for report in seen.values():
        assert {failure["mark"] for failure in report["failed"]} == {"\u2717 FAIL"}
        assert all(failure["text"].startswith("\u2717 FAIL ") for failure in report["failed"])


def test_nothing_is_wider_than_a_phone_and_no_word_is_split_across_lines(seen):
    phone = seen["phone"]
    assert phone["scrollWidth"] <= 390 and phone["wide"] == [], phone["wide"][:10]
    assert phone["splitInSummary"] == [] and phone["splitInTestOutput"] == []
    assert seen["desktop"]["scrollWidth"] <= 1280


def test_the_page_asks_for_nothing_but_itself(seen):
    for report in seen.values():
        assert report["requested"] == [report["url"]]
        assert report["elements"] == 0


def test_formulas_are_the_notebooks_tex_and_the_page_says_so(seen):
    report = seen["desktop"]
    assert report["mathjax"] == "undefined" and report["mjx"] == 0
    assert "$\\partial L / \\partial\\, \\text{out}$" in report["text"]
    assert "Formulas show as the TeX the notebook holds: this page loads nothing from the network." in report["text"]


def test_the_test_cells_show_their_checks_not_their_value(seen, term):
    report = seen["desktop"]
    assert report["executeResults"] == 0 and "Out[" not in report["html"]
    first = next(check for check in written(term).checks if not check.passed)
    assert f"  [FAIL] {first.title} ({first.weight}): {first.detail}" in report["testOutput"]


def save_the_text(page, url):
    with page.expect_download() as download:
        page.goto(url)
        page.click("a[download]")
    return download.value.suggested_filename, Path(download.value.path()).read_bytes()


def test_the_fetched_page_saves_the_same_text_as_the_feedback_folder(term):
    assert sorted(path.suffix for path in term.fetched.iterdir()) == [".html"] * 4       # fetch copies pages alone
    with serve(term.fetched) as origin:
        name, saved = in_chromium(save_the_text, origin + quote("max_pooling.html"))
    folder = term.course / "feedback" / "bob" / ASSIGNMENT
    assert name == "autograder_feedback.txt" and saved == (folder / name).read_bytes()
    failed = sum(not check.passed for check in written(term).checks)
    assert saved.decode("utf-8").splitlines()[:3] == [
        "Autograder feedback for bob, assignment numpy_cnn", "Total: 70 / 80 points (autograded 70)",
        f"Checks: {failed} failed, {len(written(term).checks) - failed} passed; search for [FAIL] to find each failure"]
