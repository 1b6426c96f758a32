"""Hidden checks of conv_forward_naive(x, w, b, conv_param) -> (out, cache).

Weights (sum 10): stride 1 pad 1 (2), padding 0 (2), stride 2 on an odd
non-square input (2), stride 3 pad 2 with a non-square kernel (2), one image
with one channel (1), float32 (1); inputs left unmodified is advice (0, see
:func:`~autograder.checks.checking.left_unmodified`).
"""
import numpy as np
import pytest

from autograder.checks import cases, oracle
from autograder.checks.checking import FORWARD, FORWARD_32, forward_pass, left_unmodified

PART = "conv_forward_naive"


def forward(student, verify, x, w, b, conv_param, tolerance=FORWARD, dtype=None):
    out, _cache = forward_pass(student, verify, PART, x, w, b, conv_param)
    expected = oracle.conv_forward(x, w, b, conv_param["stride"], conv_param["pad"])
    verify.close("out", out, expected, tolerance, dtype)


@pytest.mark.weight(2)
def test_stride_1_pad_1(student, rng, verify):
    """out for stride 1, pad 1, a square 3x3 kernel"""
    size = int(rng.integers(6, 9))
    forward(student, verify, *cases.conv_inputs(rng, 2, 3, size, size, 3, (3, 3), 1, 1))


@pytest.mark.weight(2)
def test_pad_0(student, rng, verify):
    """out for padding 0"""
    forward(student, verify, *cases.conv_inputs(rng, 2, 2, int(rng.integers(6, 9)),
                                                 int(rng.integers(6, 9)), 3, (3, 3), 1, 0))


@pytest.mark.weight(2)
def test_stride_2_odd_non_square_input(student, rng, verify):
    """out for stride 2, pad 1 on an odd, non-square input"""
    height = cases.odd(rng, 7, 9)
    width = cases.odd(rng, 11, 13)
    forward(student, verify, *cases.conv_inputs(rng, 2, 3, height, width, 4, (3, 3), 2, 1))


@pytest.mark.weight(2)
def test_stride_3_pad_2_non_square_kernel(student, rng, verify):
    """out for stride 3, pad 2 and a non-square 3x5 kernel"""
    forward(student, verify, *cases.conv_inputs(rng, 2, 2, int(rng.integers(8, 11)),
                                                 int(rng.integers(9, 12)), 3, (3, 5), 3, 2))


@pytest.mark.weight(1)
def test_one_image_one_channel(student, rng, verify):
    """out for a batch of one image with a single channel, 2x4 kernel"""
    forward(student, verify, *cases.conv_inputs(rng, 1, 1, cases.odd(rng, 5, 7), 8, 2, (2, 4), 1, 1))


@pytest.mark.weight(1)
def test_float32(student, rng, verify):
    """float32 inputs give a float32 out, accurate to float32 precision"""
    inputs = cases.conv_inputs(rng, 2, 3, 7, 8, 3, (3, 3), 2, 1, dtype=np.float32)
    forward(student, verify, *inputs, tolerance=FORWARD_32, dtype=np.float32)


@pytest.mark.weight(0)
def test_inputs_unmodified(student, rng, verify):
    """x, w, b and conv_param are left as they were"""
    x, w, b, conv_param = cases.conv_inputs(rng, 2, 2, 6, 7, 2, (3, 3), 1, 2)
    left_unmodified(student, verify, PART, (x, w, b, conv_param), ("x", "w", "b", "conv_param"),
                    ("out", "cache"), FORWARD, keep=(1,))
