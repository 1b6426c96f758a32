"""``nbgrader generate_feedback``: pages a student can scan, each with the whole trusted feedback.

nbgrader's feedback page of a notebook shows that notebook's cells and scores;
students on a hub fetch only those pages (``nbgrader fetch_feedback`` copies one
``<notebook>.html`` per submitted notebook and nothing else), and only for the
notebooks they submitted.  So this preprocessor, listed in
``c.GenerateFeedback.preprocessors`` of the course's ``nbgrader_config.py`` after
nbgrader's own, gives every page the whole submission's feedback: the grader's
text (``autograder_feedback.txt``: notes such as a missing notebook, then every
part check by check) under a total read from the gradebook at this moment, the
same numbers as nbgrader's page and ``nbgrader export`` (manual scores and the
late penalty included).  It writes that same text as
``feedback/<student>/<assignment>/autograder_feedback.txt`` (the folder an LMS
student is sent), and each page offers it for download from itself, so a hub
student who fetched only the pages has the file too.

The page is drawn by ``feedback_page.html.j2`` beside this module (nbgrader's
feedback template with its head and body replaced, styled by ``feedback_page.css``),
top to bottom:

1. the summary: the total, notes on the whole submission, each failing check
   under its part with its one-line reason, marked "FAIL" in words and a symbol,
   not by colour alone; then the passing checks, folded; then the whole text in
   a box that scrolls, with a link that saves it as a file;
2. nbgrader's own panel: the notebook's score, its test cells, then the cells,
   without the test cells' return values (``Out[1]: 5.0``, the points nbgrader
   reads; the gradebook's score is in each cell's heading).

It loads nothing: no script, font or style from the network, so formulas show
as the TeX the notebook holds (MathJax would have to travel inside every page,
since fetch copies the HTML alone, and would then interpret the student's TeX).
Long lines wrap at spaces from 390 px up, and the course's absolute path never
reaches a student.  What the student wrote reaches the page inert
(:mod:`.student_content`, which the course's ``c.HTMLExporter.preprocessors``
runs before this one) and sits inside ``#notebook``; the summary is outside it,
built here from the grader's text with every piece escaped.

Two settings serve grading on submit (:mod:`autograder.service`), which sets them for each page it
makes: ``details``, how much of the feedback the page shows (:mod:`.feedback_details`; by hand,
``generate_feedback`` shows everything), and ``notes``, lines put first among the notes on the
whole submission (the course's policy, and when the next graded attempt is possible).
"""
import base64
import html
import os
from pathlib import Path

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool, Enum, List, Unicode
from nbgrader.coursedir import CourseDirectory

from ..checks.feedback import format_points, read_feedback
from . import cells, gradebook
from .feedback_details import DETAIL_LEVELS, EVERYTHING, graded_cell_at, text_at, with_notes

FEEDBACK_FILE = "autograder_feedback.txt"
HERE = Path(__file__).resolve().parent
TEMPLATE_FILE = "feedback_page.html.j2"          # found on c.GenerateFeedback.HTMLExporter.extra_template_paths
PAGE_CSS = (HERE / "feedback_page.css").read_text(encoding="utf-8")


