"""Correct dropouts written independently of ``_base`` and of each other.

Each uses another calling convention and another way of drawing and applying the mask,
so the suite is seen to accept correct code it was not written around:

- :class:`WhereDropout`: ``forward(x, training=...)``, uniform floats, ``np.where`` with the
  mask saved;
- :class:`IndexDropout`: ``train()``/``eval()``, ``np.random.binomial``, boolean indexing;
- :class:`NoiseDropout`: a ``training`` attribute, its own ``Generator`` (``seed=``), a
  float noise array, the scale computed at full precision before the cast to the input's
  dtype (``float16(1 - p)`` would be 0 at p = 1 - 1e-10, the suite's fixed float16 case);
- :class:`ChannelDropout2d`, :class:`SeluAlphaDropout`: channel and alpha dropout.
"""

import numpy as np

from . import Expect


class WhereDropout:
    expect = Expect(fails=None)

    def __init__(self, p):
        self.p = p
        self.keep = None

    def forward(self, x, training=True):
        if not training or self.p == 0.0:
            self.keep = None
            return x
        scale = 0.0 if self.p == 1.0 else 1.0 / (1.0 - self.p)
        self.keep = np.random.uniform(size=x.shape) >= self.p
        self.scale = x.dtype.type(scale)
        # x * 0 (not a literal 0) where dropped keeps torch's NaN for a dropped inf or NaN.
        return np.where(self.keep, x * self.scale, x * x.dtype.type(0))

    def backward(self, grad):
        if self.keep is None:
            return grad
        return np.where(self.keep, grad * self.scale, grad * grad.dtype.type(0))


class IndexDropout:
    """Index assignment: correct in training. Its backward starts from ``zeros_like``, so a
    dropped negative gradient comes out +0.0 where torch's ``g * 0`` is -0.0: the signed-zero edge."""

    expect = Expect(fails="signed-zero", conforms_in_training=True, only=("signed-zero",))

    def __init__(self, p):
        self.p = p
        self.training = True
        self.kept = None

    def train(self):
        self.training = True

    def eval(self):
        self.training = False

    def forward(self, x):
        self.kept = None
        if not self.training or self.p == 0.0:
            return x
        self.kept = np.random.binomial(1, 1.0 - self.p, size=x.shape).astype(bool)
        self.factor = x.dtype.type(1.0 / (1.0 - self.p)) if self.p < 1.0 else x.dtype.type(0)
        out = np.array(x * x.dtype.type(0))     # an array even for 0-d input
        out[self.kept] = x[self.kept] * self.factor
        return out

    def backward(self, grad):
        if self.kept is None:
            return grad
        out = np.zeros_like(np.asarray(grad))
        out[self.kept] = grad[self.kept] * self.factor
        return out


class NoiseDropout:
    expect = Expect(fails=None)

    def __init__(self, p, seed=None):
        self.p = p
        self.training = True
        self.rng = np.random.default_rng(seed)
        self.noise = None

    def forward(self, x):
        if not self.training or self.p == 0.0:
            self.noise = None
            return x
        if self.p == 1.0:
            self.noise = np.zeros((), dtype=x.dtype)
        else:
            keep = self.rng.random(x.shape) >= self.p
            # the scale at full precision, then the input's dtype (as torch does): float16(1 - p)
            # is 0 for p near 1, and a dropped unit would become 0/0 = NaN
            self.noise = (keep / (1.0 - self.p)).astype(x.dtype)
        return x * self.noise

    def backward(self, grad):
        return grad if self.noise is None else grad * self.noise


class ChannelDropout2d:
    """Whole channels of (N, C, H, W): one draw per (sample, channel)."""

    expect = Expect(fails=None, reference="Dropout2d")

    def __init__(self, p):
        self.p = p
        self.noise = None

    def forward(self, x, training=True):
        if not training or self.p == 0.0:
            self.noise = None
            return x
        if self.p == 1.0:
            self.noise = x.dtype.type(0)
            return x * self.noise
        shape = x.shape[:2] + (1,) * (x.ndim - 2)
        keep = np.random.random_sample(shape) >= self.p
        self.noise = (keep / (1.0 - self.p)).astype(x.dtype)
        return x * self.noise

    def backward(self, grad):
        return grad if self.noise is None else grad * self.noise


class SeluAlphaDropout:
    """Alpha dropout: dropped units go to SELU's saturation -lambda*alpha, then an affine map
    a * (.) + b restores mean 0 and variance 1."""

    expect = Expect(fails=None, reference="AlphaDropout")

    SATURATION = -1.0507009873554805 * 1.6732632423543772   # -lambda * alpha

    def __init__(self, p):
        self.p = p
        self.a = None

    def forward(self, x, training=True):
        self.a = None
        if not training or self.p == 0.0:
            return x
        if self.p == 1.0:
            self.a, self.keep = 0.0, np.zeros(x.shape, dtype=bool)
            return x * x.dtype.type(0)
        q = 1.0 - self.p
        s = self.SATURATION
        a = (q + s * s * q * self.p) ** -0.5
        b = -a * s * self.p
        self.a, self.keep = a, np.random.random_sample(x.shape) < q
        t = x.dtype.type
        # a * (x*keep + s*(1-keep)) + b, distributed so that a dropped inf still gives NaN
        return x * (self.keep * t(a)).astype(x.dtype) + np.where(self.keep, t(b), t(a * s + b))

    def backward(self, grad):
        if self.a is None:
            return grad
        return grad * (self.keep * grad.dtype.type(self.a)).astype(grad.dtype)
