"""One wall-clock budget per submission, and a bound on what one part's replies may bring in.

Both are kept by the trusted process: a submission that is slow in every part
(or restarts its sandbox again and again) stops at the submission's budget,
and a part whose results add up to more than PART_REPLY_BYTES is stopped.
"""
import time

import pytest

from autograder.isolation.sandbox import available_isolation
from autograder.isolation.student import (PART_REPLY_BYTES, Program, SandboxStudent, StudentCrash,
                                          StudentTimeout, TimeLimits)

LEVEL, _ = available_isolation()
SPIN = "def spin():\n    while True:\n        pass\n"
HOARD = "import numpy as np\n\ndef hoard():\n    return np.ones((48 << 20) // 8)\n"


def student(source, limits, deadline, log):
    return SandboxStudent(Program([], [("t", source)]), LEVEL, "/tmp/no-course-here", limits, log,
                          submission_deadline=deadline)


def test_a_spent_submission_budget_starts_no_sandbox():
    log = []
    spent = student(SPIN, TimeLimits(), time.monotonic() - 1, log)
    started = time.monotonic()
    with pytest.raises(StudentTimeout, match="this submission's time budget .600 s. is used up"):
        spent.call("spin")
    assert time.monotonic() - started < 0.5 and spent._sandbox is None


def test_the_submission_budget_stops_a_call_across_parts():
    limits = TimeLimits(call_s=30, part_s=120, submission_s=4)
    deadline = time.monotonic() + limits.submission_s
    started = time.monotonic()
    first = student(SPIN, limits, deadline, [])
    try:
        with pytest.raises(StudentTimeout, match="the rest of this submission's time budget"):
            first.call("spin")
    finally:
        first.close()
    second = student(SPIN, limits, deadline, [])
    with pytest.raises(StudentTimeout, match="used up"):
        second.call("spin")
    assert time.monotonic() - started < limits.submission_s + 6


def test_a_part_whose_replies_add_up_past_the_bound_is_stopped():
    limits = TimeLimits(call_s=30)
    hoarder = student(HOARD, limits, None, [])
    calls = 0
    try:
        with pytest.raises(StudentCrash, match="exceeded 256 MiB in all"):
            for calls in range(1, 20):
                hoarder.call("hoard")
    finally:
        hoarder.close()
    assert calls == PART_REPLY_BYTES // (48 << 20) + 1
    with pytest.raises(StudentCrash, match="exceeded"):
        hoarder.call("hoard")
