"""One comparison of the network check, and how far apart two arrays are.

A difference is ``max|mine - torch| / max|torch|`` over the whole array (an entry near 0 is
judged against the array's scale, which summation order moves it by): ``ok`` up to
:data:`TOLERANCES` ``[0]``, ``close`` up to ``[1]`` (harmless: an epsilon in a log, a clip),
``DIFF`` above.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: (ok, close) limits on the relative difference, by the user's float type
TOLERANCES = {np.dtype(np.float64): (1e-10, 1e-5), np.dtype(np.float32): (1e-5, 1e-3)}


@dataclass
class Item:
    """One comparison: where (step, stage, layer), what, how far apart, and the judgement
    (``ok``/``close``/``DIFF``, or ``n/a`` when the user's side has no such value)."""

    step: int
    stage: str            #: "loss", "forward", "backward", "eval", and "local ..." for the layer-alone checks
    layer: str            #: the layer's name, or "" for the loss / the network
    what: str             #: "value", "logits grad", "output", "input grad", "weight grad", "bias grad"
    rel: float
    status: str
    note: str = ""

    def as_dict(self) -> dict:
        """For JSON, which has no NaN or infinity: a missing value is null, a size mismatch "inf"."""
        d = dict(vars(self))
        d["rel"] = None if self.rel != self.rel else "inf" if self.rel == float("inf") else self.rel
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Item":
        rel = d["rel"]
        return cls(**dict(d, rel=float("nan") if rel is None else float(rel)))


def difference(mine, theirs) -> float:
    """``max|mine - theirs| / max|theirs|``; NaN when either is missing, inf when the sizes differ
    or only one side is non-finite."""
    if mine is None or theirs is None:
        return float("nan")
    a, b = np.asarray(mine, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    if a.size != b.size:
        return float("inf")
    a, b = a.reshape(b.shape), b
    if not np.all(np.isfinite(a)) or not np.all(np.isfinite(b)):
        return 0.0 if np.array_equal(a, b, equal_nan=True) else float("inf")
    scale = np.abs(b).max() if b.size else 0.0
    err = np.abs(a - b).max() if b.size else 0.0
    return float(err / scale) if scale > 0 else (0.0 if err == 0 else float("inf"))
