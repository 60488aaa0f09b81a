"""Correct baselines in the black-box style; each faulty gallery entry breaks one method.

``BlackBoxDropout`` is inverted dropout as torch does it: keep with probability ``1 - p``,
scale kept units by ``1 / (1 - p)``, identity at eval and at ``p == 0``, ``x * 0`` at
``p == 1``, and a backward that multiplies by the forward's own mask (none after an eval
forward). ``BlackBoxAlphaDropout`` is torch's alpha dropout on the same skeleton.
"""
import math

import numpy as np

from . import Expect


class BlackBoxDropout:
    """Correct inverted dropout; ``tests.gallery._base:BlackBoxDropout`` passes the suite."""

    expect = Expect(fails=None)

    def __init__(self, p=0.5):
        self.p = p
        self.noise = None          # what backward multiplies by; None after an identity forward

    # -- the pieces faulty subclasses override ----------------------------------------------
    def keep_probability(self):
        return 1.0 - self.p

    def scale(self):
        return 1.0 / (1.0 - self.p) if self.p < 1 else 0.0

    def mask_shape(self, shape):
        return shape

    def draw(self, shape):
        return np.random.random_sample(shape) < self.keep_probability()

    def apply(self, x, noise):
        return x * noise

    # -- forward / backward -----------------------------------------------------------------
    def forward(self, x, training=True):
        if not training or self.p == 0:
            self.noise = None
            return x
        if self.p == 1:
            self.noise = x.dtype.type(0)
            return x * self.noise
        keep = self.draw(self.mask_shape(x.shape))
        self.noise = (keep * self.scale()).astype(x.dtype)
        return self.apply(x, self.noise)

    def backward(self, grad):
        if self.noise is None:
            return grad
        return grad * self.noise


#: SELU's saturation -lambda * alpha, negated (torch's ``alpha`` in Dropout.cpp).
ALPHA_PRIME = 1.7580993408473766


class BlackBoxAlphaDropout(BlackBoxDropout):
    """Correct alpha dropout (Klambauer et al. 2017), torch's formula and op order:
    ``out = x * (keep * a) + ((keep - 1) * alpha' * a + alpha' * a * p)``."""

    expect = Expect(fails=None, reference="AlphaDropout")

    alpha_prime = ALPHA_PRIME

    def constants(self):
        p, ap = self.p, self.alpha_prime
        a = 1.0 / math.sqrt((ap * ap * p + 1) * (1 - p))
        return a, ap * a, ap * a * p          # a, slope of the shift, offset of the shift

    def forward(self, x, training=True):
        if not training or self.p == 0:
            self.noise = None
            return x
        if self.p == 1:
            self.noise = self.shift = x.dtype.type(0)
            return x * self.noise
        a, slope, offset = self.constants()
        keep = self.draw(x.shape).astype(x.dtype)
        self.noise = keep * x.dtype.type(a)
        self.shift = (keep - 1) * x.dtype.type(slope) + x.dtype.type(offset)
        return x * self.noise + self.shift
