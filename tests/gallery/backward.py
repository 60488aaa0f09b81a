"""Faults in backward: the scale, the mask it multiplies by."""
import numpy as np

from . import Expect
from ._base import BlackBoxDropout


class BackwardWithoutScale(BlackBoxDropout):
    """Backward multiplies by the 0/1 mask but forgets the 1/(1-p) scale."""

    expect = Expect(fails="backward", diagnoses=("backward-no-scale",))

    def backward(self, grad):
        if self.noise is None:
            return grad
        return grad * (self.noise != 0)


class BackwardFreshMask(BlackBoxDropout):
    """Backward draws a new mask instead of reusing the forward's."""

    expect = Expect(fails="backward-reuses-mask", diagnoses=("fresh-mask-backward",))

    def backward(self, grad):
        if self.noise is None:
            return grad
        keep = self.draw(np.shape(self.noise))
        return grad * (keep * self.scale()).astype(grad.dtype)


class BackwardFromOutput(BlackBoxDropout):
    """Backward re-derives the mask as ``out != 0``: wrong wherever a kept input was exactly 0."""

    expect = Expect(fails="grad-at-zero-input")

    def forward(self, x, training=True):
        self.out = super().forward(x, training)
        return self.out

    def backward(self, grad):
        if self.noise is None:
            return grad
        return grad * ((self.out != 0) * self.scale()).astype(grad.dtype)


class BackwardIgnoresMask(BlackBoxDropout):
    """Backward only rescales: the gradient reaches dropped units too."""

    expect = Expect(fails="backward-reuses-mask")

    def backward(self, grad):
        if self.noise is None:
            return grad
        return grad * grad.dtype.type(self.scale())
