"""Dropout as a functional pair with a cache, the shape of the Stanford CS231n assignment.

    npdrop-conform examples.cs231n_dropout:dropout_forward --p-means keep

``dropout_param['p']`` is the probability of *keeping* a unit here (as in the assignment's
newer versions), hence ``--p-means keep``; the harness finds ``dropout_backward`` beside
``dropout_forward`` and passes a fresh ``{'p': ..., 'mode': 'train' | 'test'}`` each call.
"""
import numpy as np


def dropout_forward(x, dropout_param):
    p, mode = dropout_param["p"], dropout_param["mode"]
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])
    mask = None
    out = x
    if mode == "train" and p < 1:
        kept = np.asarray(np.random.rand(*x.shape)) < p
        mask = (kept * (1.0 / p if p > 0 else 0.0)).astype(x.dtype)
        out = x * mask
    return out, (dropout_param, mask)


def dropout_backward(dout, cache):
    dropout_param, mask = cache
    if dropout_param["mode"] == "train" and mask is not None:
        return dout * mask
    return dout
