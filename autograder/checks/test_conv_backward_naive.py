"""Hidden checks of conv_backward_naive(dout, cache) -> (dx, dw, db).

The cache is the one the release's conv_forward_naive stores in its
provided last line, ``(x, w, b, conv_param)``, built here: a bug in the
student's forward pass costs the forward part only.  dx, dw and db are
compared with PyTorch's autograd gradients.
Weights (sum 10): stride 1 pad 1 (2), padding 0 (2), stride 2 on an odd
non-square input (2), stride 3 pad 2 with a non-square kernel (2), one image
with one channel (1), float32 (1); dout left unmodified is advice (0, see
:func:`~autograder.checks.checking.left_unmodified`).
"""
import numpy as np
import pytest

from autograder.checks import cases, oracle
from autograder.checks.checking import BACKWARD, BACKWARD_32, left_unmodified

PART = "conv_backward_naive"


def backward(student, verify, x, w, b, conv_param, tolerance=BACKWARD, dtype=None, rng=None):
    shape = cases.conv_output_shape(x, w, conv_param)
    dout = cases.normal(rng, shape, x.dtype)
    dx, dw, db = verify.result(student.call(PART, dout, (x, w, b, conv_param)), ("dx", "dw", "db"), PART)
    expected = oracle.conv_backward(x, w, b, conv_param["stride"], conv_param["pad"], dout)
    for name, actual, wanted in zip(("dx", "dw", "db"), (dx, dw, db), expected):
        verify.close(name, actual, wanted, tolerance, dtype)


@pytest.mark.weight(2)
def test_stride_1_pad_1(student, rng, verify):
    """dx, dw, db for stride 1, pad 1, a square 3x3 kernel"""
    size = int(rng.integers(6, 9))
    backward(student, verify, *cases.conv_inputs(rng, 2, 3, size, size, 3, (3, 3), 1, 1), rng=rng)


@pytest.mark.weight(2)
def test_pad_0(student, rng, verify):
    """dx, dw, db for padding 0"""
    inputs = cases.conv_inputs(rng, 2, 2, int(rng.integers(6, 9)), int(rng.integers(6, 9)), 3, (3, 3), 1, 0)
    backward(student, verify, *inputs, rng=rng)


@pytest.mark.weight(2)
def test_stride_2_odd_non_square_input(student, rng, verify):
    """dx, dw, db for stride 2, pad 1 on an odd, non-square input"""
    inputs = cases.conv_inputs(rng, 2, 3, cases.odd(rng, 7, 9), cases.odd(rng, 11, 13), 4, (3, 3), 2, 1)
    backward(student, verify, *inputs, rng=rng)


@pytest.mark.weight(2)
def test_stride_3_pad_2_non_square_kernel(student, rng, verify):
    """dx, dw, db for stride 3, pad 2 and a non-square 3x5 kernel"""
    inputs = cases.conv_inputs(rng, 2, 2, int(rng.integers(8, 11)), int(rng.integers(9, 12)), 3, (3, 5), 3, 2)
    backward(student, verify, *inputs, rng=rng)


@pytest.mark.weight(1)
def test_one_image_one_channel(student, rng, verify):
    """dx, dw, db for a batch of one image with a single channel, 2x4 kernel"""
    inputs = cases.conv_inputs(rng, 1, 1, cases.odd(rng, 5, 7), 8, 2, (2, 4), 1, 1)
    backward(student, verify, *inputs, rng=rng)


@pytest.mark.weight(1)
def test_float32(student, rng, verify):
    """float32 inputs give float32 gradients, accurate to float32 precision"""
    inputs = cases.conv_inputs(rng, 2, 3, 7, 8, 3, (3, 3), 2, 1, dtype=np.float32)
    backward(student, verify, *inputs, tolerance=BACKWARD_32, dtype=np.float32, rng=rng)


@pytest.mark.weight(0)
def test_dout_unmodified(student, rng, verify):
    """dout is left as it was"""
    x, w, b, conv_param = cases.conv_inputs(rng, 2, 2, 6, 7, 2, (3, 3), 1, 1)
    dout = cases.normal(rng, cases.conv_output_shape(x, w, conv_param))
    left_unmodified(student, verify, PART, (dout, (x, w, b, conv_param)), ("dout",), ("dx", "dw", "db"), BACKWARD)
