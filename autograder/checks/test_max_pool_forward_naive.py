"""Hidden checks of max_pool_forward_naive(x, pool_param) -> (out, cache).

Weights (sum 10): 2x2 windows with stride 2 (2), a non-square 2x3 window (stride 3) on
an odd non-square input (2), overlapping 3x3 windows with stride 2 (2),
stride 3 with gaps between 2x2 windows (2), one image with one channel (1),
float32 (1); input left unmodified is advice (0, see
:func:`~autograder.checks.checking.left_unmodified`).
"""
import numpy as np
import pytest

from autograder.checks import cases, oracle
from autograder.checks.checking import FORWARD, FORWARD_32, forward_pass, left_unmodified

PART = "max_pool_forward_naive"


def forward(student, verify, x, pool_param, tolerance=FORWARD, dtype=None):
    out, _cache = forward_pass(student, verify, PART, x, pool_param)
    expected = oracle.max_pool_forward(x, pool_param["pool_height"], pool_param["pool_width"],
                                       pool_param["stride"])
    verify.close("out", out, expected, tolerance, dtype)


@pytest.mark.weight(2)
def test_2x2_stride_2(student, rng, verify):
    """out for 2x2 windows with stride 2"""
    size = cases.even(rng, 6, 10)
    forward(student, verify, *cases.pool_inputs(rng, 2, 3, size, size, (2, 2), 2))


@pytest.mark.weight(2)
def test_non_square_window_odd_input(student, rng, verify):
    """out for a non-square 2x3 window, stride 3, on an odd, non-square input"""
    inputs = cases.pool_inputs(rng, 2, 3, cases.odd(rng, 7, 9), cases.odd(rng, 11, 13), (2, 3), 3)
    forward(student, verify, *inputs)


@pytest.mark.weight(2)
def test_overlapping_windows(student, rng, verify):
    """out for overlapping 3x3 windows with stride 2"""
    inputs = cases.pool_inputs(rng, 2, 2, cases.odd(rng, 7, 9), int(rng.integers(8, 11)), (3, 3), 2)
    forward(student, verify, *inputs)


@pytest.mark.weight(2)
def test_stride_3(student, rng, verify):
    """out for 2x2 windows with stride 3 (gaps between windows)"""
    inputs = cases.pool_inputs(rng, 2, 2, int(rng.integers(8, 11)), int(rng.integers(8, 11)), (2, 2), 3)
    forward(student, verify, *inputs)


@pytest.mark.weight(1)
def test_one_image_one_channel(student, rng, verify):
    """out for a batch of one image with a single channel"""
    forward(student, verify, *cases.pool_inputs(rng, 1, 1, 6, cases.odd(rng, 7, 9), (2, 2), 2))


@pytest.mark.weight(1)
def test_float32(student, rng, verify):
    """a float32 input gives a float32 out"""
    inputs = cases.pool_inputs(rng, 2, 3, 8, 8, (2, 2), 2, dtype=np.float32)
    forward(student, verify, *inputs, tolerance=FORWARD_32, dtype=np.float32)


@pytest.mark.weight(0)
def test_input_unmodified(student, rng, verify):
    """x and pool_param are left as they were"""
    x, pool_param = cases.pool_inputs(rng, 2, 2, 7, 8, (3, 3), 2)
    left_unmodified(student, verify, PART, (x, pool_param), ("x", "pool_param"), ("out", "cache"), FORWARD,
                    keep=(1,))
