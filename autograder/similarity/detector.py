"""Every pair of students compared with copydetect's fingerprints.

**Why copydetect.**  Two established, offline detectors were candidates.  Dolos (npm ``@dodona/dolos``,
Ghent University) is the better maintained of the two and its web report is the richer, but it is a
Node program whose install compiles tree-sitter with node-gyp (its issues #705 and #1073 are such
builds failing on a new Node), and its report is a web application served by ``dolos serve``: the
grader would carry a second toolchain, and a page of student code whose escaping we do not control.
copydetect (PyPI, 0.5.0) is pure Python on what the grader already has (numpy, Pygments, Jinja2,
matplotlib, tqdm), tested on Python 3.11 and 3.12 (its PR #52), and implements MOSS's winnowing
(Schleimer, Wilkerson and Aiken, SIGMOD 2003) with Pygments' Python tokenizer.  Its own HTML report is
not used: it loads Bootstrap from a CDN, and its file list puts names into the page unescaped (its
template is rendered without autoescape), so :mod:`.report_page` draws the page instead.

**What is compared.**  One document per student: the student's own lines of every part
(:mod:`.answers`), in the release's order, the parts' places kept (:class:`Document`).  copydetect's
:class:`~copydetect.detector.CodeFingerprint` tokenizes it and replaces every variable, attribute,
function and class name by one letter and every string by ``S``, dropping comments and whitespace:
renaming a variable, changing comments or spacing, or swapping quotes changes nothing.  Every
:data:`NOISE_CHARS`-character stretch of that filtered text is a fingerprint (window 1, copydetect's
default: all of them kept, so the result does not depend on Python's hash seed).  The release's
cells are not passed as copydetect's ``boilerplate``: in 0.5.0 any boilerplate at all also drops the
earlier occurrences of every fingerprint a document repeats (``np.intersect1d(..., assume_unique=True)``
on a list with repeats), which would hide repeated copied code; the release's lines are taken out
of the documents instead.

**The score** of a pair (a, b) is the share of both students' fingerprinted code that lies in a
matched stretch, ``(overlap_a + overlap_b) / (coverage_a + coverage_b)``, with copydetect's
``token_overlap`` and ``token_coverage`` for each side.  One-sided shares are kept too: a student who
wrote little is contained in many classmates, which the two-sided score does not mistake for copying.

**Speed.**  ``compare_files`` costs about 0.2 ms a pair, 9 s for the 44,850 pairs of 300 students on
a loaded two-core machine.  :func:`compare_class` computes the same overlaps for one student against
the whole class at once (numpy over an index of which students hold each fingerprint), and Pygments'
tokenizing, the other large cost, runs on every core (:func:`documents_of`);
``tests/test_similarity_detector.py`` holds its numbers equal to ``compare_files`` on every pair of
its class.  The stretches a page shows come from ``compare_files`` itself (:func:`matched_stretches`).
"""
import io
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from copydetect.detector import CodeFingerprint, compare_files
from copydetect.utils import filter_code

# Fingerprint length in filtered characters: copydetect's default, 25.  In filtered text
# "for i in range(H_out):" is "forVinrange(V):" (15 characters), so two loop headers in a row match
# in any two loop-based layers.  On the test class of tests/test_similarity_ranking.py (12 students:
# six independent implementations of the four numpy layers, six copies) every length from 12 to 30
# ranks all 7 copied pairs above all 59 independent ones; 25 keeps the independent pairs lowest
# (at most 0.58, against 0.71 with 12) with nearly the widest gap to the lowest copied pair
# (0.75: a copy split into helper functions); 30 narrows it to 0.09.
NOISE_CHARS = 25
WINDOW = 1
# Below this many students one process is quicker than starting others.
PARALLEL_FROM = 40
LANGUAGE = "python"


@dataclass(frozen=True)
class Document:
    """One student's code as compared: the text, each part's place in it, and its fingerprints."""
    student: str
    text: str
    spans: dict                  # part name -> (start, end) in text
    fingerprint: object          # copydetect's CodeFingerprint of text


def document_of(student_code, part_names):
    """The :class:`Document` of a :class:`~.answers.StudentCode`: its parts in ``part_names``' order."""
    text, spans = _joined(student_code, part_names)
    return Document(student_code.student, text, spans, fingerprint_of(text))


def _joined(student_code, part_names):
    """``(text, spans)``: the student's parts joined by blank lines, and where each one lies."""
    pieces, spans, at = [], {}, 0
    for part in part_names:
        code = student_code.parts.get(part, "")
        if not code:
            continue
        spans[part] = (at, at + len(code))
        pieces.append(code)
        at += len(code) + 2
    return "\n\n".join(pieces), spans


