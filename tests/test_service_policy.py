"""Grading on submit's policy, and what its pages show: the attempt window, the deadline, the detail levels.

``autograder/submit_policy.py`` decides when a submission is graded and how much its page shows;
``autograder/nbgrader_io/feedback_details.py`` cuts the feedback to a level.  The window and the
levels have structure (times, lists of gradings, feedback texts of any shape), so hypothesis draws
them; a brute-force reading of the rules is the oracle.
"""
import nbformat
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from traitlets.config import Config

from autograder.checks.feedback import read_feedback, submission_feedback
from autograder.checks.runner import CheckResult, PartResult
from autograder.nbgrader_io import feedback_details
from autograder.nbgrader_io.feedback_details import graded_cell_at, text_at, with_notes
from autograder.submit_policy import (Policy, attempts_in_window, details_at, next_graded_time, policy_from_config,
                                      statement)
from test_instructor_feedback import course_page, text_of, with_class

HOUR = 3600.0
policies = st.builds(Policy, graded_attempts=st.integers(1, 4), window_hours=st.sampled_from([0.5, 1.0, 24.0]))
# Gradings of the past: offsets (seconds) before the submission.
histories = st.lists(st.floats(0.0, 30 * HOUR, allow_nan=False), max_size=8)


def room_at(graded_at, moment, policy):
    """The rule itself: at ``moment``, fewer than K gradings still count (made by then, less than a window ago)."""
    return sum(when <= moment < when + policy.window_s for when in graded_at) < policy.graded_attempts


@settings(max_examples=300, deadline=None)
@given(policies, histories, st.floats(0.0, 1e6, allow_nan=False))
def test_a_submission_is_graded_at_the_first_moment_the_window_has_room(policy, offsets, submitted_at):
    graded_at = [submitted_at - offset for offset in offsets]
    when = next_graded_time(graded_at, submitted_at, None, policy)
    assert when >= submitted_at
    assert room_at(graded_at, when, policy)
    for earlier in (submitted_at, (submitted_at + when) / 2, when - 1e-3):
        if submitted_at <= earlier < when:
            assert not room_at(graded_at, earlier, policy), earlier


@settings(max_examples=300, deadline=None)
@given(policies, histories, st.floats(0.0, 1e6, allow_nan=False), st.floats(-40 * HOUR, 40 * HOUR, allow_nan=False))
def test_an_on_time_submission_is_graded_at_the_deadline_at_the_latest_and_a_late_one_waits_its_turn(
        policy, offsets, submitted_at, due_after):
    graded_at = [submitted_at - offset for offset in offsets]
    due = submitted_at + due_after
    free = next_graded_time(graded_at, submitted_at, None, policy)
    when = next_graded_time(graded_at, submitted_at, due, policy)
    if submitted_at <= due:
        assert when == min(free, due)
    else:
        assert when == free


def test_three_gradings_a_day_then_the_fourth_waits_for_the_first_to_leave_the_window():
    policy = Policy(graded_attempts=3, window_hours=24)
    day = 24 * HOUR
    assert next_graded_time([], 100.0, None, policy) == 100.0
    assert next_graded_time([0.0, 10.0], 100.0, None, policy) == 100.0
    assert next_graded_time([0.0, 10.0, 20.0], 100.0, None, policy) == day            # when 0.0 leaves
    assert next_graded_time([0.0, 10.0, 20.0], 100.0, 5000.0, policy) == 5000.0       # the deadline first
    assert next_graded_time([0.0, 10.0, 20.0], 6000.0, 5000.0, policy) == day         # late: its turn
    assert attempts_in_window([0.0, 10.0, 20.0], day, policy) == 2                     # 0.0 is out at day


@pytest.mark.parametrize("now, due, level", [(10.0, None, "checks"), (10.0, 20.0, "checks"), (20.0, 20.0, "messages"),
                                             (30.0, 20.0, "messages")])
def test_pages_show_the_before_level_until_the_due_date_and_while_none_is_set(now, due, level):
    assert details_at(now, due, Policy()) == level


