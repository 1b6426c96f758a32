"""The numpy Solver and its update rules."""
import numpy as np
import pytest

from cnnbook.layer_utils import conv_relu_pool_backward, conv_relu_pool_forward
from cnnbook.layers import affine_backward, affine_forward, softmax_loss
from cnnbook.solver import Solver, adam, sgd, sgd_momentum


class TinyConvNet:
    """conv 3x3 - relu - 2x2 max pool - affine - softmax, on (1, 8, 8) images."""

    def __init__(self, num_classes, seed=0):
        rng = np.random.default_rng(seed)
        self.params = {"W1": 0.3 * rng.standard_normal((6, 1, 3, 3)), "b1": np.zeros(6),
                       "W2": 0.1 * rng.standard_normal((6 * 4 * 4, num_classes)),
                       "b2": np.zeros(num_classes)}

    def loss(self, X, y=None):
        p = self.params
        hidden, cache1 = conv_relu_pool_forward(X, p["W1"], p["b1"], {"stride": 1, "pad": 1},
                                                {"pool_height": 2, "pool_width": 2, "stride": 2})
        scores, cache2 = affine_forward(hidden, p["W2"], p["b2"])
        if y is None:
            return scores
        loss, dscores = softmax_loss(scores, y)
        dhidden, dW2, db2 = affine_backward(dscores, cache2)
        _, dW1, db1 = conv_relu_pool_backward(dhidden, cache1)
        return loss, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


def random_problem(n, num_classes, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 1, 8, 8)), rng.integers(0, num_classes, size=n)


def test_sgd_step():
    w, dw = np.array([1.0, -2.0]), np.array([0.5, 0.5])
    next_w, config = sgd(w, dw, {"learning_rate": 0.1})
    np.testing.assert_allclose(next_w, [0.95, -2.05])
    assert config == {"learning_rate": 0.1}


def test_sgd_momentum_accumulates_velocity():
    w, dw = np.array([1.0]), np.array([1.0])
    config = {"learning_rate": 0.1, "momentum": 0.5}
    w, config = sgd_momentum(w, dw, config)
    w, config = sgd_momentum(w, dw, config)
    # v1 = -0.1, v2 = 0.5 * -0.1 - 0.1 = -0.15
    np.testing.assert_allclose(config["velocity"], [-0.15])
    np.testing.assert_allclose(w, [1.0 - 0.1 - 0.15])


def test_adam_first_step_moves_each_entry_by_the_learning_rate():
    # After bias correction the first step is lr * dw / |dw| for every entry.
    w, dw = np.array([1.0, 1.0, 1.0]), np.array([4.0, -0.01, 300.0])
    next_w, config = adam(w, dw, {"learning_rate": 0.01})
    np.testing.assert_allclose(next_w, [0.99, 1.01, 0.99], rtol=1e-6)
    assert config["t"] == 1
    next_w, config = adam(next_w, dw, config)
    np.testing.assert_allclose(next_w, [0.98, 1.02, 0.98], rtol=1e-6)


def test_update_rules_keep_float32():
    w, dw = np.ones(3, dtype=np.float32), np.ones(3, dtype=np.float32)
    for rule in (sgd, sgd_momentum, adam):
        assert rule(w, dw, {})[0].dtype == np.float32


@pytest.mark.parametrize("rule, config", [("adam", {"learning_rate": 2e-2}),
                                          ("sgd_momentum", {"learning_rate": 5e-2})])
def test_solver_overfits_a_small_training_set(rule, config):
    X, y = random_problem(40, 4, seed=1)  # random labels: only memorising can fit them
    model = TinyConvNet(4)
    solver = Solver(model, {"X_train": X, "y_train": y}, update_rule=rule, optim_config=config,
                    batch_size=20, num_epochs=20, verbose=False, seed=0)
    solver.train()
    assert len(solver.loss_history) == 20 * 2
    assert len(solver.train_acc_history) == 21  # before training, then after every epoch
    assert solver.loss_history[-1] < 0.2 * solver.loss_history[0]
    assert solver.train_acc_history[-1] == 1.0
    assert solver.check_accuracy(X, y) == 1.0  # the best parameters are in the model


def test_solver_tracks_validation_accuracy_and_keeps_the_best_parameters(capsys):
    X, y = random_problem(30, 3, seed=2)
    X_val, y_val = random_problem(20, 3, seed=3)
    model = TinyConvNet(3)
    solver = Solver(model, {"X_train": X, "y_train": y, "X_val": X_val, "y_val": y_val},
                    update_rule="sgd", optim_config={"learning_rate": 1e-2}, lr_decay=0.5,
                    batch_size=10, num_epochs=2, print_every=1, seed=0)
    solver.train()
    assert len(solver.val_acc_history) == 3
    assert solver.best_val_acc == max(solver.val_acc_history)
    assert solver.model.params is solver.best_params
    assert solver.optim_configs["W1"]["learning_rate"] == pytest.approx(1e-2 * 0.25)
    output = capsys.readouterr().out
    assert "(iteration 1 / 6) loss:" in output and "val acc:" in output


def test_solver_rejects_bad_configuration_clearly():
    model = TinyConvNet(2)
    X, y = random_problem(4, 2, seed=0)
    with pytest.raises(KeyError, match="no 'y_train'"):
        Solver(model, {"X_train": X})
    with pytest.raises(ValueError, match="unknown update_rule 'rmsprop'"):
        Solver(model, {"X_train": X, "y_train": y}, update_rule="rmsprop")
    with pytest.raises(KeyError, match="both 'X_val' and 'y_val'"):
        Solver(model, {"X_train": X, "y_train": y, "X_val": X})
    with pytest.raises(ValueError, match="4 training inputs but 3 labels"):
        Solver(model, {"X_train": X, "y_train": y[:3]})
