"""Faults in how masks are drawn: the keep probability, and which draws are independent."""
import numpy as np

from . import Expect
from ._base import BlackBoxDropout


class PAsKeepProbability(BlackBoxDropout):
    """Reads p as the probability of *keeping* a unit (Keras' old ``keep_prob``)."""

    expect = Expect(fails="keep-rate", diagnoses=("keep-prob",))

    def keep_probability(self):
        return self.p


class Uint8Threshold(BlackBoxDropout):
    """Compares random bytes with a byte threshold: the keep probability is quantised to
    1/256 steps (int(0.9 * 256) / 256 = 0.8984 at p = 0.1), a bias of 1.6e-3."""

    expect = Expect(fails="keep-rate", diagnoses=("quantised-threshold",))

    def draw(self, shape):
        threshold = int(self.keep_probability() * 256)
        return np.random.randint(0, 256, size=shape, dtype=np.uint8) < threshold


class OneMaskPerBatch(BlackBoxDropout):
    """Draws one mask for a single sample and reuses it for every sample in the batch."""

    # only batch-independence: not call-independence, keep-rate, noise-shape
    expect = Expect(fails="batch-independence", diagnoses=("batch-shared-mask",), only=("batch-independence",))

    def mask_shape(self, shape):
        return (1,) + tuple(shape[1:]) if len(shape) > 1 else shape


class MaskNeverRedrawn(BlackBoxDropout):
    """Draws the mask on the first call and keeps it for every later call of the same shape."""

    expect = Expect(fails="call-independence", diagnoses=("fixed-mask",))

    cached = None

    def draw(self, shape):
        if self.cached is None or self.cached.shape != tuple(shape):
            self.cached = super().draw(shape)
        return self.cached


class ReseedsEveryCall(BlackBoxDropout):
    """Calls ``np.random.seed(0)`` in forward "for reproducibility": every call draws the same mask."""

    expect = Expect(fails="call-independence", diagnoses=("fixed-mask",))

    def draw(self, shape):
        np.random.seed(0)
        return super().draw(shape)
