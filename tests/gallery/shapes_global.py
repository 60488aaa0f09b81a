"""The mode as a global switch (DeZero's ``Config.train``, used as ``with test_mode():``):
``dropout(x, dropout_ratio)`` reads it; the suite finds ``Config.train`` in the module and
sets it, so the eval checks run instead of being skipped.
"""
import contextlib

import numpy as np

from . import Expect


class Config:
    enable_backprop = True
    train = True


@contextlib.contextmanager
def test_mode():
    old, Config.train = Config.train, False
    try:
        yield
    finally:
        Config.train = old


def dropout(x, dropout_ratio=0.5):
    """Correct (forward only): the noise ``keep * scale`` made in float64, then cast to x's dtype."""
    if not Config.train or dropout_ratio == 0:
        return x
    keep = np.random.random_sample(x.shape) >= dropout_ratio
    scale = 0.0 if dropout_ratio == 1 else 1.0 / (1.0 - dropout_ratio)
    return x * (keep * scale).astype(x.dtype)


dropout.expect = Expect(fails=None, forward_only=True)


def dropout_ignores_config(x, dropout_ratio=0.5):
    """Faulty: drops whatever ``Config.train`` says."""
    keep = np.random.random_sample(x.shape) >= dropout_ratio
    scale = x.dtype.type(0.0 if dropout_ratio == 1 else 1.0 / (1.0 - dropout_ratio))
    return x * keep.astype(x.dtype) * scale


dropout_ignores_config.expect = Expect(fails="eval-identity", diagnoses=("eval-still-drops", "scale-overflows-float16"))
