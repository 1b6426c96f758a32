"""Hidden checks of spatial_batchnorm_forward(x, gamma, beta, bn_param) -> (out, cache).

Statistics are per channel, over N, H and W, with the biased variance; the
running averages follow ``running = momentum * running + (1 - momentum) * batch``.
Weights (sum 10): training-mode output (4), running averages updated in
bn_param (2), test mode uses the running averages and leaves them unchanged
(2), one image with one
channel (1), float32 (1); inputs left unmodified is advice (0, see
:func:`~autograder.checks.checking.left_unmodified`).
"""
import numpy as np
import pytest

from autograder.checks import cases, oracle
from autograder.checks.checking import FORWARD, FORWARD_32, left_unmodified

PART = "spatial_batchnorm_forward"
DEFAULT_EPS = 1e-5


def call(student, verify, x, gamma, beta, bn_param):
    tracked = student.call_tracked(PART, x, gamma, beta, bn_param, _keep=(1,))
    out, _cache = verify.result(tracked.value, ("out", "cache"), PART)
    return out, tracked.args


def train_output(student, verify, x, gamma, beta, tolerance=FORWARD, dtype=None):
    out, _ = call(student, verify, x, gamma, beta, {"mode": "train"})
    verify.close("out", out, oracle.batchnorm_train(x, gamma, beta, DEFAULT_EPS)[0], tolerance, dtype)


@pytest.mark.weight(4)
def test_train_output(student, rng, verify):
    """training-mode out: per-channel statistics over N, H and W"""
    train_output(student, verify, *cases.bn_inputs(rng, 4, 3, int(rng.integers(4, 7)), int(rng.integers(5, 8))))


@pytest.mark.weight(2)
def test_running_averages_updated(student, rng, verify):
    """running_mean and running_var updated in bn_param with the given momentum"""
    x, gamma, beta = cases.bn_inputs(rng, 3, 4, 5, 6)
    channels = x.shape[1]
    momentum, eps = 0.7, 1e-3
    bn_param = {"mode": "train", "momentum": momentum, "eps": eps,
                "running_mean": rng.standard_normal(channels), "running_var": rng.uniform(0.5, 2, channels)}
    _, args_after = call(student, verify, x, gamma, beta, bn_param)
    after = args_after[3]
    _, mean, var = oracle.batchnorm_train(x, gamma, beta, eps)
    for name, batch in (("running_mean", mean), ("running_var", var)):
        expected = momentum * bn_param[name] + (1 - momentum) * batch
        verify.close(f"bn_param['{name}'] after the call", after.get(name) if isinstance(after, dict) else None,
                     expected, FORWARD)


@pytest.mark.weight(2)
def test_test_mode_uses_running_averages(student, rng, verify):
    """test-mode out normalises with running_mean and running_var, and leaves them unchanged"""
    x, gamma, beta = cases.bn_inputs(rng, 3, 4, 5, 6)
    channels = x.shape[1]
    running_mean, running_var = rng.standard_normal(channels), rng.uniform(0.5, 2, channels)
    bn_param = {"mode": "test", "eps": 1e-3, "running_mean": running_mean, "running_var": running_var}
    out, args_after = call(student, verify, x, gamma, beta, bn_param)
    verify.close("out", out, oracle.batchnorm_test(x, gamma, beta, running_mean, running_var, 1e-3), FORWARD)
    # The worker's report of bn_param after the call: it can cost these points, never earn them alone.
    after = args_after[3]
    for name, given in (("running_mean", running_mean), ("running_var", running_var)):
        verify.close(f"bn_param['{name}'] after a test-mode call", after.get(name) if isinstance(after, dict) else None,
                     given, FORWARD)


@pytest.mark.weight(1)
def test_one_image_one_channel(student, rng, verify):
    """training-mode out for one image with a single channel, non-square"""
    train_output(student, verify, *cases.bn_inputs(rng, 1, 1, 5, 7))


@pytest.mark.weight(1)
def test_float32(student, rng, verify):
    """float32 inputs give a float32 out, accurate to float32 precision"""
    train_output(student, verify, *cases.bn_inputs(rng, 3, 3, 5, 6, dtype=np.float32),
                 tolerance=FORWARD_32, dtype=np.float32)


@pytest.mark.weight(0)
def test_inputs_unmodified(student, rng, verify):
    """x, gamma and beta are left as they were"""
    x, gamma, beta = cases.bn_inputs(rng, 3, 3, 4, 5)
    left_unmodified(student, verify, PART, (x, gamma, beta, {"mode": "train"}), ("x", "gamma", "beta"),
                    ("out", "cache"), FORWARD, keep=(1,))
