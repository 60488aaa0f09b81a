"""Shape 3: functional pairs with a cache, as in the Stanford CS231n assignment.

``out, cache = dropout_forward(x, dropout_param)`` with ``dropout_param = {'p': ...,
'mode': 'train' | 'test'}``, ``dx = dropout_backward(dout, cache)``. In newer versions of
the assignment ``p`` is the keep probability (run with ``--p-means keep``); in older ones
the drop probability (``old_dropout_*``).
"""
import numpy as np


def dropout_forward(x, dropout_param):
    """Correct, ``p`` = keep probability."""
    p, mode = dropout_param["p"], dropout_param["mode"]
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])
    mask = None
    out = x
    if mode == "train" and p < 1:
        mask = ((np.asarray(np.random.rand(*x.shape)) < p) * (1.0 / p if p > 0 else 0.0)).astype(x.dtype)
        out = x * mask
    return out, (dropout_param, mask)


def dropout_backward(dout, cache):
    dropout_param, mask = cache
    if dropout_param["mode"] == "train" and mask is not None:
        return dout * mask
    return dout


def old_dropout_forward(x, dropout_param):
    """Correct, ``p`` = drop probability."""
    p, mode = dropout_param["p"], dropout_param["mode"]
    mask = None
    if mode == "train" and p > 0:
        mask = ((np.asarray(np.random.rand(*x.shape)) >= p) * (1.0 / (1 - p) if p < 1 else 0.0)).astype(x.dtype)
    return (x if mask is None else x * mask), (dropout_param, mask)


def old_dropout_backward(dout, cache):
    _, mask = cache
    return dout if mask is None else dout * mask


def cached_dropout_forward(x, dropout_param):
    """Faulty: backward assumes the training mode and multiplies by the cached mask always,
    which after a test-mode forward is ``None`` (the backward raises)."""
    return old_dropout_forward(x, dropout_param)


def cached_dropout_backward(dout, cache):
    _, mask = cache
    return dout * mask
