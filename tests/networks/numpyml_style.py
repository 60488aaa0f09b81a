"""A network laid out as numpy-ml lays its layers out: a plain list of layer objects, each with
``parameters`` and ``gradients`` dicts (gradients accumulate until ``flush_gradients()``),
``forward(X, retain_derived=True)`` and ``backward(dLdy)`` returning the input gradient, a
``trainable`` switch set by ``freeze()``/``unfreeze()``, and dropout as a *wrapper* around the
layer it precedes. The loss is a separate object (``loss(y, y_pred)``, ``grad(y, y_pred)``),
so the check needs one hint: ``--loss tests.networks.numpyml_style:CrossEntropy``.

``build()`` carries the wrapper's two faults: the 1/(1-p) scale multiplies the wrapped layer's
output (its bias included) instead of its input, and the backward hands back the wrapped
layer's input gradient without the mask. ``build_fixed()`` is the same network done right.
"""
import numpy as np


class FullyConnected:
    def __init__(self, n_in, n_out, rng):
        self.parameters = {"W": rng.standard_normal((n_in, n_out)) * np.sqrt(2 / n_in),
                           "b": 0.1 * rng.standard_normal((1, n_out))}
        self.gradients = {k: np.zeros_like(v) for k, v in self.parameters.items()}
        self.trainable = True

    def forward(self, X, retain_derived=True):
        self.X = X
        return X @ self.parameters["W"] + self.parameters["b"]

    def backward(self, dLdy, retain_grads=True):
        self.gradients["W"] += self.X.T @ dLdy
        self.gradients["b"] += dLdy.sum(axis=0, keepdims=True)
        return dLdy @ self.parameters["W"].T

    def flush_gradients(self):
        for v in self.gradients.values():
            v[...] = 0


class ReLU:
    def forward(self, X, retain_derived=True):
        self.X = X
        return np.maximum(X, 0)

    def backward(self, dLdy, retain_grads=True):
        return dLdy * (self.X > 0)


class DropoutWrapper:
    """Dropout on the input of the layer it wraps (the faulty way, as described above)."""

    def __init__(self, wrapped_layer, p):
        self._base_layer, self.p = wrapped_layer, p
        self._wrapper_derived_variables = {"dropout_mask": []}
        self.trainable = True

    def freeze(self):
        self.trainable = False

    def unfreeze(self):
        self.trainable = True

    def forward(self, X, retain_derived=True):
        scaler, mask = 1.0, np.ones(X.shape, dtype=bool)
        if self.trainable:
            scaler = 1.0 / (1.0 - self.p)
            mask = np.random.rand(*X.shape) >= self.p
            X = mask * X
        if retain_derived:
            self._wrapper_derived_variables["dropout_mask"].append(mask)
        return scaler * self._base_layer.forward(X, retain_derived)

    def backward(self, dLdy, retain_grads=True):
        return self._base_layer.backward(dLdy, retain_grads)

    def flush_gradients(self):
        self._base_layer.flush_gradients()
        self._wrapper_derived_variables["dropout_mask"] = []


class DropoutWrapperFixed(DropoutWrapper):
    def forward(self, X, retain_derived=True):
        mask = np.ones(X.shape, dtype=bool)
        if self.trainable:
            mask = np.random.rand(*X.shape) >= self.p
            X = mask * X / (1.0 - self.p)
        self._wrapper_derived_variables["dropout_mask"].append(mask)
        return self._base_layer.forward(X, retain_derived)

    def backward(self, dLdy, retain_grads=True):
        mask = self._wrapper_derived_variables["dropout_mask"][-1]
        scale = 1.0 / (1.0 - self.p) if self.trainable else 1.0
        return self._base_layer.backward(dLdy, retain_grads) * mask * scale


class CrossEntropy:
    """Softmax cross-entropy on logits, with class-index targets; the mean over the batch."""

    def loss(self, y, y_pred):
        z = y_pred - y_pred.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return -logp[np.arange(len(y)), y].mean()

    def grad(self, y, y_pred):
        e = np.exp(y_pred - y_pred.max(axis=1, keepdims=True))
        g = e / e.sum(axis=1, keepdims=True)
        g[np.arange(len(y)), y] -= 1
        return g / len(y)


def _build(wrapper, sizes=(6, 16, 16, 4), p=0.25):
    rng = np.random.default_rng(5)
    return [FullyConnected(sizes[0], sizes[1], rng), ReLU(),
            wrapper(FullyConnected(sizes[1], sizes[2], rng), p), ReLU(),
            wrapper(FullyConnected(sizes[2], sizes[3], rng), p)]


def build():
    return _build(DropoutWrapper)


def build_fixed():
    return _build(DropoutWrapperFixed)
