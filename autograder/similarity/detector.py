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
the whole class at once (numpy over an index of which students hold each fingerprint);
``tests/test_similarity_detector.py`` holds its numbers equal to ``compare_files`` on every pair of
its class.  The stretches a page shows come from ``compare_files`` itself (:func:`matched_stretches`).
"""
import io
from dataclasses import dataclass

import numpy as np
from copydetect.detector import CodeFingerprint, compare_files

# Fingerprint length in filtered characters: copydetect's default, 25.  In filtered text
# "for i in range(H_out):" is "forVinrange(V):" (15 characters), so two loop headers in a row match
# in any two loop-based layers.  On the test class of tests/test_similarity_ranking.py (12 students:
# six independent implementations of the four numpy layers, six copies) every length from 12 to 30
# ranks all 7 copied pairs above all 59 independent ones; 25 keeps the independent pairs lowest
# (at most 0.58, against 0.71 with 12) with nearly the widest gap to the lowest copied pair
# (0.75: a copy split into helper functions); 30 narrows it to 0.09.
NOISE_CHARS = 25
WINDOW = 1
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
    pieces, spans, at = [], {}, 0
    for part in part_names:
        code = student_code.parts.get(part, "")
        if not code:
            continue
        spans[part] = (at, at + len(code))
        pieces.append(code)
        at += len(code) + 2
    text = "\n\n".join(pieces)
    return Document(student_code.student, text, spans, fingerprint_of(text))


def fingerprint_of(text):
    """copydetect's fingerprint of ``text``, read from memory (the name only picks nothing: the language is given)."""
    return CodeFingerprint("answers.py", NOISE_CHARS, WINDOW, filter=True, language=LANGUAGE,
                           fp=io.StringIO(text))


def _occurrences(doc, part_names):
    """``(positions, hashes, parts)`` of every fingerprint occurrence of ``doc``, sorted by position:
    its start in the filtered text, its hash, and the index in ``part_names`` of the part it starts in."""
    fingerprint = doc.fingerprint
    pairs = [(position, value) for value, positions in fingerprint.hash_idx.items() for position in positions]
    if not pairs:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    array = np.array(sorted(pairs), dtype=np.int64)
    positions = array[:, 0]
    return positions, array[:, 1], _part_of(doc, part_names, _in_text(fingerprint, positions))


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


def _reach(positions, shared, k):
    """For each row of the boolean ``shared`` (rows x positions): how many filtered characters each
    shared position adds to the union of the intervals [p, p + k) (0 where not shared).  A row's sum
    is copydetect's ``token_overlap`` (``get_copied_slices``: stretches end k after their last start)."""
    inf = np.iinfo(np.int64).max
    at = np.where(shared, positions[None, :], inf)
    # The next shared position after each one, per row (inf after the last).
    following = np.minimum.accumulate(at[:, ::-1], axis=1)[:, ::-1]
    following = np.concatenate([following[:, 1:], np.full((len(at), 1), inf)], axis=1)
    reach = np.minimum(following - np.where(shared, positions[None, :], 0), k)
    return np.where(shared, reach, 0)


@dataclass(frozen=True)
class ClassOverlaps:
    """copydetect's measures for every ordered pair of a class, part by part."""
    overlap: np.ndarray          # [a, b, part]: a's filtered characters in stretches b shares, by a's part
    coverage: np.ndarray         # [a, part]: a's fingerprinted filtered characters (token_coverage)


def class_overlaps(documents, part_names):
    """The :class:`ClassOverlaps` of ``documents``: for each student, the whole class at once."""
    part_names = list(part_names)
    occurrences = [_occurrences(doc, part_names) for doc in documents]
    count, parts = len(documents), len(part_names)
    owners_of = _owner_index([hashes for _, hashes, _ in occurrences])
    overlap = np.zeros((count, count, parts), dtype=np.int64)
    coverage = np.zeros((count, parts), dtype=np.int64)
    for index, (positions, hashes, part) in enumerate(occurrences):
        if not len(positions):
            continue
        one_hot = np.zeros((len(positions), parts), dtype=np.int64)
        one_hot[np.arange(len(positions)), part] = 1
        coverage[index] = _reach(positions, np.ones((1, len(positions)), bool), NOISE_CHARS)[0] @ one_hot
        shared = owners_of(hashes, count)
        shared[index] = False
        overlap[index] = _reach(positions, shared, NOISE_CHARS) @ one_hot
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
    pairs = []
    for i in range(len(documents)):
        for j in range(i + 1, len(documents)):
            pairs.append(pair_score(documents[i].student, documents[j].student, measures, i, j, part_names))
    pairs.sort(key=lambda pair: (-pair.score, pair.a, pair.b))
    return pairs


def pair_score(a, b, measures, i, j, part_names):
    overlap_a, overlap_b = measures.overlap[i, j], measures.overlap[j, i]
    coverage_a, coverage_b = measures.coverage[i], measures.coverage[j]
    parts = {part: _ratio(overlap_a[k] + overlap_b[k], coverage_a[k] + coverage_b[k])
             for k, part in enumerate(part_names) if coverage_a[k] + coverage_b[k]}
    return PairScore(a, b, _ratio(overlap_a.sum() + overlap_b.sum(), coverage_a.sum() + coverage_b.sum()),
                     _ratio(overlap_a.sum(), coverage_a.sum()), _ratio(overlap_b.sum(), coverage_b.sum()), parts)


def _ratio(numerator, denominator):
    return float(numerator / denominator) if denominator else 0.0


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


def part_shares(doc, stretches):
    """``{part: share of its characters inside a matched stretch}`` for the parts of ``doc``."""
    shares = {}
    for part, (start, end) in doc.spans.items():
        inside = sum(max(0, min(end, s_end) - max(start, s_start)) for s_start, s_end in stretches)
        shares[part] = inside / (end - start) if end > start else 0.0
    return shares
