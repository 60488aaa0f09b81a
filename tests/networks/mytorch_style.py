"""A network laid out as CMU 11-785's "mytorch" homework lays its MLP out: ``self.layers`` of
``Linear`` (weights ``W`` stored (out, in), gradients ``dLdW``/``dLdb``), activations and a
dropout with ``forward(A)`` / ``backward(dLdA)``, a ``train()``/``eval()`` switch, and a loss
object kept apart that takes one-hot targets: ``--loss tests.networks.mytorch_style:CrossEntropyLoss``."""
import numpy as np


class Linear:
    def __init__(self, in_features, out_features, rng):
        self.W = 0.4 * rng.standard_normal((out_features, in_features))
        self.b = 0.1 * rng.standard_normal((out_features, 1))

    def forward(self, A):
        self.A = A
        self.ones = np.ones((A.shape[0], 1))
        return A @ self.W.T + self.ones @ self.b.T

    def backward(self, dLdZ):
        self.dLdW = dLdZ.T @ self.A
        self.dLdb = dLdZ.T @ self.ones
        return dLdZ @ self.W


class ReLU:
    def forward(self, Z):
        self.A = np.maximum(0, Z)
        return self.A

    def backward(self, dLdA):
        return dLdA * (self.A > 0)


class Dropout:
    def __init__(self, p=0.5):
        self.p = p
        self.training = True

    def train(self):
        self.training = True

    def eval(self):
        self.training = False

    def forward(self, x):
        if self.training:
            self.mask = np.random.binomial(1, 1 - self.p, size=x.shape)
            return x * self.mask / (1 - self.p)
        return x

    def backward(self, delta):
        return delta * self.mask / (1 - self.p)


class CrossEntropyLoss:
    def forward(self, A, Y):
        self.A, self.Y = A, Y
        e = np.exp(A - A.max(axis=1, keepdims=True))
        self.softmax = e / e.sum(axis=1, keepdims=True)
        return float(np.sum(-Y * np.log(self.softmax)) / A.shape[0])

    def backward(self):
        return (self.softmax - self.Y) / self.A.shape[0]


class MLP:
    def __init__(self, rng):
        self.layers = [Linear(6, 16, rng), ReLU(), Dropout(0.3), Linear(16, 4, rng)]


def build():
    return MLP(np.random.default_rng(11))


class DropoutBackwardUnscaled(Dropout):
    """Planted fault: the backward multiplies by the mask but forgets the 1/(1-p) scale."""

    def backward(self, delta):
        return delta * self.mask


class MLPUnscaledBackward(MLP):
    def __init__(self, rng):
        super().__init__(rng)
        self.layers[2] = DropoutBackwardUnscaled(0.3)


def backward_unscaled():
    return MLPUnscaledBackward(np.random.default_rng(11))
