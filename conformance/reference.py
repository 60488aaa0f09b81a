"""The torch side: torch's dropout modules run on the harness's masks, and how closely
results must match them (the facts about each variant are in :mod:`conformance.variants`)."""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from npdrop.dtypes import finfo
from npdrop.testing.inject import inject_masks, to_numpy, to_tensor

from .variants import Variant

def torch_draws(variant: Variant, p: float, x: np.ndarray, training: bool = True) -> bool:
    """Whether torch draws a mask at all (not in eval, not at p == 0 or 1, not for empty input)."""
    return training and 0.0 < p < 1.0 and x.size > 0


@dataclass
class TorchResult:
    out: np.ndarray
    grad: Optional[np.ndarray]
    input_after: np.ndarray   #: torch's input tensor after the call (in-place changes it)
    same_object: bool         #: torch returned its input tensor itself
    #: torch's own (inverted) result, when this one is the original form's expectation under the same mask
    of_torch: Optional["TorchResult"] = None

    @property
    def torch_own(self) -> "TorchResult":
        """What torch itself computed: the diagnoses measure ratios against it, whatever the form."""
        return self.of_torch if self.of_torch is not None else self


def run_torch(variant: Variant, p: float, x: np.ndarray, keep: Optional[np.ndarray], *, grad=None,
              training: bool = True, inplace: bool = False) -> TorchResult:
    """``torch.nn.<variant>(p, inplace)`` on a copy of ``x`` with ``keep`` injected (strictly:
    torch must draw exactly once when it should draw, never otherwise), then autograd with
    the upstream gradient ``grad`` when given."""
    module = getattr(torch.nn, variant.name)(p, inplace=inplace).train(training)
    t = to_tensor(np.array(x))
    if grad is not None:
        t.requires_grad_(True)
    masks = [keep] if torch_draws(variant, p, x, training) else []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with inject_masks(masks):
            out = module(t)
    same = out is t
    g = None
    if grad is not None:
        out.backward(to_tensor(np.array(grad)))
        g = to_numpy(t.grad).copy()
    return TorchResult(to_numpy(out).copy(), g, to_numpy(t).copy(), same)


def tolerance(variant: Variant, dtype, exact: bool) -> dict:
    """How closely a result must match torch's.

    npdrop: bit for bit. Other implementations: a different but correct order of operations
    must not fail, a wrong formula must: relative error up to 4 machine epsilons of the
    dtype (at least 4 ULPs; a wrong scale is off by >= 10% at the tested p). Alpha variants
    add an absolute 16 epsilons: their affine shift can cancel against ``a * x``, so a
    correct order of operations can be a few ULPs of the operands off near zero.
    """
    if exact:
        return {"exact": True}
    eps = float(finfo(dtype).eps)
    return {"exact": False, "rtol": 4 * eps, "atol": 16 * eps if variant.alpha else 0.0}
