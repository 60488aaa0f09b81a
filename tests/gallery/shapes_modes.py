"""Shape 2: the mode under other names.

``forward(x, train_flg=True)`` (the translated "Deep Learning from Scratch"), an
``is_training`` attribute, a ``mode='train'``/``'test'`` string, ``deterministic=True``
meaning eval (Flax), and a Keras-like ``__call__(x, training=False)`` whose default is eval.
"""
import numpy as np

from . import Expect


def _mask(shape, p, dtype):
    """The scaled keep-mask all of these share: keep with probability 1 - p, scale 1/(1-p)."""
    kept = np.random.random_sample(shape) >= p
    return (kept * (0.0 if p == 1 else 1.0 / (1.0 - p))).astype(dtype)


class TrainFlgDropout:
    """Correct: ``forward(x, train_flg=True)``, ``backward(dout)``, ``dropout_ratio``."""

    expect = Expect(fails=None)

    def __init__(self, dropout_ratio=0.5):
        self.dropout_ratio = dropout_ratio
        self.mask = None

    def forward(self, x, train_flg=True):
        self.mask = _mask(x.shape, self.dropout_ratio, x.dtype) if train_flg and self.dropout_ratio else None
        return x if self.mask is None else x * self.mask

    def backward(self, dout):
        return dout if self.mask is None else dout * self.mask


class IsTrainingDropout(TrainFlgDropout):
    """Correct: an ``is_training`` attribute, ``forward(x)``."""

    expect = Expect(fails=None)

    def __init__(self, dropout_ratio=0.5):
        super().__init__(dropout_ratio)
        self.is_training = True

    def forward(self, x):
        return super().forward(x, self.is_training)


class ModeStringDropout(TrainFlgDropout):
    """Correct: ``forward(x, mode='train')``, ``'test'`` for evaluation."""

    expect = Expect(fails=None)

    def forward(self, x, mode="train"):
        return super().forward(x, mode == "train")


class FlaxLikeDropout:
    """Correct: ``__call__(x, deterministic=False)``; ``deterministic=True`` is evaluation."""

    expect = Expect(fails=None)

    def __init__(self, rate):
        self.rate = rate
        self.mask = None

    def __call__(self, x, deterministic=False):
        self.mask = None if deterministic or self.rate == 0 else _mask(x.shape, self.rate, x.dtype)
        return x if self.mask is None else x * self.mask

    def backward(self, g):
        return g if self.mask is None else g * self.mask


class FlaxLikeInverted(FlaxLikeDropout):
    """Faulty: reads ``deterministic`` the wrong way round (drops at eval, not in training)."""

    expect = Expect(fails="eval-identity", diagnoses=("never-drops",))

    def __call__(self, x, deterministic=False):
        return super().__call__(x, not deterministic)


class KerasLikeDropout:
    """Correct: ``__call__(x, training=False)`` (default: inference), forward only."""

    expect = Expect(fails=None, forward_only=True)

    def __init__(self, rate):
        self.rate = rate

    def __call__(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        return inputs * _mask(inputs.shape, self.rate, inputs.dtype)


class KerasLikeDropsAlways(KerasLikeDropout):
    """Faulty: ignores ``training``, so inference drops too."""

    expect = Expect(fails="eval-identity", diagnoses=("eval-still-drops",))

    def __call__(self, inputs, training=False):
        return super().__call__(inputs, True)