def documents_of(students, part_names):
    """:func:`document_of` for each of ``students``.  Pygments' lexer is most of the time of a class, so
    copydetect's ``filter_code`` runs on every core; only its small result comes back (a whole
    fingerprint pickles to 130 KB and took longer to send than to make), and each fingerprint is
    assembled here (:func:`fingerprint_from_filtered`), where every hash is computed with this
    process's hash seed."""
    texts = [_joined(student, part_names) for student in students]
    if len(texts) < PARALLEL_FROM or (os.cpu_count() or 1) < 2:
        filtered = [_filtered(text) for text, _ in texts]
    else:
        with ProcessPoolExecutor(os.cpu_count(), mp_context=multiprocessing.get_context("fork")) as pool:
            filtered = list(pool.map(_filtered, [text for text, _ in texts], chunksize=8))
    return [Document(student.student, text, spans, fingerprint_from_filtered(text, *pieces))
            for student, (text, spans), pieces in zip(students, texts, filtered)]


def fingerprint_of(text):
    """copydetect's fingerprint of ``text``, read from memory (the language is given, not guessed from a name)."""
    return CodeFingerprint("answers.py", NOISE_CHARS, WINDOW, filter=True, language=LANGUAGE,
                           fp=io.StringIO(text))


def _filtered(text):
    """copydetect's tokenized and filtered ``text``, and its offsets back into ``text``."""
    return filter_code(text, "answers.py", LANGUAGE)


def fingerprint_from_filtered(text, filtered_code, offsets):
    """The fingerprint :func:`fingerprint_of` makes, from ``filter_code``'s result: copydetect's
    constructor on the filtered text, unfiltered, computes the same hashes and coverage; only the
    original text and the offsets into it differ, and are set to what filtering gave."""
    fingerprint = CodeFingerprint("answers.py", NOISE_CHARS, WINDOW, filter=False, language=LANGUAGE,
                                  fp=io.StringIO(filtered_code))
    fingerprint.raw_code, fingerprint.offsets = text, offsets
    return fingerprint


def _occurrences(doc):
    """``(positions, hashes)`` of every fingerprint of ``doc``, by position: with window 1 and no
    boilerplate copydetect keeps every k-gram, so the positions are 0, 1, ... up to the last start."""
    pairs = [(position, value) for value, positions in doc.fingerprint.hash_idx.items() for position in positions]
    if not pairs:
        empty = np.zeros(0, np.int64)
        return empty, empty
    array = np.array(sorted(pairs), dtype=np.int64)
    if not np.array_equal(array[:, 0], np.arange(len(array))):
        raise ValueError("detector: copydetect kept only some k-grams; the class-wide count needs all of them "
                         "(window 1, no boilerplate)")
    return array[:, 0], array[:, 1]


def _in_text(fingerprint, positions):
    """Where filtered positions fall in the original text (compare_files' own mapping of its slices)."""
    offsets = np.asarray(fingerprint.offsets)
    if not len(offsets):
        return positions
    at = np.clip(np.searchsorted(offsets[:, 0], positions), 0, offsets.shape[0] - 1)
    return positions + offsets[:, 1][at]


def _part_of(doc, part_names, places):
    """Index in ``part_names`` of the part whose span holds each place (the last part begun before it)."""
    spans = sorted((start, part_names.index(part)) for part, (start, _) in doc.spans.items())
    starts = np.array([start for start, _ in spans], dtype=np.int64)
    indices = np.array([index for _, index in spans], dtype=np.int64)
    return indices[np.clip(np.searchsorted(starts, places, side="right") - 1, 0, len(spans) - 1)]


def _covered(shared, k):
    """For each row of the boolean ``shared`` (rows x n, one column per fingerprint start 0..n-1): which of
    the n + k - 1 filtered characters lie in [p, p + k) of a shared start p.  A row's count is
    copydetect's ``token_overlap`` (``get_copied_slices``: each stretch ends k after its last start)."""
    rows, n = shared.shape
    before = np.zeros((rows, n + 1), dtype=np.int32)         # before[:, i]: shared starts below i
    np.cumsum(shared, axis=1, dtype=np.int32, out=before[:, 1:])
    chars = np.arange(n + k - 1)
    # Character c is covered when a shared start lies in [c - k + 1, c].
    return before[:, np.minimum(chars, n - 1) + 1] > before[:, np.maximum(chars - k + 1, 0)]


@dataclass(frozen=True)
class ClassOverlaps:
    """copydetect's measures for every ordered pair of a class, part by part."""
    overlap: np.ndarray          # [a, b, part]: a's filtered characters in stretches b shares, in a's part
    coverage: np.ndarray         # [a, part]: a's fingerprinted filtered characters (token_coverage)


