"""How much of the trusted feedback a page shows: the total only, each check's pass or fail, or everything.

Feedback that names every failing check with its message, returned within seconds of each
submission, is an oracle: a student can try variants until every check passes, without
understanding why.  Grading on submit (:mod:`autograder.submit_policy`) therefore shows less
before the due date.  The three levels, least first:

=========  ==================================================================================
level      what a page (and the ``autograder_feedback.txt`` beside it) shows
=========  ==================================================================================
total      the heading, the total, notes on the whole submission (a notebook not submitted)
checks     and each part's points, how its answer cells were found, and each check's title,
           weight and pass or fail, without the message that says what was expected
messages   the whole text, as ``grade`` wrote it (the default of ``generate_feedback``)
=========  ==================================================================================

A restricted level rebuilds the text from what :func:`~autograder.checks.feedback.read_feedback`
recognises, so a line of no known shape is left out rather than shown (it fails closed); the
test cells of the notebook shown under the summary get the same treatment (their printed
checks), and at ``total`` they lose their outputs and their scores.
"""
from ..checks.feedback import FAILED, PASSED, read_feedback
from . import cells

DETAIL_LEVELS = ("total", "checks", "messages")
EVERYTHING = DETAIL_LEVELS[-1]
# For the statement of the policy on the page: what each level shows, in a student's words.
SHOWN = {"total": "the total only",
         "checks": "each check's pass or fail, without its message",
         "messages": "each check with its message"}


def check_level(level, where="details"):
    """``level`` if it is one of :data:`DETAIL_LEVELS`; a ValueError that names ``where`` otherwise."""
    if level not in DETAIL_LEVELS:
        raise ValueError(f"{where} must be one of {', '.join(DETAIL_LEVELS)}, got {level!r}")
    return level


def text_at(text, level):
    """The feedback ``text`` (the format of :func:`~autograder.checks.feedback.submission_feedback`) at ``level``."""
    if check_level(level) == EVERYTHING:
        return text
    found = read_feedback(text)
    lines = [line for line in (found.heading, found.total) if line]
    if level == "checks":
        failed = sum(not check.passed for check in found.checks)
        lines.append(f"Checks: {failed} failed, {len(found.checks) - failed} passed")
    lines.append("")
    lines += [f"note: {note}" for note in found.notes]
    if found.notes:
        lines.append("")
    if level == "checks":
        for part in found.parts:
            lines += _part_lines(part) + [""]
    return "\n".join(lines) + "\n"


def with_notes(text, notes):
    """``text`` with ``notes`` as the first notes on the whole submission (after the total and checks lines)."""
    if not notes:
        return text
    lines = text.splitlines()
    head = 0
    while head < len(lines) and lines[head].startswith(("Autograder feedback for ", "Total:", "Checks:")):
        head += 1
    added = [f"note: {note}" for note in notes]
    rest = lines[head:]
    while rest and not rest[0]:
        rest = rest[1:]
    gap = [] if rest and rest[0].startswith("note: ") else [""]
    return "\n".join(lines[:head] + [""] + added + gap + rest) + "\n"


def _part_lines(part):
    lines = [f"{part.part}: {part.points} / {part.possible} points"]
    lines += [f"  note: {note}" for note in part.notes]
    lines += [f"  [{PASSED if check.passed else FAILED}] {check.title} ({check.weight})" for check in part.checks]
    return lines


def graded_cell_at(cell, level):
    """A test cell of a page's notebook at ``level``: its printed checks cut as the text is, or nothing at ``total``.

    At ``total`` the cell also stops being a graded cell on the page, so nbgrader's template shows
    no score for it (the gradebook keeps the score; only the page is cut).
    """
    if check_level(level) == EVERYTHING or not cells.is_test_cell(cell):
        return cell
    if level == "total":
        cell.outputs = []
        cell.metadata["nbgrader"] = {key: value for key, value in cell.metadata["nbgrader"].items()
                                     if key not in ("grade", "points", "score")}
        return cell
    kept = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream" and output.get("name") == "stdout":
            parts = read_feedback(output.get("text", "")).parts
            output["text"] = "".join("\n".join(_part_lines(part)) + "\n" for part in parts)
            kept.append(output)
        elif output.get("output_type") == "execute_result":
            kept.append(output)      # the points, which the page's own preprocessor drops anyway
    cell.outputs = kept
    return cell
