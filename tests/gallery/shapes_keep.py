"""Shape 6: the constructor's parameter is the keep probability (``keep_prob``), found from
its name; and a bare ``p`` that means keep, which needs ``--p-means keep``."""
import numpy as np

from . import Expect


class KeepProbDropout:
    """Correct: ``keep_prob`` is the probability of keeping a unit."""

    expect = Expect(fails=None)

    def __init__(self, keep_prob=0.5):
        self.keep_prob = keep_prob
        self.mask = None

    def forward(self, x, training=True):
        self.mask = None
        if not training or self.keep_prob == 1:
            return x
        kept = np.random.random_sample(x.shape) < self.keep_prob
        self.mask = (kept * (1.0 / self.keep_prob if self.keep_prob > 0 else 0.0)).astype(x.dtype)
        return x * self.mask

    def backward(self, grad):
        return grad if self.mask is None else grad * self.mask


class KeepProbWrongScale(KeepProbDropout):
    """Faulty: keeps with probability ``keep_prob`` but scales by 1/(1 - keep_prob)."""

    # scales by 1/(1-keep_prob) = 1/p, p the drop probability
    expect = Expect(fails="forward", diagnoses=("scale-by-p",))

    def forward(self, x, training=True):
        self.mask = None
        if not training or self.keep_prob == 1:
            return x
        kept = np.random.random_sample(x.shape) < self.keep_prob
        self.mask = (kept * (1.0 / (1.0 - self.keep_prob))).astype(x.dtype)
        return x * self.mask


class KeepP(KeepProbDropout):
    """Correct when run with ``--p-means keep``: the same code with the parameter called ``p``."""

    expect = Expect(fails=None, options=("--p-means", "keep"))

    def __init__(self, p=0.5):
        super().__init__(keep_prob=p)
