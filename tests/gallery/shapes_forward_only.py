"""Shape 4: forward-only functions, training only (autograd does the backward elsewhere),
sometimes with a training flag."""
import numpy as np

from . import Expect


def dropout_layer(X, dropout):
    """Correct."""
    if dropout == 1:
        return X * X.dtype.type(0)
    if dropout == 0:
        return X
    mask = np.random.uniform(0, 1, X.shape) > dropout
    return X * (mask / (1.0 - dropout)).astype(X.dtype)


dropout_layer.expect = Expect(fails=None, forward_only=True)


def dropout_layer_flag(X, dropout, training=True):
    """Correct, with a training flag."""
    return dropout_layer(X, dropout) if training else X


dropout_layer_flag.expect = Expect(fails=None, forward_only=True)


def dropout_layer_nan(X, dropout):
    """Faulty: p = 1 divides by zero, giving NaN (0 * inf) instead of zeros."""
    mask = np.random.uniform(0, 1, X.shape) > dropout
    with np.errstate(divide="ignore", invalid="ignore"):
        return X * (mask / (1.0 - dropout)).astype(X.dtype)


dropout_layer_nan.expect = Expect(fails="p-one", diagnoses=("nan-at-p1",), conforms_in_training=True)
