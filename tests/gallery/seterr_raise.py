"""Correct dropout from a module that sets numpy to raise on every floating-point error and
changes torch's default dtype at import (as some training scripts do): neither may change
the harness's own arithmetic or a verdict."""
import numpy as np

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
