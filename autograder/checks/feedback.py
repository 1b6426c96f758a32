"""Feedback text for students: what a part's checks found, in words.

Feedback lists, per graded part, the points, how the answer cells were
found, and per check its name, its weight, and what was expected and what
happened.  It is built only from check titles, :class:`CheckFailed`
messages, the student's own exceptions and notes of what passed: never from
the checks' source, their inputs or their seeds.  Every note and message is
made one line here (whatever it holds, it cannot start a line of its own that
looks like the grader's), and student text in them is already quoted and cut
short where it was received (:mod:`autograder.isolation.untrusted_text`).
"""
from ..isolation.untrusted_text import one_line

# Long enough for any message the checks write; student text inside is far shorter.
LINE_CHARS = 600


def format_points(value):
    return f"{value:g}"


def part_feedback(result):
    """Lines of feedback for one :class:`~autograder.checks.runner.PartResult`."""
    lines = [f"{result.part}: {format_points(result.points)} / {format_points(result.max_points)} points"]
    lines += [f"  note: {one_line(note, LINE_CHARS)}" for note in result.notes]
    previous_message = None
    for check in result.checks:
        mark = "pass" if check.passed else "FAIL"
        head = f"  [{mark}] {check.title} ({_weight_text(check.weight)})"
        if check.passed:
            detail = "; ".join(check.notes)
        elif check.message == previous_message:
            detail = "the same"
        else:
            detail = check.message
        previous_message = None if check.passed else check.message
        lines.append(head + (f": {one_line(detail, LINE_CHARS)}" if detail else ""))
    return lines


def _weight_text(weight):
    # A check of weight 0 still teaches (say, "the call modified its input x"), but earns nothing.
    return f"weight {format_points(weight)}" if weight else "advice, no points"


def submission_feedback(student, assignment, part_results, notebook_notes=()):
    """The whole text a student receives for one assignment."""
    total = sum(result.points for result in part_results)
    possible = sum(result.max_points for result in part_results)
    lines = [f"Autograder feedback for {student}, assignment {assignment}",
             f"Total: {format_points(round(total, 4))} / {format_points(possible)} points", ""]
    lines += [f"note: {one_line(note, LINE_CHARS)}" for note in notebook_notes]
    if notebook_notes:
        lines.append("")
    for result in part_results:
        lines += part_feedback(result) + [""]
    lines.append("Each part's points are shared among its checks in proportion to their weights. "
                 "The checks run on hidden random inputs; relative errors are "
                 "|yours - expected| / (|yours| + |expected|), largest over the array.")
    return "\n".join(lines) + "\n"
