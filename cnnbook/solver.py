"""A small numpy training loop for the exercises' models.

The model is any object with

* ``model.params``: a dict from parameter name to numpy array, and
* ``model.loss(X, y)``: returns ``(loss, grads)`` with ``grads`` keyed like
  ``params``; ``model.loss(X)`` (no labels) returns class scores (N, C).

:class:`Solver` runs minibatch gradient descent on it with one of the update
rules below, records the loss and the accuracies, and keeps the parameters
with the best validation accuracy.  Example::

    solver = Solver(model, {"X_train": X, "y_train": y}, update_rule="adam",
                    optim_config={"learning_rate": 1e-3}, num_epochs=10)
    solver.train()
    solver.loss_history, solver.train_acc_history
"""
import numpy as np


# ---------------------------------------------------------------------------
# Update rules: update(w, dw, config) -> (next_w, config).  ``config`` holds
# the hyperparameters and the rule's state (velocity, moments), one per param.
# ---------------------------------------------------------------------------

def sgd(w, dw, config):
    """Plain stochastic gradient descent: ``w - learning_rate * dw``."""
    config.setdefault("learning_rate", 1e-2)
    return w - config["learning_rate"] * dw, config


def sgd_momentum(w, dw, config):
    """SGD with momentum: a velocity accumulates past gradients.

    ``v = momentum * v - learning_rate * dw; w = w + v``.
    """
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = config.get("velocity", np.zeros_like(w))
    v = config["momentum"] * v - config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config


def adam(w, dw, config):
    """Adam: per-entry steps scaled by running estimates of the gradient's
    first and second moments, with bias correction for the early steps."""
    for key, default in (("learning_rate", 1e-3), ("beta1", 0.9), ("beta2", 0.999),
                         ("epsilon", 1e-8), ("t", 0)):
        config.setdefault(key, default)
    m = config.get("m", np.zeros_like(w))
    v = config.get("v", np.zeros_like(w))
    config["t"] += 1
    m = config["beta1"] * m + (1 - config["beta1"]) * dw
    v = config["beta2"] * v + (1 - config["beta2"]) * dw * dw
    m_hat = m / (1 - config["beta1"] ** config["t"])
    v_hat = v / (1 - config["beta2"] ** config["t"])
    config["m"], config["v"] = m, v
    return w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"]), config


UPDATE_RULES = {"sgd": sgd, "sgd_momentum": sgd_momentum, "adam": adam}


class Solver:
    """Minibatch training of a numpy model (see the module docstring).

    - data: dict with 'X_train', 'y_train' and optionally 'X_val', 'y_val'
    - update_rule: 'sgd', 'sgd_momentum' or 'adam'
    - optim_config: hyperparameters for the rule, e.g. {'learning_rate': 1e-3}
    - lr_decay: the learning rate is multiplied by this after every epoch
    - num_train_samples / num_val_samples: accuracy is measured on at most
      this many examples (None: all of them), to keep checks fast
    - print_every: print the loss every this many iterations if verbose
    - seed: seed of the minibatch sampling, for reproducible runs
    After :meth:`train`: ``loss_history`` (per iteration), ``train_acc_history``
    and ``val_acc_history`` (per epoch, plus one before training), and the best
    parameters are loaded into ``model.params``.
    """

    def __init__(self, model, data, update_rule="sgd", optim_config=None, lr_decay=1.0,
                 batch_size=100, num_epochs=10, num_train_samples=1000,
                 num_val_samples=None, print_every=10, verbose=True, seed=None):
        for key in ("X_train", "y_train"):
            if key not in data:
                raise KeyError(f"Solver: data has no {key!r} (it has {sorted(data)})")
        if ("X_val" in data) != ("y_val" in data):
            raise KeyError("Solver: give both 'X_val' and 'y_val', or neither")
        if update_rule not in UPDATE_RULES:
            raise ValueError(f"Solver: unknown update_rule {update_rule!r}; "
                             f"choose one of {sorted(UPDATE_RULES)}")
        if len(data["X_train"]) != len(data["y_train"]):
            raise ValueError(f"Solver: {len(data['X_train'])} training inputs but "
                             f"{len(data['y_train'])} labels")
        self.model, self.data = model, data
        self.update = UPDATE_RULES[update_rule]
        self.lr_decay, self.batch_size, self.num_epochs = lr_decay, batch_size, num_epochs
        self.num_train_samples, self.num_val_samples = num_train_samples, num_val_samples
        self.print_every, self.verbose = print_every, verbose
        self.rng = np.random.default_rng(seed)
        # One config per parameter: momentum and Adam keep per-parameter state.
        self.optim_configs = {name: dict(optim_config or {}) for name in model.params}
        self.loss_history, self.train_acc_history, self.val_acc_history = [], [], []
        self.best_val_acc, self.best_params = -1.0, None

    def _step(self):
        """One minibatch: loss, gradients, and an update of every parameter."""
        n = len(self.data["X_train"])
        batch = self.rng.choice(n, size=min(self.batch_size, n), replace=False)
        loss, grads = self.model.loss(self.data["X_train"][batch], self.data["y_train"][batch])
        self.loss_history.append(float(loss))
        for name, w in self.model.params.items():
            self.model.params[name], self.optim_configs[name] = self.update(
                w, grads[name], self.optim_configs[name])

    def check_accuracy(self, X, y, num_samples=None, batch_size=100):
        """Fraction of correct predictions on (a random subset of) ``X``."""
        if num_samples is not None and len(X) > num_samples:
            subset = self.rng.choice(len(X), size=num_samples, replace=False)
            X, y = X[subset], y[subset]
        predictions = [np.argmax(self.model.loss(X[i:i + batch_size]), axis=1)
                       for i in range(0, len(X), batch_size)]
        return float(np.mean(np.concatenate(predictions) == y))

    def _record_accuracies(self, epoch):
        train_acc = self.check_accuracy(self.data["X_train"], self.data["y_train"],
                                        self.num_train_samples)
        self.train_acc_history.append(train_acc)
        message = f"(epoch {epoch} / {self.num_epochs}) train acc: {train_acc:.3f}"
        # Without validation data the training accuracy picks the best parameters.
        score = train_acc
        if "X_val" in self.data:
            score = self.check_accuracy(self.data["X_val"], self.data["y_val"],
                                        self.num_val_samples)
            self.val_acc_history.append(score)
            message += f"; val acc: {score:.3f}"
        if self.verbose:
            print(message)
        if score > self.best_val_acc:
            self.best_val_acc = score
            self.best_params = {k: v.copy() for k, v in self.model.params.items()}

    def train(self):
        """Run ``num_epochs`` epochs of minibatch updates, then keep the best parameters."""
        n = len(self.data["X_train"])
        iterations_per_epoch = max(n // self.batch_size, 1)
        num_iterations = self.num_epochs * iterations_per_epoch
        self._record_accuracies(0)
        for it in range(num_iterations):
            self._step()
            if self.verbose and it % self.print_every == 0:
                print(f"(iteration {it + 1} / {num_iterations}) loss: {self.loss_history[-1]:f}")
            if (it + 1) % iterations_per_epoch == 0:
                for config in self.optim_configs.values():  # every rule has set its rate by now
                    config["learning_rate"] *= self.lr_decay
                self._record_accuracies((it + 1) // iterations_per_epoch)
        self.model.params = self.best_params
        return self
