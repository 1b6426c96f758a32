"""Grading on submit's policy: how often a submission is graded, and how much its feedback shows.

Instant, detailed feedback is an oracle (otter-grader added a rate limit for exactly that), so
the service (:mod:`autograder.service`) grades a student at most ``graded_attempts`` times in any
``window_hours``, and before the due date shows less than after it.  A course sets it in
``nbgrader_config.py``, beside nbgrader's own settings and read the same way (a plain section of
the traitlets config, no class behind it)::

    c.GradeOnSubmit.graded_attempts = 3             # graded attempts per student ...
    c.GradeOnSubmit.window_hours = 24               # ... in any window this long
    c.GradeOnSubmit.details_before_due = "checks"   # total | checks | messages
    c.GradeOnSubmit.details_after_due = "messages"

The rules, which :func:`next_graded_time` and :func:`details_at` implement:

* a submission is graded as it arrives while the student has had fewer than ``graded_attempts``
  gradings in the last ``window_hours``; otherwise at the time the oldest of them leaves the
  window, or at the due date if that comes first and the submission was on time;
* whenever a student is graded, the latest submission is collected and graded (nbgrader's
  collect takes the latest), so submissions that waited never cost an attempt each;
* a grading is an attempt; a submission that could not be graded (a fault) is not;
* before the due date (or while none is set) pages show ``details_before_due``
  (:mod:`~autograder.nbgrader_io.feedback_details`), from it on ``details_after_due``;
* a late submission is graded like any other; nbgrader's late-penalty plugin applies when its
  scores are recorded, as with ``grade`` by hand.

Times are seconds since the epoch (``time.time()``, and the kernel's change times of the
exchange's folders, which share its clock).
"""
import datetime
from dataclasses import dataclass

from .nbgrader_io.feedback_details import DETAIL_LEVELS, SHOWN

SECTION = "GradeOnSubmit"


@dataclass(frozen=True)
class Policy:
    graded_attempts: int = 3          # a few tries a day: enough to fix a slip, too few to search by trial
    window_hours: float = 24.0
    details_before_due: str = "checks"    # pass or fail per check, no message: no oracle of the hidden inputs
    details_after_due: str = "messages"   # after the due date nothing is left to gain from an oracle

    @property
    def window_s(self):
        return self.window_hours * 3600.0


# setting -> (accepted types, check, what it must be)
_SETTINGS = {
    "graded_attempts": ((int,), lambda v: 1 <= v <= 1000, "a whole number from 1 to 1000"),
    "window_hours": ((int, float), lambda v: 0 < v <= 24 * 366, "a number of hours above 0, at most a year"),
    "details_before_due": ((str,), lambda v: v in DETAIL_LEVELS, f"one of {', '.join(DETAIL_LEVELS)}"),
    "details_after_due": ((str,), lambda v: v in DETAIL_LEVELS, f"one of {', '.join(DETAIL_LEVELS)}"),
}


def policy_from_config(config):
    """The :class:`Policy` of ``c.GradeOnSubmit`` in a loaded ``nbgrader_config.py`` (defaults where unset)."""
    section = config[SECTION] if SECTION in config else {}
    unknown = sorted(set(section) - set(_SETTINGS))
    if unknown:
        raise ValueError(f"nbgrader_config.py: c.{SECTION}.{unknown[0]} is no setting of grading on submit; "
                         f"the settings are {', '.join(_SETTINGS)}")
    values = {}
    for name, value in section.items():
        types, fits, wanted = _SETTINGS[name]
        if isinstance(value, bool) or not isinstance(value, types) or not fits(value):
            raise ValueError(f"nbgrader_config.py: c.{SECTION}.{name} must be {wanted}, got {value!r}")
        values[name] = value
    return Policy(**values)


def attempts_in_window(graded_at, now, policy):
    """How many of the gradings at ``graded_at`` count at ``now``: each from its time until a window later."""
    # Written as "leaves at when + window", the very sum next_graded_time computes, so the two agree to the bit.
    return sum(when <= now < when + policy.window_s for when in graded_at)


def next_graded_time(graded_at, submitted_at, due, policy):
    """When a submission made at ``submitted_at`` may be graded, given the student's earlier gradings.

    ``graded_at``: the times of the student's gradings so far; ``due``: the due date, or None.
    The earliest time from ``submitted_at`` on at which fewer than ``graded_attempts`` gradings
    lie in the window, or ``due`` when the submission was on time and that comes first.
    """
    recent = sorted(graded_at, reverse=True)
    earliest = submitted_at
    if len(recent) >= policy.graded_attempts:
        earliest = max(earliest, recent[policy.graded_attempts - 1] + policy.window_s)
    if due is not None and submitted_at <= due < earliest:
        return due
    return earliest


def details_at(now, due, policy):
    """The detail level of a page made at ``now``: ``details_before_due`` until the due date, then after."""
    return policy.details_after_due if due is not None and now >= due else policy.details_before_due


def statement(policy, graded_at, now, due):
    """The lines a feedback page made at ``now`` states: the policy, this attempt, and when the next counts."""
    used = attempts_in_window(graded_at, now, policy)
    window = f"{policy.window_hours:g} hour{'' if policy.window_hours == 1 else 's'}"
    lines = [f"Grading on submit: at most {policy.graded_attempts} graded attempt(s) in any {window}; "
             f"this page is of attempt {used} of {policy.graded_attempts} in the last {window}."]
    following = next_graded_time(graded_at, now, due, policy)
    if following <= now:
        lines.append("Your next submission is graded when it arrives; your latest submission always counts.")
    else:
        lines.append(f"Your next graded attempt: from {utc_text(following)}; a submission before then waits "
                     "until that time, and your latest submission always counts.")
    before, after = SHOWN[policy.details_before_due], SHOWN[policy.details_after_due]
    if due is None:
        lines.append(f"No due date is set: until one is, feedback shows {before}.")
    elif now < due:
        lines.append(f"Until the due date, {utc_text(due)}, feedback shows {before}; after it, {after}.")
    else:
        lines.append(f"The due date, {utc_text(due)}, has passed: feedback shows {after}.")
    return lines


def utc_text(when):
    return datetime.datetime.fromtimestamp(when, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
