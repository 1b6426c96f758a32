"""Feedback text for students: what a part's checks found, in words, and how to read it back.

Feedback lists, per graded part, the points, how the answer cells were
found, and per check its name, its weight, and what was expected and what
happened.  It is built only from check titles, :class:`CheckFailed`
messages, the student's own exceptions and notes of what passed: never from
the checks' source, their inputs or their seeds.  Every note and message is
made one line here (whatever it holds, it cannot start a line of its own that
looks like the grader's), and student text in them is already quoted and cut
short where it was received (:mod:`autograder.isolation.untrusted_text`).

The whole text of a submission, line by line (the format :func:`read_feedback`
reads back, and the feedback page builds its summary from)::

    Autograder feedback for <student>, assignment <assignment>
    Total: <points> / <possible> points
    Checks: <n> failed, <m> passed[; search for [FAIL] to find each failure]
    <blank>
    note: <a note on the whole submission, such as a notebook not submitted>   (any number)
    <blank, after notes>
    <part>: <points> / <possible> points                                     (per part)
      note: <how its answer cells were found>                                (any number)
      [FAIL] <check title> (weight <w>): <why it failed, or "the same" as the check above>
      [pass] <check title> (advice, no points): <what passed>                (": ..." may be absent)
    <blank>
    <one closing paragraph on points and relative errors>
"""
import re
from dataclasses import dataclass, field

from ..isolation.untrusted_text import one_line

# Long enough for any message the checks write; student text inside is far shorter.
LINE_CHARS = 600
PASSED, FAILED = "pass", "FAIL"
SAME_AS_ABOVE = "the same"
ADVICE = "advice, no points"


def format_points(value):
    return f"{value:g}"


def part_feedback(result):
    """Lines of feedback for one :class:`~autograder.checks.runner.PartResult`."""
    lines = [f"{result.part}: {format_points(result.points)} / {format_points(result.max_points)} points"]
    lines += [f"  note: {one_line(note, LINE_CHARS)}" for note in result.notes]
    previous_message = None
    for check in result.checks:
        mark = PASSED if check.passed else FAILED
        head = f"  [{mark}] {check.title} ({_weight_text(check.weight)})"
        if check.passed:
            detail = "; ".join(check.notes)
        elif check.message == previous_message:
            detail = SAME_AS_ABOVE
        else:
            detail = check.message
        previous_message = None if check.passed else check.message
        lines.append(head + (f": {one_line(detail, LINE_CHARS)}" if detail else ""))
    return lines


def _weight_text(weight):
    # A check of weight 0 still teaches (say, "the call modified its input x"), but earns nothing.
    return f"weight {format_points(weight)}" if weight else ADVICE


def submission_feedback(student, assignment, part_results, notebook_notes=()):
    """The whole text a student receives for one assignment."""
    total = sum(result.points for result in part_results)
    possible = sum(result.max_points for result in part_results)
    lines = [f"Autograder feedback for {student}, assignment {assignment}",
             f"Total: {format_points(round(total, 4))} / {format_points(possible)} points",
             _checks_line(part_results), ""]
    lines += [f"note: {one_line(note, LINE_CHARS)}" for note in notebook_notes]
    if notebook_notes:
        lines.append("")
    for result in part_results:
        lines += part_feedback(result) + [""]
    lines.append("Each part's points are shared among its checks in proportion to their weights. "
                 "The checks run on hidden random inputs; relative errors are "
                 "|yours - expected| / (|yours| + |expected|), largest over the array.")
    return "\n".join(lines) + "\n"


def _checks_line(part_results):
    # A reader of the plain text learns at once how many checks failed and how to find them.
    checks = [check for result in part_results for check in result.checks]
    failed = sum(not check.passed for check in checks)
    where = f"; search for [{FAILED}] to find each failure" if failed else ""
    return f"Checks: {failed} failed, {len(checks) - failed} passed{where}"


# ---------------------------------------------------------------------------
# Reading the text back (the feedback page's summary)
# ---------------------------------------------------------------------------

_PART = re.compile(r"(?P<part>[A-Za-z_][A-Za-z0-9_]*): (?P<points>\S+) / (?P<possible>\S+) points")
# A title is the grader's own (a check's docstring), so the first "(weight ...)" ends it.
_CHECK = re.compile(rf"  \[(?P<mark>{PASSED}|{FAILED})\] (?P<title>.+?) "
                    rf"\((?P<weight>weight [0-9.e+-]+|{ADVICE})\)(?:: (?P<detail>.*))?")


@dataclass(frozen=True)
class CheckLine:
    """One ``[pass]`` or ``[FAIL]`` line: ``detail`` is "" when the line has none."""
    part: str
    passed: bool
    title: str
    weight: str               # "weight 2" or "advice, no points"
    detail: str


@dataclass
class PartLines:
    """A part's points line with its notes and check lines; points as the text writes them."""
    part: str
    points: str
    possible: str
    notes: list = field(default_factory=list)
    checks: list = field(default_factory=list)

    @property
    def failed(self):
        return [check for check in self.checks if not check.passed]


@dataclass
class FeedbackText:
    """What :func:`read_feedback` found: the heading, the total line, notes and parts, in order."""
    heading: str = ""
    total: str = ""
    notes: list = field(default_factory=list)
    parts: list = field(default_factory=list)

    @property
    def checks(self):
        return [check for part in self.parts for check in part.checks]


def read_feedback(text):
    """The parts, checks and notes of a feedback text (:func:`submission_feedback`'s format).

    Lines of no known shape (the closing paragraph, the checks line) are skipped; a check line
    that says ``the same`` gets the detail of the failing check before it.
    """
    found = FeedbackText()
    for line in text.splitlines():
        part = found.parts[-1] if found.parts else None
        if line.startswith("Autograder feedback for ") and not found.heading:
            found.heading = line
        elif line.startswith("Total:") and not found.total:
            found.total = line
        elif line.startswith("note: "):
            found.notes.append(line[len("note: "):])
        elif match := _PART.fullmatch(line):
            found.parts.append(PartLines(match["part"], match["points"], match["possible"]))
        elif part and line.startswith("  note: "):
            part.notes.append(line[len("  note: "):])
        elif part and (match := _CHECK.fullmatch(line)):
            part.checks.append(_check_line(part, match))
    return found


def _check_line(part, match):
    detail = match["detail"] or ""
    if detail == SAME_AS_ABOVE and part.checks and not part.checks[-1].passed:
        detail = part.checks[-1].detail
    return CheckLine(part.part, match["mark"] == PASSED, match["title"], match["weight"], detail)
