"""A network laid out as CS231n's ``FullyConnectedNet``: a ``params`` dict (W1, b1, ...), and
``loss(X, y=None)`` returning the scores when ``y`` is None, else ``(loss, grads)``, built from
module-level function pairs (``affine_relu_forward`` composed of ``affine_forward`` and
``relu_forward``). The check traces those functions; nothing here knows about it."""
import numpy as np

from .cs231n_layers import (affine_backward, affine_forward, dropout_backward, dropout_fresh_mask_backward,  # noqa: F401
                            dropout_forward, relu_backward, relu_forward, softmax_loss, softmax_loss_not_divided)


def affine_relu_forward(x, w, b):
    a, fc_cache = affine_forward(x, w, b)
    out, relu_cache = relu_forward(a)
    return out, (fc_cache, relu_cache)


def affine_relu_backward(dout, cache):
    fc_cache, relu_cache = cache
    return affine_backward(relu_backward(dout, relu_cache), fc_cache)


class FullyConnectedNet:
    def __init__(self, hidden_dims, input_dim=6, num_classes=4, dropout_keep_ratio=1, reg=0.0,
                 weight_scale=0.3, dtype=np.float64, seed=None, loss_function="softmax_loss",
                 dropout_backward_function="dropout_backward"):
        rng = np.random.default_rng(7)
        self.reg, self.num_layers, self.dtype = reg, 1 + len(hidden_dims), dtype
        self.use_dropout = dropout_keep_ratio != 1
        dims = [input_dim] + list(hidden_dims) + [num_classes]
        self.params = {}
        for i in range(self.num_layers):
            self.params[f"W{i + 1}"] = (weight_scale * rng.standard_normal((dims[i], dims[i + 1]))).astype(dtype)
            self.params[f"b{i + 1}"] = np.zeros(dims[i + 1], dtype=dtype)
        self.dropout_param = {"mode": "train", "p": dropout_keep_ratio}
        if seed is not None:
            self.dropout_param["seed"] = seed
        self.loss_function, self.dropout_backward_function = loss_function, dropout_backward_function

    def loss(self, X, y=None):
        X = X.astype(self.dtype)
        mode = "test" if y is None else "train"
        self.dropout_param["mode"] = mode
        caches, out = [], X
        for i in range(1, self.num_layers):
            out, cache = affine_relu_forward(out, self.params[f"W{i}"], self.params[f"b{i}"])
            caches.append(cache)
            if self.use_dropout:
                out, cache = dropout_forward(out, self.dropout_param)
                caches.append(cache)
        n = self.num_layers
        scores, cache = affine_forward(out, self.params[f"W{n}"], self.params[f"b{n}"])
        if mode == "test":
            return scores
        loss, dout = globals()[self.loss_function](scores, y)
        grads = {}
        dout, grads[f"W{n}"], grads[f"b{n}"] = affine_backward(dout, cache)
        for i in range(n - 1, 0, -1):
            if self.use_dropout:
                dout = globals()[self.dropout_backward_function](dout, caches.pop())
            dout, grads[f"W{i}"], grads[f"b{i}"] = affine_relu_backward(dout, caches.pop())
        for i in range(1, n + 1):
            loss += 0.5 * self.reg * np.sum(self.params[f"W{i}"] ** 2)
            grads[f"W{i}"] += self.reg * self.params[f"W{i}"]
        return loss, grads


def correct():
    return FullyConnectedNet([16, 16], dropout_keep_ratio=0.75)


def loss_not_divided():
    return FullyConnectedNet([16, 16], dropout_keep_ratio=0.75, loss_function="softmax_loss_not_divided")


def fresh_mask():
    return FullyConnectedNet([16, 16], dropout_keep_ratio=0.75, dropout_backward_function="dropout_fresh_mask_backward")


def big():
    """784-256-256-10, the size the speed figure is measured on."""
    return FullyConnectedNet([256, 256], input_dim=784, num_classes=10, dropout_keep_ratio=0.75, weight_scale=0.05)


def with_l2():
    """L2 regularisation: 0.5 * reg * sum(W**2) in the loss value, reg * W in the gradients."""
    return FullyConnectedNet([16, 16], dropout_keep_ratio=0.75, reg=0.1)