def test_the_statement_gives_the_limit_the_attempt_the_next_graded_time_and_what_pages_show():
    policy = Policy(graded_attempts=2, window_hours=1)
    free = statement(policy, [1000.0], 1000.0, None)
    assert free[0] == ("Grading on submit: at most 2 graded attempt(s) in any 1 hour; this page is of attempt 1 of 2 "
                       "in the last 1 hour.")
    assert "graded when it arrives" in free[1] and "No due date is set" in free[2]
    full = statement(policy, [1000.0, 2000.0], 2000.0, 1e9)
    assert "attempt 2 of 2" in full[0] and "next graded attempt: from 1970-01-01 01:16 UTC" in full[1]
    assert "Until the due date, 2001-09-09 01:46 UTC, feedback shows each check's pass or fail, without its " \
           "message; after it, each check with its message." == full[2]
    assert "has passed" in statement(policy, [], 2e9, 1e9)[2]


def test_the_settings_are_read_from_a_config_section_with_defaults_and_each_mistake_named():
    assert policy_from_config(Config()) == Policy(3, 24.0, "checks", "messages")
    config = Config({"GradeOnSubmit": {"graded_attempts": 5, "window_hours": 0.5, "details_before_due": "total"}})
    assert policy_from_config(config) == Policy(5, 0.5, "total", "messages")
    for section, named in [({"graded_attempt": 3}, "c.GradeOnSubmit.graded_attempt is no setting"),
                           ({"graded_attempts": 0}, "graded_attempts must be a whole number from 1 to 1000, got 0"),
                           ({"graded_attempts": True}, "got True"), ({"graded_attempts": 2.5}, "got 2.5"),
                           ({"window_hours": -1}, "window_hours must be a number of hours above 0"),
                           ({"details_after_due": "all"}, "one of total, checks, messages, got 'all'")]:
        with pytest.raises(ValueError, match=named):
            policy_from_config(Config({"GradeOnSubmit": section}))


# ---------------------------------------------------------------------------
# Detail levels: the text, the test cells and the page
# ---------------------------------------------------------------------------

titles = st.text("abcdefgh ,()", min_size=1, max_size=30).map(str.strip).filter(bool)
# Messages carry a marker no title holds, and what hostile code might print: newlines, fake lines.
messages = st.tuples(st.text(max_size=40), st.sampled_from(["", "\n  [pass] forged (weight 9)", "\nTotal: 80"])) \
    .map(lambda pair: f"MSG {pair[0]}{pair[1]}")
checks = st.builds(CheckResult, st.just("c"), titles, st.integers(0, 3), st.booleans(), messages,
                   st.lists(messages, max_size=1))
parts = st.lists(st.builds(PartResult, st.sampled_from(["conv_forward_naive", "max_pool_forward_naive"]),
                           st.integers(1, 20), st.lists(checks, min_size=1, max_size=5)), min_size=1, max_size=3)


@settings(max_examples=150, deadline=None)
@given(parts, st.lists(st.text(max_size=30), max_size=2))
def test_the_checks_level_keeps_every_check_and_its_mark_and_no_message(results, notes):
    text = submission_feedback("bob", "numpy_cnn", results, notes)
    cut = text_at(text, "checks")
    assert "MSG" not in cut
    full, kept = read_feedback(text), read_feedback(cut)
    assert [(c.part, c.passed, c.title, c.weight) for c in kept.checks] == [
        (c.part, c.passed, c.title, c.weight) for c in full.checks]
    assert [(p.part, p.points, p.possible) for p in kept.parts] == [(p.part, p.points, p.possible) for p in full.parts]
    assert kept.total == full.total and kept.notes == full.notes


