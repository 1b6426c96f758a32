"""The detector's numbers are copydetect's: the class-wide computation equals ``compare_files`` pair by pair.

:func:`autograder.similarity.detector.class_overlaps` computes, for one student against the whole class at
once, what copydetect 0.5.0's ``compare_files`` computes for one pair (its ``token_overlap``, and each
document's ``token_coverage``), so that 300 students take seconds.  These tests hold the two equal on every
ordered pair of the known-answer class, and check what the tokenizer makes of names, comments and spacing.
"""
import itertools

import pytest
from copydetect.detector import compare_files

import similarity_class as sc
from autograder.similarity import detector
from autograder.similarity.answers import StudentCode, own_lines


def documents():
    release = sc.release_cells()
    return [detector.document_of(StudentCode(name, {part: own_lines(answers[part], release[part])[0]
                                                    for part in sc.FOUR}), sc.FOUR)
            for name, answers in sorted(sc.students().items())]


def test_the_class_wide_overlaps_equal_copydetects_compare_files_on_every_ordered_pair():
    docs = documents()
    measures = detector.class_overlaps(docs, sc.FOUR)
    for i, j in itertools.permutations(range(len(docs)), 2):
        overlap, (share_i, _), _ = compare_files(docs[i].fingerprint, docs[j].fingerprint)
        assert measures.overlap[i, j].sum() == overlap, (docs[i].student, docs[j].student)
        assert measures.coverage[i].sum() == docs[i].fingerprint.token_coverage
        assert measures.overlap[i, j].sum() / measures.coverage[i].sum() == pytest.approx(share_i)


def test_names_comments_spacing_and_quotes_change_nothing_the_detector_sees():
    plain = "def f(a, b):\n    total = a['k'] + b * 2\n    for i in range(total):\n        a[i] = b[i] ** 2\n    return a\n"
    dressed = ("def g(first, second):   # a helper\n\n    # sum them\n    acc = first[\"k\"]+second*2\n"
               "    for idx in range( acc ):\n        first[idx] = second[idx]**2   # square\n    return first\n")
    one, two = (detector.document_of(StudentCode(name, {"p": code}), ["p"]) for name, code in (("a", plain), ("b", dressed)))
    [pair] = detector.compare_class([one, two], ["p"])
    assert (pair.score, pair.share_a, pair.share_b) == (1.0, 1.0, 1.0)


def test_a_student_who_wrote_little_is_contained_in_a_classmate_but_not_ranked_as_a_copy():
    release = sc.release_cells()
    full = {part: own_lines(sc.SOLUTIONS[part], release[part])[0] for part in sc.FOUR}
    little = {"conv_forward_naive": "    stride, pad = conv_param['stride'], conv_param['pad']\n"
                                    "    N, C, H, W = x.shape\n    F, _, HH, WW = w.shape\n"}
    docs = [detector.document_of(StudentCode(name, parts), sc.FOUR) for name, parts in (("full", full), ("little", little))]
    [pair] = detector.compare_class(docs, sc.FOUR)
    assert pair.share_b == 1.0 and pair.score < 0.2


def test_the_stretches_shown_are_copydetects_and_lie_inside_each_text():
    docs = {doc.student: doc for doc in documents()}
    stretches_a, stretches_b = detector.matched_stretches(docs["im2col"], docs["merged"])
    assert stretches_a and stretches_b
    for doc, stretches in ((docs["im2col"], stretches_a), (docs["merged"], stretches_b)):
        assert all(0 <= start < end <= len(doc.text) for start, end in stretches)
    marked = sum(end - start for start, end in stretches_b)
    assert marked > 0.5 * len(docs["merged"].text)


def test_a_fingerprint_assembled_from_filter_code_is_copydetects_own():
    # documents_of tokenizes on every core and assembles each fingerprint here; it must be the one
    # CodeFingerprint makes itself, attribute by attribute.
    text = documents()[0].text
    own = detector.fingerprint_of(text)
    assembled = detector.fingerprint_from_filtered(text, *detector._filtered(text))
    assert assembled.raw_code == own.raw_code and assembled.filtered_code == own.filtered_code
    assert (assembled.offsets == own.offsets).all() and assembled.hashes == own.hashes
    assert assembled.hash_idx.keys() == own.hash_idx.keys()
    assert all(list(assembled.hash_idx[key]) == list(own.hash_idx[key]) for key in own.hash_idx)
    assert assembled.token_coverage == own.token_coverage


def test_a_class_tokenized_on_every_core_scores_as_one_tokenized_here(monkeypatch):
    release = sc.release_cells()
    students = [StudentCode(name, {part: own_lines(answers[part], release[part])[0] for part in sc.FOUR})
                for name, answers in sorted(sc.students().items())]
    here = detector.compare_class([detector.document_of(student, sc.FOUR) for student in students], sc.FOUR)
    monkeypatch.setattr(detector, "PARALLEL_FROM", 2)
    forked = detector.compare_class(detector.documents_of(students, sc.FOUR), sc.FOUR)
    assert forked == here
