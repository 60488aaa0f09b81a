"""Shape 3: functional pairs with a cache, as in the Stanford CS231n assignment.

``out, cache = dropout_forward(x, dropout_param)`` with ``dropout_param = {'p': ...,
'mode': 'train' | 'test'}``, ``dx = dropout_backward(dout, cache)``. In newer versions of
the assignment ``p`` is the keep probability (run with ``--p-means keep``); in older ones
the drop probability (``old_dropout_*``).
"""
import numpy as np

from . import Expect


def dropout_forward(x, dropout_param):
    """Correct, ``p`` = keep probability; binomial draws, the 0/1 mask cached unscaled."""
    p, mode = dropout_param["p"], dropout_param["mode"]
    if mode != "train" or p == 1:
        return x, (p, None)
    keep = np.random.binomial(1, p, size=np.shape(x)).astype(bool)
    scale = x.dtype.type(1.0 / p if p > 0 else 0.0)
    return np.where(keep, x * scale, x * x.dtype.type(0)), (p, (keep, scale))


dropout_forward.expect = Expect(fails=None, options=("--p-means", "keep"))


def dropout_backward(dout, cache):
    p, saved = cache
    if saved is None:
        return dout
    keep, scale = saved
    return np.where(keep, dout * scale, dout * dout.dtype.type(0))


def old_dropout_forward(x, dropout_param):
    """Correct, ``p`` = drop probability."""
    p, mode = dropout_param["p"], dropout_param["mode"]
    mask = None
    if mode == "train" and p > 0:
        mask = ((np.asarray(np.random.rand(*x.shape)) >= p) * (1.0 / (1 - p) if p < 1 else 0.0)).astype(x.dtype)
    return (x if mask is None else x * mask), (dropout_param, mask)


old_dropout_forward.expect = Expect(fails=None)


def old_dropout_backward(dout, cache):
    _, mask = cache
    return dout if mask is None else dout * mask


def cached_dropout_forward(x, dropout_param):
    """Faulty: backward assumes the training mode and multiplies by the cached mask always,
    which after a test-mode forward is ``None`` (the backward raises)."""
    return old_dropout_forward(x, dropout_param)


cached_dropout_forward.expect = Expect(fails="mode-switch", diagnoses=("eval-backward",))


def cached_dropout_backward(dout, cache):
    _, mask = cache
    return dout * mask