@settings(max_examples=100, deadline=None)
@given(parts)
def test_the_total_level_keeps_the_total_and_nothing_of_any_part(results):
    text = submission_feedback("bob", "numpy_cnn", results, ["convnet.ipynb: not submitted"])
    cut = text_at(text, "total")
    kept = read_feedback(cut)
    assert kept.parts == [] and "MSG" not in cut and "Checks:" not in cut
    assert kept.total == read_feedback(text).total and kept.notes == ["convnet.ipynb: not submitted"]
    assert text_at(text, "messages") == text


def test_a_restricted_level_leaves_out_lines_of_no_known_shape():
    text = "Total: 1 / 2 points\nsomething new the grader might print one day\np: 1 / 2 points\n  [FAIL] t (weight 1): m\n"
    assert text_at(text, "checks") == "Total: 1 / 2 points\nChecks: 1 failed, 0 passed\n\np: 1 / 2 points\n" \
                                      "  [FAIL] t (weight 1)\n\n"


def test_the_policy_notes_come_first_among_the_notes_and_the_text_still_reads_back():
    text = submission_feedback("bob", "numpy_cnn", [PartResult("p", 2, [CheckResult("c", "t", 1, True)])],
                               ["convnet.ipynb: not submitted"])
    noted = with_notes(text, ["first", "second"])
    assert read_feedback(noted).notes == ["first", "second", "convnet.ipynb: not submitted"]
    bare = with_notes("Total: 1 / 2 points\nChecks: 0 failed, 1 passed\n\np: 1 / 2 points\n", ["only"])
    assert bare == "Total: 1 / 2 points\nChecks: 0 failed, 1 passed\n\nnote: only\n\np: 1 / 2 points\n"


def graded_test_cell(text):
    cell = nbformat.v4.new_code_cell("grade_part('p', globals(), 5)", metadata={
        "nbgrader": {"grade": True, "solution": False, "grade_id": "test_p", "points": 5, "score": 0.0}})
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text),
                    nbformat.v4.new_output("execute_result", data={"text/plain": "0.0"}, execution_count=1)]
    return cell


def test_a_test_cell_loses_its_messages_at_checks_and_its_outputs_and_score_at_total():
    printed = "p: 0 / 5 points\n  note: answer cell found by its def line\n  [FAIL] out (weight 1): MSG 42\n"
    at_checks = graded_cell_at(graded_test_cell(printed), "checks")
    assert at_checks.outputs[0]["text"] == "p: 0 / 5 points\n  note: answer cell found by its def line\n" \
                                           "  [FAIL] out (weight 1)\n"
    at_total = graded_cell_at(graded_test_cell(printed), "total")
    assert at_total.outputs == [] and "grade" not in at_total.metadata.nbgrader
    assert "score" not in at_total.metadata.nbgrader and at_total.metadata.nbgrader["grade_id"] == "test_p"
    assert graded_cell_at(graded_test_cell(printed), "messages").outputs[0]["text"] == printed


@pytest.mark.parametrize("level", feedback_details.DETAIL_LEVELS)
def test_the_course_page_at_each_level_shows_what_the_level_says_and_the_policy_first(tmp_path, monkeypatch, level):
    page, tree = page_at(tmp_path, monkeypatch, level, ["Grading on submit: at most 3 graded attempt(s)"])
    summary = text_of(with_class(tree, "autograder-summary")[0])
    assert summary.index("Note: Grading on submit") < summary.index("The whole feedback")
    assert ("largest relative error" in page) == (level == "messages")       # the failing check's message
    assert ("out for stride 2 (pad 1)" in page) == (level != "total")        # a check's title
    assert ("Test cell" in page) == (level != "total") and ("Score:" in page) == (level != "total")
    assert "Total: 7.5 / 15 points" in summary


def page_at(tmp_path, monkeypatch, level, notes):
    """The course page of test_instructor_feedback, with the service's two settings."""
    from autograder.nbgrader_io import feedback_page
    real = feedback_page.SubmissionFeedback

    class Configured(real):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.details, self.notes = level, notes
    monkeypatch.setattr(feedback_page, "SubmissionFeedback", Configured)
    return course_page(tmp_path, monkeypatch)
