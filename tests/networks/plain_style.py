"""A plain list of layer objects with returned results, several activations and a mean squared
error loss given with ``--loss tests.networks.plain_style:MSE`` (float targets); weights stored
(out, in) as torch stores them, one of them square."""
import numpy as np


class Linear:
    def __init__(self, n_in, n_out, rng):
        self.W = 0.5 * rng.standard_normal((n_out, n_in))
        self.b = 0.1 * rng.standard_normal(n_out)

    def forward(self, x):
        self.x = x
        return x @ self.W.T + self.b

    def backward(self, g):
        self.dW, self.db = g.T @ self.x, g.sum(axis=0)
        return g @ self.W


class LeakyReLU:
    def __init__(self, alpha=0.1):
        self.alpha = alpha

    def forward(self, x):
        self.x = x
        return np.where(x > 0, x, self.alpha * x)

    def backward(self, g):
        return g * np.where(self.x > 0, 1.0, self.alpha)


class Tanh:
    def forward(self, x):
        self.y = np.tanh(x)
        return self.y

    def backward(self, g):
        return g * (1 - self.y ** 2)


class Sigmoid:
    def forward(self, x):
        self.y = 1 / (1 + np.exp(-x))
        return self.y

    def backward(self, g):
        return g * self.y * (1 - self.y)


class Dropout:
    def __init__(self, keep_prob):
        self.keep_prob, self.training = keep_prob, True

    def forward(self, x):
        if not self.training:
            return x
        self.mask = (np.random.rand(*x.shape) < self.keep_prob) / self.keep_prob
        return x * self.mask

    def backward(self, g):
        return g * self.mask


class MSE:
    def forward(self, pred, target):
        self.diff = pred - target
        return float(np.mean(self.diff ** 2))

    def backward(self):
        return 2 * self.diff / self.diff.size


def build():
    rng = np.random.default_rng(3)
    return [Linear(5, 8, rng), LeakyReLU(), Dropout(0.8), Linear(8, 8, rng), Tanh(), Dropout(0.8),
            Linear(8, 3, rng), Sigmoid()]


def npdrop_float32():
    """npdrop's own MLP in its default float32: judged with float32 tolerances."""
    import npdrop

    model = npdrop.MLP([6, 16, 16, 4], "relu", p=0.2, rng=0)
    model.loss = npdrop.CrossEntropyLoss()
    return model