class SubmissionFeedback(Preprocessor):
    """Put the submission's trusted feedback, with the gradebook's total, in ``resources`` for the page's summary."""

    enabled = Bool(True)      # nbconvert runs a preprocessor only when enabled; listing it is the choice
    details = Enum(DETAIL_LEVELS, default_value=EVERYTHING,
                   help="how much of the feedback the page shows (feedback_details.py)").tag(config=True)
    notes = List(Unicode(), help="lines shown first among the notes on the whole submission").tag(config=True)

    def preprocess(self, nb, resources):
        self._check_template()
        info = resources["nbgrader"]
        coursedir = CourseDirectory(config=self.config)
        coursedir.root = os.getcwd()      # nbgrader's converters run from the course root
        totals = gradebook.submission_totals(info["db_url"], coursedir.course_id, info["assignment"],
                                             info["student"])
        text = text_at(feedback_text(Path(resources["metadata"]["path"]), totals), self.details)
        text = without_server_paths(with_notes(text, self.notes), coursedir.root)
        _write_text(coursedir, info, text)
        for cell in nb.cells:
            _scrub_outputs(cell, coursedir.root)
            _drop_return_value(cell)
            graded_cell_at(cell, self.details)
        resources["autograder_feedback"] = {"summary": summary_html(text), "scores": self.details != "total"}
        resources.setdefault("inlining", {}).setdefault("css", []).append(PAGE_CSS)
        return nb, resources

    def _check_template(self):
        """The summary is drawn only by the course's template: refuse to make a page without it."""
        used = getattr(self.parent, "template_file", TEMPLATE_FILE)
        if used != TEMPLATE_FILE:
            raise ValueError(f"SubmissionFeedback: the feedback page's template is {used!r}, not {TEMPLATE_FILE!r}, "
                             "so the page would show no feedback; nbgrader_config.py must set "
                             f"c.GenerateFeedback.HTMLExporter.template_file = {TEMPLATE_FILE!r} and its "
                             f"extra_template_paths to [{str(HERE)!r}]")


def total_line(totals):
    """The total as nbgrader's page and export count it, with what makes it up."""
    line = f"Total: {format_points(totals.final)} / {format_points(totals.max_score)} points"
    parts = [f"autograded {format_points(totals.autograded)}"]
    if abs(totals.manual_adjustment) > 1e-9:
        parts.append(f"manual adjustments {totals.manual_adjustment:+g}")
    if totals.late_penalty > 0:
        parts.append(f"late penalty -{format_points(totals.late_penalty)}")
    line += f" ({', '.join(parts)})"
    if totals.needs_manual_grading:
        line += "; some answers still wait for manual grading, so this total may change"
    return line


def feedback_text(autograded_dir, totals):
    """The grader's text with its total replaced by the gradebook's (the text's is autograded only)."""
    path = autograded_dir / FEEDBACK_FILE
    if not path.is_file():
        return total_line(totals) + "\n\nnote: the trusted grader left no text feedback for this submission\n"
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    at = next((i for i, line in enumerate(lines) if line.startswith("Total:")), None)
    if at is None:
        lines.insert(0, total_line(totals))
    else:
        lines[at] = total_line(totals)
    return "\n".join(lines) + "\n"


def without_server_paths(text, root):
    """``text`` with paths inside the course written relative to it, and the home folder as ``~``."""
    shown = {str(Path(root).resolve()): ".", str(root): ".", str(Path.home()): "~"}
    for prefix in sorted(shown, key=len, reverse=True):
        if len(prefix) > 1:       # never rewrite every "/" when the home folder is the file system root
            text = text.replace(prefix + os.sep, "" if shown[prefix] == "." else "~" + os.sep)
            text = text.replace(prefix, shown[prefix])
    return text


def _scrub_outputs(cell, root):
    for output in cell.get("outputs", []):
        if "text" in output:
            output["text"] = without_server_paths(output["text"], root)


def _drop_return_value(cell):
    # A test cell's value is the points it earned, for nbgrader to read from the autograded notebook;
    # on the page it is a stray "Out[1]: 5.0" (the cell's heading shows the gradebook's score).
    if cell.cell_type == "code" and cells.is_test_cell(cell):
        cell.outputs = [output for output in cell.outputs if output.get("output_type") != "execute_result"]


def _write_text(coursedir, info, text):
    folder = Path(coursedir.format_path(coursedir.feedback_directory, info["student"], info["assignment"]))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / FEEDBACK_FILE).write_text(text, encoding="utf-8")


# ---------------------------------------------------------------------------
# The summary: escaped pieces of the grader's text, in the order a student reads them
# ---------------------------------------------------------------------------

FAIL_MARK = '<span class="autograder-mark"><span aria-hidden="true">\u2717</span> FAIL</span>'
PASS_MARK = '<span class="autograder-mark"><span aria-hidden="true">\u2713</span> pass</span>'


