"""Hidden checks of spatial_batchnorm_backward(dout, cache) -> (dx, dgamma, dbeta).

The cache is the one the release's spatial_batchnorm_forward stores in its
provided last line, ``(x_hat, gamma, inv_std, mode)``, built here by the
oracle: a bug in the student's forward pass costs the forward part only.
The gradients are compared with PyTorch's autograd.  Weights (sum 10):
dbeta (1), dgamma (2), dx (4), test mode, where the running averages are
constants (1), one image with one channel (1), float32 (1); dout left
unmodified is advice (0, see :func:`~autograder.checks.checking.left_unmodified`).
"""
import numpy as np
import pytest

from autograder.checks import cases, oracle
from autograder.checks.checking import BACKWARD, BACKWARD_32, left_unmodified

PART = "spatial_batchnorm_backward"
EPS = 1e-5
NAMES = ("dx", "dgamma", "dbeta")


def gradients(student, verify, rng, x, gamma, beta):
    """The student's (dx, dgamma, dbeta) and the oracle's gradients."""
    dout = cases.normal(rng, x.shape, x.dtype)
    cache = oracle.batchnorm_cache(x, gamma, EPS, "train")
    result = verify.result(student.call(PART, dout, cache), NAMES, PART)
    return result, oracle.batchnorm_backward(x, gamma, beta, EPS, dout)


def check(verify, names, result, expected, tolerance=BACKWARD, dtype=None):
    for name, actual, wanted in zip(NAMES, result, expected):
        if name in names:
            verify.close(name, actual, wanted, tolerance, dtype)


def main_case(rng):
    return cases.bn_inputs(rng, 4, 3, int(rng.integers(4, 7)), int(rng.integers(5, 8)))


@pytest.mark.weight(1)
def test_dbeta(student, rng, verify):
    """dbeta (sum of dout over N, H and W)"""
    result, expected = gradients(student, verify, rng, *main_case(rng))
    check(verify, ("dbeta",), result, expected)


@pytest.mark.weight(2)
def test_dgamma(student, rng, verify):
    """dgamma (sum of dout times the normalised input)"""
    result, expected = gradients(student, verify, rng, *main_case(rng))
    check(verify, ("dgamma",), result, expected)


@pytest.mark.weight(4)
def test_dx(student, rng, verify):
    """dx, through the batch mean and variance"""
    result, expected = gradients(student, verify, rng, *main_case(rng))
    check(verify, ("dx",), result, expected)


@pytest.mark.weight(1)
def test_test_mode(student, rng, verify):
    """dx, dgamma, dbeta in test mode: the running averages are constants, only the direct path remains"""
    x, gamma, beta = main_case(rng)
    channels = x.shape[1]
    running_mean, running_var = rng.standard_normal(channels), rng.uniform(0.5, 2, channels)
    dout = cases.normal(rng, x.shape)
    cache = oracle.batchnorm_cache(x, gamma, EPS, "test", running_mean, running_var)
    result = verify.result(student.call(PART, dout, cache), NAMES, PART)
    check(verify, NAMES, result, oracle.batchnorm_test_backward(x, gamma, beta, running_mean, running_var, EPS, dout))


@pytest.mark.weight(1)
def test_one_image_one_channel(student, rng, verify):
    """dx, dgamma, dbeta for one image with a single channel, non-square"""
    result, expected = gradients(student, verify, rng, *cases.bn_inputs(rng, 1, 1, 5, 7))
    check(verify, NAMES, result, expected)


@pytest.mark.weight(1)
def test_float32(student, rng, verify):
    """float32 inputs give float32 gradients, accurate to float32 precision"""
    result, expected = gradients(student, verify, rng, *cases.bn_inputs(rng, 3, 3, 5, 6, dtype=np.float32))
    check(verify, NAMES, result, expected, BACKWARD_32, np.float32)


@pytest.mark.weight(0)
def test_dout_unmodified(student, rng, verify):
    """dout is left as it was"""
    x, gamma, beta = cases.bn_inputs(rng, 3, 3, 4, 5)
    dout = cases.normal(rng, x.shape)
    left_unmodified(student, verify, PART, (dout, oracle.batchnorm_cache(x, gamma, EPS, "train")), ("dout",),
                    NAMES, BACKWARD)
