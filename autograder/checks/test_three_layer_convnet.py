"""Hidden checks of the class ThreeLayerConvNet.

conv - relu - 2x2 max pool - affine - relu - affine - softmax, with
``__init__(input_dim, num_filters, filter_size, hidden_dim, num_classes,
weight_scale, reg, dtype)``, a ``params`` dict (W1, b1, W2, b2, W3, b3) and
``loss(X, y=None)`` returning the scores, or ``(loss, grads)`` with the L2
term ``0.5 * reg * sum(W ** 2)``.  Its parameters are set to hidden values
and its results compared with the PyTorch oracle.  Weights (sum 10):
parameter shapes (2), initialisation (1), scores (2), loss (1), gradients (2),
regularisation (1), gradients consistent with its own loss (1).
"""
import numpy as np
import pytest

from autograder.checks import cases, oracle
from autograder.checks.checking import BACKWARD, FORWARD, CheckFailed, Tolerance

PART = "three_layer_convnet"
CLASS = "ThreeLayerConvNet"
NAMES = oracle.CONVNET_PARAMS
# Centered differences with h = 1e-5 in float64, through ReLU and max-pool kinks.
NUMERIC = Tolerance(1e-4, 1e-3)
STEP = 1e-5


def build(student, input_dim, num_filters, filter_size, hidden_dim, num_classes, **options):
    kind = student.kind(CLASS)
    if kind != "type":
        raise CheckFailed(f"{CLASS} is not defined as a class" if kind is None
                          else f"{CLASS} should be a class, it is a {kind}")
    return student.call(CLASS, input_dim=tuple(input_dim), num_filters=num_filters,
                        filter_size=filter_size, hidden_dim=hidden_dim, num_classes=num_classes, **options)


