"""Faults in the values a correct mask is turned into: scale, p == 1, dtype, NaN/inf."""
import numpy as np

from . import Expect
from ._base import BlackBoxDropout


class ScaleByInverseP(BlackBoxDropout):
    """Scales kept units by 1/p instead of 1/(1-p): the expectation is wrong for p != 0.5."""

    expect = Expect(fails="forward", diagnoses=("scale-by-p",))

    def scale(self):
        return 1.0 / self.p


class NoScaling(BlackBoxDropout):
    """Zeroes units but never rescales the survivors (and eval is still the identity)."""

    expect = Expect(fails="forward", diagnoses=("no-scale",))

    def scale(self):
        return 1.0


class NanAtPOne(BlackBoxDropout):
    """No p == 1 special case: ``x * mask / (1 - p)`` is 0/0 = NaN when everything is dropped."""

    expect = Expect(fails="p-one", diagnoses=("nan-at-p1", "scale-overflows-float16"), conforms_in_training=True)

    def forward(self, x, training=True):
        if not training:
            self.noise = None
            return x
        keep = np.random.random_sample(x.shape) < 1.0 - self.p
        self.noise = keep / (1.0 - self.p)
        return x * keep / (1.0 - self.p)

    def backward(self, grad):
        return grad if self.noise is None else (grad * self.noise).astype(grad.dtype)


class Float64Output(BlackBoxDropout):
    """Draws the mask with ``np.random.binomial``: int64 * float32 promotes the output to float64."""

    expect = Expect(fails="dtype", diagnoses=("dtype-upcast",))

    def forward(self, x, training=True):
        if not training or self.p == 0:
            self.noise = None
            return x
        self.keep = np.random.binomial(1, 1.0 - self.p, size=x.shape)
        self.noise = self.keep / (1.0 - self.p) if self.p < 1 else self.keep * 0.0
        return x * self.noise

    def backward(self, grad):
        return grad if self.noise is None else grad * self.noise


class WhereLiteralZero(BlackBoxDropout):
    """``np.where(keep, x * scale, 0)``: a dropped inf or NaN becomes 0, torch gives NaN."""

    expect = Expect(fails="nonfinite", diagnoses=("where-select",), conforms_in_training=True)

    def apply(self, x, noise):
        return np.where(noise != 0, x * noise, x.dtype.type(0))
