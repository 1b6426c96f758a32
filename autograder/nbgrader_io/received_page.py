"""The short page a student fetches when a submission arrived but its feedback could not be made.

When the grading service meets a fault of the grader or the machine (a pre-flight that fails,
a grading process that crashes, nbgrader failing), no grade is recorded, and the student
should still learn that the submission arrived and that nobody expects them to act.  This
module writes that page, one per release notebook (``fetch_feedback`` looks for one page per
submitted notebook), into ``feedback/<student>/<assignment>/`` with the submission's
``timestamp.txt``, where ``release_feedback`` finds it as it finds generated feedback.  The
folder is emptied first, so no page, secret or text of an earlier submission is released with it.

The text is the service's own; every piece is escaped anyway, and the page loads nothing.
"""
import html
import shutil
from pathlib import Path

from .feedback_page import PAGE_CSS

TIMESTAMP_FILE = "timestamp.txt"


def received_page(heading, lines):
    """The page's HTML: ``heading`` large, each of ``lines`` a paragraph, the course's feedback style."""
    paragraphs = "\n".join(f'<p class="autograder-note">{html.escape(line)}</p>' for line in lines)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{html.escape(heading)}</title>\n<style>\n{PAGE_CSS}\n</style>\n</head>\n<body>\n"
            "<main class=\"container\">\n<section class=\"autograder-summary\" aria-label=\"Autograder feedback\">\n"
            f"<h1 class=\"autograder-total\">{html.escape(heading)}</h1>\n{paragraphs}\n"
            "</section>\n</main>\n</body>\n</html>\n")


def write_received_pages(folder, notebooks, timestamp, heading, lines):
    """Replace ``folder`` by one page per name in ``notebooks`` and ``timestamp`` (the collected one, as text)."""
    folder = Path(folder)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    page = received_page(heading, lines)
    for name in notebooks:
        (folder / f"{name}.html").write_text(page, encoding="utf-8")
    (folder / TIMESTAMP_FILE).write_text(timestamp, encoding="utf-8")
