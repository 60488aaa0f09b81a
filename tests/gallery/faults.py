"""More faults, each with a known fingerprint for the harness's diagnoses (``likely cause:``).

Some are written the way course notes and textbooks write dropout (``rand(...) < p`` with
``p`` the keep probability, then ``/ p``); some are mask-capable (``forward(x, mask=...)``,
as npdrop's layers), so the diagnoses are seen to work when the harness picks the masks;
some are channel or alpha dropouts, checked with ``--reference Dropout2d`` / ``AlphaDropout``.
"""
import numpy as np

from . import Expect
from ._base import BlackBoxAlphaDropout, BlackBoxDropout


class OriginalDropout(BlackBoxDropout):
    """Correct *original* dropout (Srivastava et al. 2014): train ``x * mask``, eval ``x * (1-p)``.
    Not torch's inverted form, so the default run fails it."""

    expect = Expect(fails="eval-identity", diagnoses=("original-form",))

    def scale(self):
        return 1.0

    def forward(self, x, training=True):
        if training:
            return super().forward(x)
        self.noise = x.dtype.type(1 - self.p)
        return x * self.noise


class KeepProbDivide:
    """Course-notes dropout: ``p`` is the keep probability, ``mask = (rand(*x.shape) < p) / p``.
    The float64 mask also turns float32 input into float64 output."""

    # p read as keep probability; its float64 mask upcasts; at p = 0 (keep 0) it divides 0 by 0
    expect = Expect(fails="keep-rate", diagnoses=("keep-prob", "dtype-upcast", "nan-at-p1"))

    def __init__(self, p):
        self.p = p
        self.mask = None

    def forward(self, x, training=True):
        if not training:
            self.mask = None
            return x
        self.mask = (np.random.rand(*x.shape) < self.p) / self.p
        return x * self.mask

    def backward(self, grad):
        return grad if self.mask is None else grad * self.mask


class Float32Mask(BlackBoxDropout):
    """Builds the mask in float32 whatever the input: float16 input comes back float32."""

    expect = Expect(fails="dtype", diagnoses=("dtype-upcast",))

    def forward(self, x, training=True):
        out = super().forward(x, training)
        if self.noise is not None:
            self.noise = self.noise.astype(np.float32)
            return x * self.noise
        return out


class BackwardAfterEvalRaises(BlackBoxDropout):
    """Forgets the mask at eval, and backward then multiplies by ``None``: a TypeError."""

    expect = Expect(fails="mode-switch", diagnoses=("eval-backward",))

    def backward(self, grad):
        return grad * self.noise


class MaskedNoScale:
    """Mask-capable (``forward(x, mask=None)``, ``train()``/``eval()``) and never scales."""

    expect = Expect(fails="forward", diagnoses=("no-scale",))

    def __init__(self, p, rng=None):
        self.p = p
        self.rng = np.random.default_rng(rng)
        self.training = True
        self.keep = None

    def train(self):
        self.training = True

    def eval(self):
        self.training = False

    def forward(self, x, mask=None):
        if not self.training or self.p == 0:
            self.keep = None
            return x
        self.keep = mask if mask is not None else self.rng.random(x.shape) >= self.p
        return x * self.keep.astype(x.dtype)

    def backward(self, grad):
        return grad if self.keep is None else grad * self.keep.astype(grad.dtype)


class MaskedFixedMask(MaskedNoScale):
    """Mask-capable inverted dropout whose own draws come from a generator re-created from
    the same seed on every call: every call without ``mask=`` drops the same units."""

    expect = Expect(fails="call-independence", diagnoses=("fixed-mask", "scale-overflows-float16"))

    def __init__(self, p, rng=None):
        super().__init__(p, rng)
        self.seed = rng

    def forward(self, x, mask=None):
        if not self.training or self.p == 0:
            self.keep = None
            return x
        if mask is None:
            mask = np.random.default_rng(self.seed).random(x.shape) >= self.p
        self.keep = mask
        scale = x.dtype.type(1 / (1 - self.p)) if self.p < 1 else x.dtype.type(0)
        return x * (mask * scale).astype(x.dtype)

    def backward(self, grad):
        if self.keep is None:
            return grad
        scale = grad.dtype.type(1 / (1 - self.p)) if self.p < 1 else grad.dtype.type(0)
        return grad * (self.keep * scale).astype(grad.dtype)


class ChannelNoScale(BlackBoxDropout):
    """A Dropout2d (whole channels of N, C, H, W) that never scales the kept channels."""

    expect = Expect(fails="forward", reference="Dropout2d", diagnoses=("no-scale",))

    def mask_shape(self, shape):
        return tuple(shape[:2]) + (1,) * (len(shape) - 2)

    def scale(self):
        return 1.0


class AlphaOneMaskPerBatch(BlackBoxAlphaDropout):
    """Alpha dropout drawing one mask for a single sample, shared by the whole batch."""

    expect = Expect(fails="batch-independence", reference="AlphaDropout", diagnoses=("batch-shared-mask",),
                    only=("batch-independence",))

    def draw(self, shape):
        if len(shape) < 2:
            return super().draw(shape)
        return np.broadcast_to(super().draw((1,) + tuple(shape[1:])), shape)


class ScaleDividesByZero(BlackBoxDropout):
    """No p == 1 case, and the scale a Python float division: ``1.0 / (1 - p)`` raises
    ZeroDivisionError when everything is dropped."""

    expect = Expect(fails="p-one", diagnoses=("nan-at-p1",), conforms_in_training=True)

    def forward(self, x, training=True):
        if not training:
            self.noise = None
            return x
        self.noise = (self.draw(x.shape) * (1.0 / (1.0 - self.p))).astype(x.dtype)
        return x * self.noise


class NoEvalModeNoScale(BlackBoxDropout):
    """The bare "zero random neurons" layer: ``forward(x)`` only, no mode at all, no scale."""

    expect = Expect(fails="forward", diagnoses=("no-scale",))

    def scale(self):
        return 1.0

    def forward(self, x):
        return super().forward(x)
