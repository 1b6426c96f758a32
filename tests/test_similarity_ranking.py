"""The similarity report on a class with known answers: every copied pair ranks above every independent one.

The class (``tests/similarity_class.py``): six independent, correct implementations of the four numpy
layers (the instructor solution, the course's second implementation, and four written for this test:
einsum over window views, im2col with helper functions, scalar loops, shifted images), and six copies
made by renaming variables, reordering independent statements, changing comments and whitespace,
splitting pieces into helper functions, merging the helpers back, and all of these at once.

Measured with copydetect 0.5.0 and fingerprints of 25 filtered characters (the report's default):
the 7 copied pairs score 1.00 (renamed), 0.98 (comments and spacing), 0.89 (reordered), 0.83 (all at
once), 0.83 (helpers merged) and 0.75 (split into helpers, twice: with the source and with the renamed
copy); the 59 independent pairs score at most 0.58 (the instructor solution and the second
implementation: the same CS231n set-up lines and loops over the output).  All 7 copied pairs rank above
every independent pair; the same holds for every fingerprint length from 12 to 30 (detector.py).
"""
import numpy as np
import pytest

import similarity_class as sc
from autograder.nbgrader_io import cells


@pytest.fixture(scope="module")
def ranked(tmp_path_factory):
    course = sc.make_class_course(tmp_path_factory.mktemp("similarity-ranking"))
    status, folder = sc.run_similarity(course)
    assert status == 0
    return sc.read_pairs(folder)


def namespace(answers):
    """The release's setup and ``answers``' four cells run in one namespace, as in the notebooks."""
    found = {}
    for notebook in ("convolution", "max_pooling"):
        for statement in cells.setup_statements(cells.read_notebook(sc.RELEASE / f"{notebook}.ipynb")):
            exec(statement, found)
    for part in sc.FOUR:
        exec(cells.strip_magics(answers[part]), found)
    return found


@pytest.mark.parametrize("student", sorted(sc.students()))
def test_every_student_of_the_class_computes_what_the_instructor_solution_computes(student):
    mine, theirs = namespace(sc.students()[student]), namespace(sc.SOLUTIONS)
    rng = np.random.default_rng(7)
    for stride, pad in ((1, 1), (2, 0), (2, 1)):
        x, w, b = rng.standard_normal((2, 3, 7, 7)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
        conv, pool = {"stride": stride, "pad": pad}, {"pool_height": 2, "pool_width": 3, "stride": stride}
        results = []
        for found in (mine, theirs):
            out, cache = found["conv_forward_naive"](x, w, b, conv)
            grads = found["conv_backward_naive"](np.ones_like(out) * np.arange(out.size).reshape(out.shape), cache)
            pooled, pool_cache = found["max_pool_forward_naive"](x, pool)
            results.append([out, *grads, pooled, found["max_pool_backward_naive"](pooled * 2 + 1, pool_cache)])
        for got, expected in zip(*results):
            np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


def test_every_copied_pair_ranks_above_every_independent_pair(ranked):
    assert len(ranked) == 66
    copied = [row for row in ranked if sc.is_copied_pair(row["student_a"], row["student_b"])]
    independent = [row for row in ranked if not sc.is_copied_pair(row["student_a"], row["student_b"])]
    assert len(copied) == 7 and len(independent) == 59
    assert max(int(row["rank"]) for row in copied) == 7          # the top seven ranks, all of them
    highest_independent = max(float(row["score"]) for row in independent)
    assert min(float(row["score"]) for row in copied) > highest_independent + 0.1


def test_each_transformation_keeps_its_pair_above_the_default_threshold(ranked):
    scores = {frozenset((row["student_a"], row["student_b"])): float(row["score"]) for row in ranked}
    for copy, (source, _) in sc.COPIES.items():
        assert scores[frozenset((copy, source))] >= 0.65, copy
    assert scores[frozenset(("instructor", "renamed"))] == 1.0          # names are one letter to the detector
    assert max(score for pair, score in scores.items() if not sc.is_copied_pair(*pair)) < 0.65


def test_the_per_part_columns_say_which_functions_were_copied(ranked):
    row = next(row for row in ranked if {row["student_a"], row["student_b"]} == {"merged", "im2col"})
    assert all(float(row[part]) > 0.6 for part in sc.FOUR)
    assert all(row[part] == "" for part in ("spatial_batchnorm_forward", "three_layer_convnet"))
