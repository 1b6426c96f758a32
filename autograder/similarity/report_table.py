"""The CSV of every pair: one row per pair of students, highest score first.

Columns: ``rank, student_a, student_b, score, share_a, share_b``, then one column per graded part
(the same score on that part's code alone; empty where neither student wrote code of their own for
it).  Scores are fractions from 0 to 1 with four decimals.

Student names are folder names, which an LMS download or a student chose: a name that starts with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return would be read as a formula by a spreadsheet
(OWASP's "CSV injection"), so such a cell gets a leading ``'``, as OWASP advises.
"""
import csv

from ..nbgrader_io.roster import FORMULA_START

# The roster refuses every control character outright; a folder name here is only written, so the
# two that OWASP lists (tab, carriage return) get the same leading quote as a formula.
FORMULA_STARTS = FORMULA_START + ("\t", "\r")
FIXED_COLUMNS = ["rank", "student_a", "student_b", "score", "share_a", "share_b"]


def write_pairs_csv(path, pairs, part_names):
    """Write ``pairs`` (:class:`~.detector.PairScore`, ranked) to ``path``."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(FIXED_COLUMNS + list(part_names))
        for rank, pair in enumerate(pairs, start=1):
            writer.writerow([rank, inert_cell(pair.a), inert_cell(pair.b), _fraction(pair.score),
                             _fraction(pair.share_a), _fraction(pair.share_b)]
                            + [_fraction(pair.parts[part]) if part in pair.parts else "" for part in part_names])


def inert_cell(text):
    """``text`` as a spreadsheet shows it, never as a formula it runs."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _fraction(value):
    return f"{value:.4f}"
