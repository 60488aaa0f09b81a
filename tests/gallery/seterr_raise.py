"""Correct dropout from a module that sets numpy to raise on every floating-point error and
changes torch's default dtype at import (as some training scripts do): neither may change
the harness's own arithmetic or a verdict: its own code (SeterrDropout) and the harness's
comparisons (CarefulDropout, which keeps its own arithmetic quiet) run under the harness's errstate."""
import numpy as np

from . import Expect
from ._base import BlackBoxDropout

np.seterr(all="raise")

try:
    import torch

    torch.set_default_dtype(torch.float64)
except ImportError:
    pass


class SeterrDropout(BlackBoxDropout):
    """Correct inverted dropout (``tests.gallery._base:BlackBoxDropout``), loaded with the
    module's settings above."""

    expect = Expect(fails=None)


class CarefulDropout(BlackBoxDropout):
    """Correct inverted dropout whose own arithmetic runs under ``np.errstate(all="ignore")``
    (so its module's ``raise`` never fires in it): only the harness's arithmetic could raise."""

    expect = Expect(fails=None)

    def forward(self, x, training=True):
        with np.errstate(all="ignore"):
            return super().forward(x, training)

    def backward(self, grad):
        with np.errstate(all="ignore"):
            return super().backward(grad)
