"""``python -m autograder similarity ASSIGNMENT [--threshold T] [--out DIR]``: the similarity report.

Run from the course root.  Reads ``submitted/*/ASSIGNMENT/`` and the release (:mod:`.answers`),
compares every pair (:mod:`.detector`), and writes two files into one folder (by default
``autograded/.autograder/ASSIGNMENT/similarity/``, beside the grader's other instructor records and,
like them, never released to students):

* ``report.html``: the ranked pairs, the code of each shown pair side by side (:mod:`.report_page`);
* ``pairs.csv``: every pair (:mod:`.report_table`).

The folder is written whole under a temporary name beside it, then renamed into place, so a report
is never half written; an existing folder is replaced only if it holds nothing but an earlier
report's two files.  Nothing else is written: no grade, no submission, no gradebook.

:func:`add_similarity_command` and :func:`similarity_command` are what ``autograder/__main__.py``
wires in; :func:`main` runs the command alone (``python -m autograder.similarity ASSIGNMENT``).
"""
import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import copydetect

from ..nbgrader_io.gradebook import CourseError, assignment_dir, course_directory
from ..nbgrader_io.release import ReleaseError
from . import detector
from .answers import read_class
from .report_page import PageFacts, ShownPair, page
from .report_table import write_pairs_csv

REPORT_FILES = ("report.html", "pairs.csv")
# On the test class of tests/test_similarity_ranking.py the copied pairs score 0.75 to 1 and the
# independent ones at most 0.58; a class's own spread, on the page, is the better guide.
DEFAULT_THRESHOLD = 0.65
MAX_SHOWN_ABOVE = 100        # pairs at or above the threshold drawn side by side (the CSV has them all)
SHOWN_BELOW = 5              # the highest pairs below it, drawn too, to show what ordinary looks like


class SimilarityError(ValueError):
    """The report cannot be written as asked."""


def add_similarity_command(commands):
    """Add ``similarity`` to argparse's ``commands`` (the object ``add_subparsers`` returned)."""
    similarity = commands.add_parser("similarity", help="rank every pair of students by how alike their answer "
                                     "cells are (an HTML report and a CSV; changes no grade)")
    similarity.add_argument("assignment")
    similarity.add_argument("--threshold", type=_fraction, default=DEFAULT_THRESHOLD,
                            help=f"pairs scoring at least this (0 to 1) come first on the page "
                                 f"(default {DEFAULT_THRESHOLD:g})")
    similarity.add_argument("--out", metavar="DIR", default=None,
                            help="the report's folder (default: autograded/.autograder/ASSIGNMENT/similarity)")


def similarity_command(args):
    """Write the report of ``args.assignment``; one line per file written.  Exit status 0."""
    root = Path.cwd()
    coursedir, _config = course_directory(root)
    out = Path(args.out) if args.out else default_folder(coursedir, args.assignment)
    started = time.monotonic()
    class_code = read_class(coursedir, args.assignment)
    documents = detector.documents_of(class_code.students, class_code.part_names)
    pairs = detector.compare_class(documents, class_code.part_names)
    shown = shown_pairs(pairs, documents, args.threshold)
    facts = PageFacts(args.assignment, len(documents), len(pairs), args.threshold, detector.NOISE_CHARS,
                      f"copydetect {copydetect.__version__}", time.monotonic() - started,
                      [pair.score for pair in pairs],
                      [(student.student, note) for student in class_code.students for note in student.notes],
                      [doc.student for doc in documents if not doc.spans])
    write_report(out, page(facts, shown, class_code.part_names),
                 lambda path: write_pairs_csv(path, pairs, class_code.part_names))
    for student, note in facts.notes:
        print(f"note: {student}: {note}")
    above = sum(item.above for item in shown)
    print(f"compared {len(documents)} students ({len(pairs)} pairs) in {facts.seconds:.1f} s; "
          f"{above} pairs at or above {args.threshold:g}")
    print(f"wrote {out / REPORT_FILES[0]} and {out / REPORT_FILES[1]}")
    return 0


def default_folder(coursedir, assignment):
    return assignment_dir(coursedir, "autograded", ".") / ".autograder" / assignment / "similarity"


def shown_pairs(pairs, documents, threshold):
    """The pairs the page draws: those at or above ``threshold`` (at most :data:`MAX_SHOWN_ABOVE`),
    then the :data:`SHOWN_BELOW` highest below it, each with copydetect's matched stretches."""
    by_name = {doc.student: doc for doc in documents}
    above = [pair for pair in pairs if pair.score >= threshold][:MAX_SHOWN_ABOVE]
    below = [pair for pair in pairs if pair.score < threshold][:SHOWN_BELOW]
    shown = []
    for rank, pair in enumerate(above + below, start=1):
        doc_a, doc_b = by_name[pair.a], by_name[pair.b]
        stretches_a, stretches_b = detector.matched_stretches(doc_a, doc_b)
        shown.append(ShownPair(rank, pair, doc_a, doc_b, stretches_a, stretches_b, pair.score >= threshold))
    return shown


def write_report(out, html_text, write_csv):
    """Write the report folder ``out`` whole, or leave it as it was."""
    out = Path(out)
    _check_replaceable(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.writing-", dir=out.parent))
    try:
        (staging / REPORT_FILES[0]).write_text(html_text, encoding="utf-8")
        write_csv(staging / REPORT_FILES[1])
        staging.chmod(0o700)          # student code: the instructor's alone
        replaced = out.with_name(f".{out.name}.replaced")
        shutil.rmtree(replaced, ignore_errors=True)
        if out.exists():
            os.rename(out, replaced)
        os.rename(staging, out)
        shutil.rmtree(replaced, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _check_replaceable(out):
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise SimilarityError(f"--out {out} is a link or a file; give a folder for the report")
    if out.is_dir():
        others = sorted(entry.name for entry in out.iterdir() if entry.name not in REPORT_FILES)
        if others:
            raise SimilarityError(f"--out {out} holds files other than a report's ({', '.join(others[:3])}); "
                                  "give a new folder or an earlier report's")


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"a fraction from 0 to 1, not {text!r}")
    return value


def main(argv=None):
    """``similarity`` on its own, as ``python -m autograder similarity`` will run it."""
    parser = argparse.ArgumentParser(prog="python -m autograder.similarity",
                                     description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    add_similarity_command(commands)
    args = parser.parse_args(["similarity", *(sys.argv[1:] if argv is None else argv)])
    try:
        return similarity_command(args)
    except (CourseError, ReleaseError, KeyError, SimilarityError) as error:
        print(f"error: {error.args[0] if error.args else error}", file=sys.stderr)
        return 2