def class_overlaps(documents, part_names):
    """The :class:`ClassOverlaps` of ``documents``: for each student, the whole class at once (one
    student a task, on every core: numpy lets go of the interpreter for all the heavy steps)."""
    part_names = list(part_names)
    occurrences = [_occurrences(doc) for doc in documents]
    count, parts = len(documents), len(part_names)
    owners_of = _owner_index([hashes for _, hashes in occurrences])
    overlap = np.zeros((count, count, parts), dtype=np.int64)
    coverage = np.zeros((count, parts), dtype=np.int64)

    def one_student(index):
        positions, hashes = occurrences[index]
        if not len(positions):
            return
        # Which part each filtered character belongs to, as a matrix the covered characters multiply.
        doc, chars = documents[index], np.arange(len(positions) + NOISE_CHARS - 1)
        one_hot = np.zeros((len(chars), parts), dtype=np.float32)
        one_hot[chars, _part_of(doc, part_names, _in_text(doc.fingerprint, chars))] = 1
        coverage[index] = one_hot.sum(axis=0)
        shared = owners_of(hashes, count)
        shared[index] = False
        overlap[index] = np.rint(_covered(shared, NOISE_CHARS).astype(np.float32) @ one_hot)

    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        list(pool.map(one_student, range(count)))
    return ClassOverlaps(overlap, coverage)


def _owner_index(hash_lists):
    """A function ``(hashes, count) -> shared``: ``shared[s, t]`` is True when student s has ``hashes[t]``."""
    values = [np.unique(hashes) for hashes in hash_lists]
    owners = [np.full(len(unique), index, dtype=np.int64) for index, unique in enumerate(values)]
    all_values = np.concatenate(values) if values else np.zeros(0, np.int64)
    all_owners = np.concatenate(owners) if owners else np.zeros(0, np.int64)
    order = np.lexsort((all_owners, all_values))
    sorted_values, sorted_owners = all_values[order], all_owners[order]

    def shared(hashes, count):
        starts = np.searchsorted(sorted_values, hashes, side="left")
        lengths = np.searchsorted(sorted_values, hashes, side="right") - starts
        # Every (occurrence, owner) pair: the owners of each occurrence's hash, one run per occurrence.
        run_starts = np.repeat(starts - (lengths.cumsum() - lengths), lengths)
        rows = sorted_owners[run_starts + np.arange(lengths.sum())]
        table = np.zeros((count, len(hashes)), dtype=bool)
        table[rows, np.repeat(np.arange(len(hashes)), lengths)] = True
        return table
    return shared


@dataclass(frozen=True)
class PairScore:
    """How much of two students' code lies in stretches they share (copydetect's measures)."""
    a: str
    b: str
    score: float                 # (overlap_a + overlap_b) / (coverage_a + coverage_b)
    share_a: float               # overlap_a / coverage_a: how much of a's code b also has
    share_b: float
    parts: dict                  # part name -> the same score on that part's code alone (absent: neither has code)


def compare_class(documents, part_names):
    """Every pair (a before b in ``documents``) as a :class:`PairScore`, highest score first."""
    measures = class_overlaps(documents, part_names)
    first, second = np.triu_indices(len(documents), 1)
    ours, theirs = measures.overlap[first, second], measures.overlap[second, first]       # (pairs, parts)
    coverage_a, coverage_b = measures.coverage[first], measures.coverage[second]
    scores = _ratios(ours.sum(1) + theirs.sum(1), coverage_a.sum(1) + coverage_b.sum(1))
    shares_a, shares_b = _ratios(ours.sum(1), coverage_a.sum(1)), _ratios(theirs.sum(1), coverage_b.sum(1))
    part_scores = _ratios(ours + theirs, coverage_a + coverage_b).tolist()
    has_code = ((coverage_a + coverage_b) > 0).tolist()
    names = [doc.student for doc in documents]
    pairs = [PairScore(names[a], names[b], score, share_a, share_b,
                       {part: value for part, value, code in zip(part_names, values, codes) if code})
             for a, b, score, share_a, share_b, values, codes in zip(
                 first.tolist(), second.tolist(), scores.tolist(), shares_a.tolist(), shares_b.tolist(),
                 part_scores, has_code)]
    pairs.sort(key=lambda pair: (-pair.score, pair.a, pair.b))
    return pairs


def _ratios(numerators, denominators):
    """numerators / denominators, 0 where a denominator is 0."""
    return np.divide(numerators, denominators, out=np.zeros(np.shape(numerators)), where=denominators > 0)


def matched_stretches(doc_a, doc_b):
    """``(stretches_a, stretches_b)``: the ``(start, end)`` places in each text that copydetect's
    ``compare_files`` marks as shared (in the original text, comments and spaces included)."""
    _, _, (slices_a, slices_b) = compare_files(doc_a.fingerprint, doc_b.fingerprint)
    return _as_pairs(slices_a), _as_pairs(slices_b)


def _as_pairs(slices):
    slices = np.asarray(slices)
    if slices.ndim != 2 or slices.shape[1] == 0:
        return []
    return [(int(start), int(end)) for start, end in zip(slices[0], slices[1])]
