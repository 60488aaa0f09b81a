"""A network laid out as "Deep Learning from Scratch" lays ``MultiLayerNetExtend`` out: a
``params`` dict (W1, b1, ...) shared with an OrderedDict of layers (``Affine``, ``Relu``,
``Dropout``), a ``SoftmaxWithLoss`` ``last_layer``, ``predict(x, train_flg)`` and
``gradient(x, t)`` as the training step. Its dropout is the original form (training ``x * mask``,
evaluation ``x * (1 - ratio)``): it passes with ``--form original``, and fails without it."""
from collections import OrderedDict

import numpy as np


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def cross_entropy_error(y, t):
    if t.size == y.size:
        t = t.argmax(axis=1)
    return -np.sum(np.log(y[np.arange(y.shape[0]), t] + 1e-7)) / y.shape[0]


class Affine:
    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout):
        self.dW = self.x.T @ dout
        self.db = dout.sum(axis=0)
        return dout @ self.W.T


class Relu:
    def forward(self, x):
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dout = dout.copy()
        dout[self.mask] = 0
        return dout


class Dropout:
    def __init__(self, dropout_ratio=0.5):
        self.dropout_ratio = dropout_ratio

    def forward(self, x, train_flg=True):
        if train_flg:
            self.mask = np.random.rand(*x.shape) > self.dropout_ratio
            return x * self.mask
        return x * (1.0 - self.dropout_ratio)

    def backward(self, dout):
        return dout * self.mask


class SoftmaxWithLoss:
    def forward(self, x, t):
        self.t, self.y = t, softmax(x)
        self.loss = cross_entropy_error(self.y, t)
        return self.loss

    def backward(self, dout=1):
        n = self.t.shape[0]
        dx = self.y.copy()
        dx[np.arange(n), self.t] -= 1
        return dx * dout / n


class MultiLayerNetExtend:
    def __init__(self, input_size, hidden_size_list, output_size, dropout_ration=0.2, seed=3):
        rng = np.random.default_rng(seed)
        sizes = [input_size] + list(hidden_size_list) + [output_size]
        self.params = {}
        for i in range(1, len(sizes)):
            scale = np.sqrt(2.0 / sizes[i - 1])
            self.params[f"W{i}"] = scale * rng.standard_normal((sizes[i - 1], sizes[i]))
            self.params[f"b{i}"] = np.zeros(sizes[i])
        self.layers = OrderedDict()
        for i in range(1, len(sizes) - 1):
            self.layers[f"Affine{i}"] = Affine(self.params[f"W{i}"], self.params[f"b{i}"])
            self.layers[f"Relu{i}"] = Relu()
            self.layers[f"Dropout{i}"] = Dropout(dropout_ration)
        n = len(sizes) - 1
        self.layers[f"Affine{n}"] = Affine(self.params[f"W{n}"], self.params[f"b{n}"])
        self.last_layer = SoftmaxWithLoss()

    def predict(self, x, train_flg=False):
        for name, layer in self.layers.items():
            x = layer.forward(x, train_flg) if "Dropout" in name else layer.forward(x)
        return x

    def loss(self, x, t, train_flg=False):
        return self.last_layer.forward(self.predict(x, train_flg), t)

    def gradient(self, x, t):
        self.loss(x, t, train_flg=True)
        dout = self.last_layer.backward(1)
        for layer in reversed(list(self.layers.values())):
            dout = layer.backward(dout)
        grads = {}
        for i in range(1, len(self.layers) // 3 + 2):
            grads[f"W{i}"], grads[f"b{i}"] = self.layers[f"Affine{i}"].dW, self.layers[f"Affine{i}"].db
        return grads


def correct():
    return MultiLayerNetExtend(6, [16, 16], 4, dropout_ration=0.2)
