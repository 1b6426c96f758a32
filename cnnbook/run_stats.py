"""Summaries of repeated runs that stay honest about small samples.

A lab trains each variant a handful of times.  A mean and a standard
deviation describe such a sample well only when the runs agree roughly; when
some runs fail outright (a network stuck at chance), the mean of a bimodal
result describes no run at all.  So the labs report the **median and the
range** of the runs that worked, and count the runs that failed separately
(:func:`split_failures`).  An accuracy measured on ``n`` test images is itself
uncertain; :func:`binomial_interval` gives its 95 % interval, and
:func:`interval_clause` says it in words for several scores at once.
"""
import math

import numpy as np


def median_and_range(values):
    """(median, smallest, largest) of per-run values."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        raise ValueError("median_and_range: no values")
    return float(np.median(values)), float(values.min()), float(values.max())


def split_failures(values, threshold):
    """(values at or above ``threshold``, number of values below it).

    For accuracies, ``threshold`` is typically chance level plus a margin: a
    run below it did not learn, which is a different finding from a run that
    learned a little worse.
    """
    values = np.asarray(values, dtype=float)
    return values[values >= threshold], int((values < threshold).sum())


def binomial_interval(successes, n, z=1.96):
    """Wilson score interval (low, high) for a proportion of ``successes`` in ``n``
    trials; ``z = 1.96`` gives 95 %.  Unlike ``p +- z sqrt(p(1-p)/n)`` it stays
    inside [0, 1] and is not empty at 0 or n successes."""
    if n <= 0 or not 0 <= successes <= n:
        raise ValueError(f"binomial_interval: need 0 <= successes <= n and n > 0, "
                         f"got {successes} of {n}")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def interval_clause(scores, n):
    """Words for the 95 % intervals of accuracies measured on ``n`` test images.

    ``scores`` maps a label to an accuracy, in the order to mention them.  Scores that read the
    same (to a whole percent) have the same interval, so they share one clause instead of
    repeating it: ``{"pooled": 0.9, "flat": 0.75}`` on 40 images gives "a score of 90% (pooled)
    could be anywhere from 77% to 96% (95 % binomial interval), and 75% (flat) anywhere from
    60% to 86%", and two scores of 90% give "a score of 90% (pooled and flat) could be anywhere
    from 77% to 96% (95 % binomial interval)".
    """
    if not scores:
        raise ValueError("interval_clause: no scores")
    groups = {}                         # the score as shown -> (labels, its interval as shown)
    for label, accuracy in scores.items():
        shown = f"{accuracy:.0%}"
        low, high = binomial_interval(round(accuracy * n), n)
        groups.setdefault(shown, ([], f"{low:.0%} to {high:.0%}"))[0].append(label)
    clauses = [f"{shown} ({_and(labels)}) {'could be ' if k == 0 else ''}anywhere from {interval}"
               + (" (95 % binomial interval)" if k == 0 else "")
               for k, (shown, (labels, interval)) in enumerate(groups.items())]
    return "a score of " + (clauses[0] if len(clauses) == 1
                            else ", ".join(clauses[:-1]) + ", and " + clauses[-1])


def _and(items):
    """'a', 'a and b', 'a, b and c'."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def median_text(values, percent=True):
    """"median 91.2 % (range 90.1-92.0 %)" of per-run values (``percent=False``: plain
    numbers with two decimals)."""
    median, low, high = median_and_range(values)
    scale, unit, digits = (100, " %", 1) if percent else (1, "", 2)
    return (f"median {median * scale:.{digits}f}{unit} "
            f"(range {low * scale:.{digits}f}-{high * scale:.{digits}f}{unit})")


def describe_runs(values, threshold=None, percent=True):
    """Text such as "median 91.2 % (range 90.1-92.0 %) over 5 runs; 1 of 6 runs failed":
    :func:`median_text` of the runs at or above ``threshold``, then the failures."""
    kept, failed = split_failures(values, threshold) if threshold is not None else (
        np.asarray(values, dtype=float), 0)
    total = len(kept) + failed
    if len(kept) == 0:
        return f"all {total} runs failed"
    text = f"{median_text(kept, percent)} over {len(kept)} run{'s' if len(kept) != 1 else ''}"
    if failed:
        text += f"; {failed} of {total} runs failed"
    return text