def expected_shapes(input_dim, num_filters, filter_size, hidden_dim, num_classes):
    channels, height, width = input_dim
    pooled = num_filters * (height // 2) * (width // 2)
    return {"W1": (num_filters, channels, filter_size, filter_size), "b1": (num_filters,),
            "W2": (pooled, hidden_dim), "b2": (hidden_dim,),
            "W3": (hidden_dim, num_classes), "b3": (num_classes,)}


def six_arrays(verify, what, label, value, shapes, dtype=None):
    """``{name: array}`` from the dict ``value`` (called ``what``), one finite array of its shape per name."""
    if not isinstance(value, dict):
        raise CheckFailed(f"{what} should be a dict, it is a {type(value).__name__}")
    missing = [name for name in NAMES if name not in value]
    if missing:
        raise CheckFailed(f"{what} lacks the key(s) {missing}")
    return {name: verify.array(f"{label}['{name}']", value[name], shapes[name], dtype) for name in NAMES}


def get_params(student, verify, model, shapes, dtype=None):
    return six_arrays(verify, "model.params", "params", student.get(model, "params"), shapes, dtype)


def random_params(rng, shapes):
    """Hidden parameters at a scale where every ReLU layer stays partly active."""
    params = {}
    for name, shape in shapes.items():
        fan_in = int(np.prod(shape[1:])) if name == "W1" else shape[0]
        scale = np.sqrt(2.0 / fan_in) if name.startswith("W") else 0.1
        params[name] = cases.normal(rng, shape, scale=scale)
    return params


def model_with(student, rng, config, reg=0.0):
    """A float64 model whose parameters are set to hidden values; returns (model, params)."""
    model = build(student, *config, weight_scale=1e-2, reg=reg, dtype="float64")
    params = random_params(rng, expected_shapes(*config))
    for name, value in params.items():
        student.setitem(model, "params", name, value)
    return model, params


def data(rng, config, n=4):
    channels, height, width = config[0]
    return cases.normal(rng, (n, channels, height, width)), rng.integers(0, config[4], size=n)


def loss_and_grads(student, verify, model, X, y, shapes):
    loss, grads = verify.result(student.call_method(model, "loss", X, y), ("loss", "grads"), "loss(X, y)")
    return scalar_loss(verify, loss), six_arrays(verify, "grads", "grads", grads, shapes)


def scalar_loss(verify, loss):
    """``loss`` as a float, if it is a real floating-point scalar (a float, numpy scalar or 0-d array)."""
    return float(verify.array("loss", np.asarray(loss) if isinstance(loss, (float, np.generic)) else loss, ()))


# (input_dim, num_filters, filter_size, hidden_dim, num_classes); non-square inputs on purpose.
SMALL = ((3, 8, 10), 4, 3, 7, 5)
WIDE_FILTER = ((2, 6, 8), 3, 5, 6, 4)


@pytest.mark.weight(2)
def test_parameter_shapes(student, rng, verify):
    """params has W1, b1, W2, b2, W3, b3 with the right shapes (non-square input)"""
    model = build(student, *SMALL, weight_scale=1e-2, dtype="float64")
    get_params(student, verify, model, expected_shapes(*SMALL))
    verify.note("all six parameter shapes right")


@pytest.mark.weight(1)
def test_initialisation(student, rng, verify):
    """weights drawn with standard deviation weight_scale, zero biases, requested dtype"""
    config = ((3, 8, 8), 8, 5, 60, 10)
    weight_scale = 0.05
    model = build(student, *config, weight_scale=weight_scale, dtype="float64")
    params = get_params(student, verify, model, expected_shapes(*config), np.float64)
    for name in ("W1", "W2", "W3"):
        std = float(params[name].std())
        if not 0.8 * weight_scale < std < 1.2 * weight_scale:
            raise CheckFailed(f"params['{name}'] has standard deviation {std:.3g}; "
                              f"expected about weight_scale = {weight_scale}")
    for name in ("b1", "b2", "b3"):
        if np.any(params[name] != 0):
            raise CheckFailed(f"params['{name}'] should start at zero")
    default = build(student, *config, weight_scale=weight_scale)
    get_params(student, verify, default, expected_shapes(*config), np.float32)
    verify.note("weight scales, zero biases, float64 on request and float32 by default")


@pytest.mark.weight(2)
def test_scores(student, rng, verify):
    """loss(X) returns the class scores"""
    model, params = model_with(student, rng, SMALL)
    X, _ = data(rng, SMALL)
    scores = student.call_method(model, "loss", X)
    verify.close("scores", scores, oracle.convnet(params, X), FORWARD)


@pytest.mark.weight(1)
def test_loss(student, rng, verify):
    """loss(X, y): the softmax loss, reg = 0"""
    model, params = model_with(student, rng, SMALL)
    X, y = data(rng, SMALL)
    loss, _ = loss_and_grads(student, verify, model, X, y, expected_shapes(*SMALL))
    verify.close("loss", np.asarray(loss), np.asarray(oracle.convnet(params, X, y)[0]), FORWARD)


@pytest.mark.weight(2)
def test_gradients(student, rng, verify):
    """loss(X, y): gradients of all six parameters, reg = 0"""
    model, params = model_with(student, rng, SMALL)
    X, y = data(rng, SMALL)
    _, grads = loss_and_grads(student, verify, model, X, y, expected_shapes(*SMALL))
    expected = oracle.convnet(params, X, y)[1]
    for name in NAMES:
        verify.close(f"grads['{name}']", grads[name], expected[name], BACKWARD)


@pytest.mark.weight(1)
def test_regularisation(student, rng, verify):
    """loss and gradients with L2 regularisation (reg > 0), 5x5 filters"""
    reg = 0.3
    model, params = model_with(student, rng, WIDE_FILTER, reg=reg)
    X, y = data(rng, WIDE_FILTER)
    loss, grads = loss_and_grads(student, verify, model, X, y, expected_shapes(*WIDE_FILTER))
    expected_loss, expected = oracle.convnet(params, X, y, reg=reg)
    verify.close("loss", np.asarray(loss), np.asarray(expected_loss), FORWARD)
    for name in NAMES:
        verify.close(f"grads['{name}']", grads[name], expected[name], BACKWARD)


@pytest.mark.weight(1)
def test_gradients_match_own_loss(student, rng, verify):
    """gradients agree with numeric derivatives of the model's own loss"""
    model, params = model_with(student, rng, SMALL, reg=0.1)
    X, y = data(rng, SMALL)
    loss, grads = loss_and_grads(student, verify, model, X, y, expected_shapes(*SMALL))
    require_a_real_loss(loss, grads)
    largest = 0.0
    for name in NAMES:
        value = params[name]
        picks = [tuple(int(rng.integers(0, s)) for s in value.shape) for _ in range(2)]
        numeric = np.array([_numeric_derivative(student, verify, model, name, value, index, X, y)
                            for index in picks])
        analytic = np.array([grads[name][index] for index in picks])
        verify.close(f"grads['{name}'] at two entries vs numeric", analytic, numeric, NUMERIC)
        largest = max(largest, float(np.abs(numeric).max()))
    if largest < TRIVIAL_DERIVATIVE:
        raise CheckFailed("the loss does not change when the parameters change; "
                          "loss(X, y) must depend on params")


# Twelve derivatives of a softmax loss at the hidden parameters are never all this small.
TRIVIAL_DERIVATIVE = 1e-6


def require_a_real_loss(loss, grads):
    """A constant loss with zero gradients is consistent with itself; it is not a loss."""
    if not loss > 0:
        raise CheckFailed(f"the loss should be positive (softmax loss plus the L2 term); it is {loss:.3g}")
    zero = [name for name in NAMES if not np.any(grads[name])]
    if zero:
        raise CheckFailed(f"the gradients of {', '.join(zero)} are all zero")


def _numeric_derivative(student, verify, model, name, value, index, X, y):
    losses = []
    for step in (STEP, -STEP):
        shifted = value.copy()
        shifted[index] += step
        student.setitem(model, "params", name, shifted)
        result = student.call_method(model, "loss", X, y)
        losses.append(scalar_loss(verify, verify.result(result, ("loss", "grads"), "loss(X, y)")[0]))
    student.setitem(model, "params", name, value)
    return (losses[0] - losses[1]) / (2 * STEP)