def summary_html(text):
    """The page's summary of a feedback ``text``: total, notes, failures with reasons, passes folded, the whole text."""
    feedback = read_feedback(text)
    pieces = ['<section class="autograder-summary" aria-label="Autograder feedback">']
    if feedback.heading:
        pieces.append(f'<p class="autograder-heading">{_e(feedback.heading)}</p>')
    pieces.append(_total(feedback.total))
    pieces += [f'<p class="autograder-note"><strong>Note:</strong> {_e(note)}</p>' for note in feedback.notes]
    pieces += _failures(feedback) + _passes(feedback) + _whole_text(text)
    pieces.append("</section>")
    return "\n".join(pieces)


def _total(line):
    # "Total: 70 / 80 points" large, what makes it up ("(autograded 70, late penalty -10)") beside it
    score, space, detail = line.partition(" (")
    detail = f' <span class="autograder-total-detail">({_e(detail)}</span>' if space else ""
    return f'<h1 class="autograder-total">{_e(score)}{detail}</h1>'


def _e(text):
    return html.escape(text, quote=True)


def _count(n, what):
    return f"{n} {what}{'' if n == 1 else 's'}"


def _failures(feedback):
    failed = [check for check in feedback.checks if not check.passed]
    if not failed:
        return []
    pieces = [f'<h2 class="autograder-failed-title">{_count(len(failed), "check")} failed</h2>']
    for part in feedback.parts:
        if part.failed:
            pieces.append(_part_heading(part))
            pieces += [f'<p class="autograder-note"><strong>Note:</strong> {_e(note)}</p>' for note in part.notes]
            pieces.append('<ol class="autograder-checks">')
            pieces += [_failed_item(check) for check in part.failed]
            pieces.append("</ol>")
    return pieces


def _part_heading(part):
    return f'<h3 class="autograder-part">{_e(part.part)}: {_e(part.points)} / {_e(part.possible)} points</h3>'


def _failed_item(check):
    reason = f'\n<p class="autograder-reason">{_e(check.detail)}</p>' if check.detail else ""
    return (f'<li class="autograder-check autograder-failed">{FAIL_MARK} '
            f'<span class="autograder-title">{_e(check.title)}</span> '
            f'<span class="autograder-weight">({_e(check.weight)})</span>{reason}</li>')


def _passes(feedback):
    passed = [check for check in feedback.checks if check.passed]
    if not passed:
        return []
    every = "All " if len(passed) == len(feedback.checks) else ""
    pieces = ['<details class="autograder-passed">',
              f'<summary><span aria-hidden="true">\u2713</span> {every}{_count(len(passed), "check")} passed</summary>']
    for part in feedback.parts:
        own = [check for check in part.checks if check.passed]
        if own:
            pieces += [_part_heading(part), '<ul class="autograder-checks">']
            pieces += [_passed_item(check) for check in own]
            pieces.append("</ul>")
    return pieces + ["</details>"]


def _passed_item(check):
    return (f'<li class="autograder-check autograder-passed">{PASS_MARK} '
            f'<span class="autograder-title">{_e(check.title)}</span> '
            f'<span class="autograder-weight">({_e(check.weight)})</span></li>')


def _whole_text(text):
    # The file travels inside the page (fetch_feedback copies the page alone), as a download that asks no server.
    # The text stays rendered, in a box of its own height that scrolls: a closed <details> would hide it from
    # innerText, copy and find-in-page.
    data = base64.b64encode(text.encode("utf-8")).decode("ascii")
    return ['<h2 class="autograder-text-title">The whole feedback, part by part</h2>',
            f'<p class="autograder-download"><a download="{FEEDBACK_FILE}" '
            f'href="data:text/plain;charset=utf-8;base64,{data}">Save it as a text file ({FEEDBACK_FILE})</a></p>',
            f'<pre class="autograder-feedback">{_e(text)}</pre>']   # this exact tag: the loop test reads it
