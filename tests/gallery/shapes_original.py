"""Shape 7: the original form (Srivastava et al. 2014): training ``x * m``, evaluation
``x * (1 - p)``; correct under ``--form original``."""
import numpy as np

from . import Expect


class OriginalDropout:
    """Correct original-form dropout."""

    expect = Expect(fails=None, options=("--form", "original"))

    def __init__(self, p=0.5):
        self.p = p
        self.factor = None      # what backward multiplies by: the mask, or 1 - p after eval

    def forward(self, x, training=True):
        if training:
            self.factor = (np.random.random_sample(x.shape) >= self.p).astype(x.dtype)
        else:
            self.factor = x.dtype.type(1.0 - self.p)
        return x * self.factor

    def backward(self, grad):
        return grad * self.factor


class OriginalNoEvalScale(OriginalDropout):
    """Faulty: evaluation returns the input unscaled (inverted dropout's eval with the
    original form's training)."""

    expect = Expect(fails="eval-identity", options=("--form", "original"))

    def forward(self, x, training=True):
        if training:
            return super().forward(x, training)
        self.factor = x.dtype.type(1.0)
        return x
