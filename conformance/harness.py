"""Steps the test modules share: one training call with its mask, and checks against torch.

``forward_with_mask`` is the heart of the harness. For a mask-capable implementation the
harness draws the keep-mask and passes it as ``mask=``; for a black box the
implementation draws and the mask is read off its output. Either way the caller gets the
output and the mask to inject into torch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Optional

import numpy as np

from npdrop.torch import assert_same

from .observe import observe
from .reference import draws, noise_shape, run_torch, tolerance

try:  # bfloat16 joins the matrix when the optional ml_dtypes package is installed
    from ml_dtypes import bfloat16
except ImportError:
    bfloat16 = None
DTYPES = (np.float16, np.float32, np.float64) + (() if bfloat16 is None else (bfloat16,))
DTYPE_IDS = ("float16", "float32", "float64") + (() if bfloat16 is None else ("bfloat16",))
PS = (0.0, 0.1, 0.3, 0.5, 0.8, 1.0)


def draw_keep(ref: str, shape: tuple, p: float, rng: np.random.Generator) -> np.ndarray:
    """A keep-mask of ``ref``'s noise shape for an input of ``shape``: True with probability 1 - p."""
    return rng.random(noise_shape(ref, shape)) >= p


class Call(NamedTuple):
    """One forward call: its output, the mask torch must use (None: torch draws nothing),
    and the input as it was before the call (an implementation may have modified ``x``)."""

    out: object
    keep: Optional[np.ndarray]
    x: np.ndarray


def forward_with_mask(layer, ref: str, x: np.ndarray, p: float, rng, training: bool = True) -> Call:
    """One training forward; mask-capable implementations get a harness-drawn ``mask=``,
    black boxes draw their own, read back with :func:`conformance.observe.observe`."""
    before = x.copy()
    if not draws(ref, p, x, training):
        return Call(layer.forward(x), None, before)
    if layer.accepts_mask:
        keep = draw_keep(ref, x.shape, p, rng)
        return Call(layer.forward(x, mask=keep), keep, before)
    out = layer.forward(x)
    return Call(out, observe(ref, before, out)[0], before)


def own_forward(layer, ref: str, x: np.ndarray):
    """A forward on the implementation's own draw: ``(out, keep, known)`` read off the output."""
    before = x.copy()
    out = layer.forward(x)
    keep, known = observe(ref, before, out)
    return out, keep, known


@dataclass
class Judge:
    """Compares results with torch's for one case, naming the case in every message."""

    impl: object
    ref: str
    p: float
    dtype: object
    shape: tuple
    repro: str

    def same(self, actual, expected, what: str, *, exact: Optional[bool] = None, against: str = "torch") -> None:
        tol = tolerance(self.ref, np.dtype(self.dtype), self.impl.exact if exact is None else exact)
        assert_same(actual, expected, what=what, variant=self.ref, p=self.p, dtype=np.dtype(self.dtype),
                    shape=self.shape, repro=self.repro, against=against, **tol)

    def torch(self, x, keep, **kwargs):
        return run_torch(self.ref, self.p, x, keep, **kwargs)


def elementwise(keep: np.ndarray, shape: tuple) -> np.ndarray:
    """A noise-shaped mask broadcast to the input's shape."""
    return np.broadcast_to(keep, shape)
