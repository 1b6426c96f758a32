"""Hidden checks of max_pool_backward_naive(dout, cache) -> dx.

The cache is the one the release's max_pool_forward_naive stores in its
provided last line, ``(x, pool_param)``, built here: a bug in the student's
forward pass costs the forward part only.  dx is compared with PyTorch's
autograd gradient.  Weights (sum 10): 2x2 windows with stride 2 (1), a
non-square 2x3 window (stride 3, no overlap) on an odd non-square input (2),
overlapping windows sharing their maximum, whose gradients must add up (3),
tied maxima inside a window, whose gradient goes to the first in row-major
order (1), stride 3 (1), one image with one channel (1), float32 (1); dout
left unmodified is advice (0, see :func:`~autograder.checks.checking.left_unmodified`).
"""
import numpy as np
import pytest

from autograder.checks import cases, oracle
from autograder.checks.checking import BACKWARD, BACKWARD_32, left_unmodified

PART = "max_pool_backward_naive"


def backward(student, verify, rng, x, pool_param, tolerance=BACKWARD, dtype=None):
    dout = cases.normal(rng, cases.pool_output_shape(x, pool_param), x.dtype)
    (dx,) = verify.result(student.call(PART, dout, (x, pool_param)), ("dx",), PART)
    expected = oracle.max_pool_backward(x, pool_param["pool_height"], pool_param["pool_width"],
                                        pool_param["stride"], dout)
    verify.close("dx", dx, expected, tolerance, dtype)


@pytest.mark.weight(1)
def test_2x2_stride_2(student, rng, verify):
    """dx for 2x2 windows with stride 2"""
    size = cases.even(rng, 6, 10)
    backward(student, verify, rng, *cases.pool_inputs(rng, 2, 3, size, size, (2, 2), 2))


@pytest.mark.weight(2)
def test_non_square_window_odd_input(student, rng, verify):
    """dx for a non-square 2x3 window, stride 3, on an odd, non-square input"""
    inputs = cases.pool_inputs(rng, 2, 3, cases.odd(rng, 7, 9), cases.odd(rng, 11, 13), (2, 3), 3)
    backward(student, verify, rng, *inputs)


@pytest.mark.weight(3)
def test_overlapping_windows_accumulate(student, rng, verify):
    """dx for overlapping 3x3 windows (stride 2) that share their maximum: gradients add up"""
    x, pool_param = cases.pool_inputs(rng, 2, 2, cases.odd(rng, 7, 9), int(rng.integers(8, 11)), (3, 3), 2)
    backward(student, verify, rng, cases.shared_maxima(x, pool_param), pool_param)


@pytest.mark.weight(1)
def test_ties_go_to_the_first_maximum(student, rng, verify):
    """dx for 2x2 windows holding their maximum twice or more: the first in row-major order gets it"""
    size = cases.even(rng, 6, 8)
    x = cases.tied_maxima(rng, 2, 2, size, size + 2)
    backward(student, verify, rng, x, {"pool_height": 2, "pool_width": 2, "stride": 2})


@pytest.mark.weight(1)
def test_stride_3(student, rng, verify):
    """dx for 2x2 windows with stride 3 (gaps between windows)"""
    inputs = cases.pool_inputs(rng, 2, 2, int(rng.integers(8, 11)), int(rng.integers(8, 11)), (2, 2), 3)
    backward(student, verify, rng, *inputs)


@pytest.mark.weight(1)
def test_one_image_one_channel(student, rng, verify):
    """dx for a batch of one image with a single channel"""
    backward(student, verify, rng, *cases.pool_inputs(rng, 1, 1, 6, cases.odd(rng, 7, 9), (2, 2), 2))


@pytest.mark.weight(1)
def test_float32(student, rng, verify):
    """float32 inputs give a float32 dx"""
    inputs = cases.pool_inputs(rng, 2, 3, 8, 8, (2, 2), 2, dtype=np.float32)
    backward(student, verify, rng, *inputs, tolerance=BACKWARD_32, dtype=np.float32)


@pytest.mark.weight(0)
def test_dout_unmodified(student, rng, verify):
    """dout is left as it was"""
    x, pool_param = cases.pool_inputs(rng, 2, 2, 7, 8, (3, 3), 2)
    dout = cases.normal(rng, cases.pool_output_shape(x, pool_param))
    left_unmodified(student, verify, PART, (dout, (x, pool_param)), ("dout",), ("dx",), BACKWARD)
