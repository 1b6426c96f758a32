"""cnnbook.run_stats: medians, failures counted apart, and binomial intervals."""
import pytest

from cnnbook.run_stats import (binomial_interval, describe_runs, interval_clause, median_and_range,
                               split_failures)


def test_median_and_range_of_a_bimodal_sample_describe_the_runs_not_their_mean():
    assert median_and_range([0.9, 0.1, 0.92, 0.91]) == (0.905, 0.1, 0.92)
    with pytest.raises(ValueError, match="no values"):
        median_and_range([])


def test_failures_are_counted_apart_from_the_runs_that_worked():
    kept, failed = split_failures([0.9, 0.1, 0.92], threshold=0.15)
    assert kept.tolist() == [0.9, 0.92] and failed == 1


def test_describe_runs_says_how_many_failed():
    assert describe_runs([0.9, 0.1, 0.92], threshold=0.15) == \
        "median 91.0 % (range 90.0-92.0 %) over 2 runs; 1 of 3 runs failed"
    assert describe_runs([0.1, 0.1], threshold=0.15) == "all 2 runs failed"
    assert describe_runs([1.5], percent=False) == "median 1.50 (range 1.50-1.50) over 1 run"


def test_binomial_interval_matches_the_wilson_formula_and_stays_in_bounds():
    low, high = binomial_interval(32, 40)          # 80 % of 40 digits
    assert low == pytest.approx(0.6524, abs=1e-3) and high == pytest.approx(0.8950, abs=1e-3)
    assert binomial_interval(40, 40)[1] == 1.0 and binomial_interval(40, 40)[0] < 1.0
    assert binomial_interval(0, 40)[0] == 0.0 and binomial_interval(0, 40)[1] > 0.0
    with pytest.raises(ValueError, match="0 <= successes <= n"):
        binomial_interval(5, 4)


def test_interval_clause_gives_each_score_its_interval():
    text = interval_clause({"pooled": 0.9, "flat": 0.75}, 40)
    assert text == ("a score of 90% (pooled) could be anywhere from 77% to 96% (95 % binomial "
                    "interval), and 75% (flat) anywhere from 60% to 86%")


def test_interval_clause_says_equal_scores_once():
    text = interval_clause({"pooled": 0.9, "flat": 0.9}, 40)
    assert text == ("a score of 90% (pooled and flat) could be anywhere from 77% to 96% "
                    "(95 % binomial interval)")
    assert text.count("77% to 96%") == 1


def test_interval_clause_joins_three_scores_and_refuses_none():
    text = interval_clause({"a": 0.9, "b": 0.9, "c": 0.5}, 40)
    assert text.startswith("a score of 90% (a and b) could be") and text.endswith(
        ", and 50% (c) anywhere from 35% to 65%")
    with pytest.raises(ValueError, match="interval_clause: no scores"):
        interval_clause({}, 40)
