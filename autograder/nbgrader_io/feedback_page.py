"""``nbgrader generate_feedback``: the whole trusted feedback on every page a student fetches.

nbgrader's feedback page of a notebook shows that notebook's cells and scores;
students on a hub fetch only those pages (``nbgrader fetch_feedback`` copies
HTML and nothing else), and only for the notebooks they submitted.  So this
preprocessor, listed in ``c.GenerateFeedback.preprocessors`` of the course's
``nbgrader_config.py`` after nbgrader's own, puts on top of every page the
whole submission's feedback: the grader's text (``autograder_feedback.txt``:
notes such as a missing notebook, then every part check by check) under a
total read from the gradebook at this moment, the same numbers as nbgrader's
page and ``nbgrader export`` (manual scores and the late penalty included).
It writes that same text as ``feedback/<student>/<assignment>/autograder_feedback.txt``.

Long lines wrap instead of running off the page, and the course's absolute
path never reaches a student.  What the student wrote reaches the page inert
(:mod:`.student_content`, which the course's ``c.HTMLExporter.preprocessors``
runs before this one), so the section inserted here is the only one that is
markup: a forged ``autograder-feedback`` block shows as text.
"""
import html
import os
from pathlib import Path

import nbformat
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool
from nbgrader.coursedir import CourseDirectory

from ..checks.feedback import format_points
from . import gradebook

FEEDBACK_FILE = "autograder_feedback.txt"
WRAP_CSS = "pre, .output_text pre { white-space: pre-wrap; overflow-wrap: anywhere; }"


class SubmissionFeedback(Preprocessor):
    """Insert the submission's trusted feedback, with the gradebook's total, as the page's first cell."""

    enabled = Bool(True)      # nbconvert runs a preprocessor only when enabled; listing it is the choice

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        coursedir = CourseDirectory(config=self.config)
        coursedir.root = os.getcwd()      # nbgrader's converters run from the course root
        totals = gradebook.submission_totals(info["db_url"], coursedir.course_id, info["assignment"],
                                             info["student"])
        text = without_server_paths(feedback_text(Path(resources["metadata"]["path"]), totals), coursedir.root)
        _write_text(coursedir, info, text)
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(
            f'<pre class="autograder-feedback">{html.escape(text)}</pre>'))
        for cell in nb.cells:
            _scrub_outputs(cell, coursedir.root)
        resources.setdefault("inlining", {}).setdefault("css", []).append(WRAP_CSS)
        return nb, resources


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
        return total_line(totals) + "\n\n(the trusted grader left no text feedback for this submission)\n"
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


def _write_text(coursedir, info, text):
    folder = Path(coursedir.format_path(coursedir.feedback_directory, info["student"], info["assignment"]))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / FEEDBACK_FILE).write_text(text, encoding="utf-8")
