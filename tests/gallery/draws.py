"""Faults in how masks are drawn: the keep probability, and which draws are independent."""
import numpy as np

from ._base import BlackBoxDropout


class PAsKeepProbability(BlackBoxDropout):
    """Reads p as the probability of *keeping* a unit (Keras' old ``keep_prob``)."""

    def keep_probability(self):
        return self.p


class Uint8Threshold(BlackBoxDropout):
    """Compares random bytes with a byte threshold: the keep probability is quantised to
    1/256 steps (int(0.9 * 256) / 256 = 0.8984 at p = 0.1), a bias of 1.6e-3."""

    def draw(self, shape):
        threshold = int(self.keep_probability() * 256)
        return np.random.randint(0, 256, size=shape, dtype=np.uint8) < threshold


class OneMaskPerBatch(BlackBoxDropout):
    """Draws one mask for a single sample and reuses it for every sample in the batch."""

    def mask_shape(self, shape):
        return (1,) + tuple(shape[1:]) if len(shape) > 1 else shape


class MaskNeverRedrawn(BlackBoxDropout):
    """Draws the mask on the first call and keeps it for every later call of the same shape."""

    cached = None

    def draw(self, shape):
        if self.cached is None or self.cached.shape != tuple(shape):
            self.cached = super().draw(shape)
        return self.cached


class ReseedsEveryCall(BlackBoxDropout):
    """Calls ``np.random.seed(0)`` in forward "for reproducibility": every call draws the same mask."""

    def draw(self, shape):
        np.random.seed(0)
        return super().draw(shape)
