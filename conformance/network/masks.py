"""The keep-mask each dropout call drew, and the p each dropout layer means.

A mask is taken from the layer's own state where it keeps one (an array of the input's shape
with two values, 0 and one other, agreeing with the output: NNFS's ``binary_mask``, DLFS's
``mask``, a wrapper's list of masks), else read off what it did: for a plain dropout, a
nonzero input stays nonzero when kept; for a wrapper, off the input it handed the wrapped
layer. Where the input is exactly 0 (after a ReLU) the output cannot tell: there the
backward does (a kept unit passes its gradient), and where that is silent too, kept.

p comes from ``--p LAYER=P``, else from an attribute with a p-like name (the layer check's
words: ``rate``, ``keep_prob``, ``dropout_ratio``, ``p``...), read as drop or keep
probability, whichever the observed keep fraction fits (NNFS keeps ``1 - rate`` in
``self.rate``), else from the kept units' scale ``1/(1-p)``, else from the keep fraction.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..adapters.meaning import P_NAMES, p_meaning
from ..adapters.usercode import AdapterError
from .kinds import P_ATTRIBUTES


def _two_valued(a: np.ndarray) -> bool:
    if a.dtype == bool:
        return True
    values = np.unique(a)
    return values.size <= 2 and 0 in values and np.issubdtype(a.dtype, np.number)


def read_mask(call) -> tuple:
    """(keep-mask, where it came from) for one recorded dropout call."""
    x, y = call.x, call.y
    known = x != 0
    inner_input = call.state.get("inner input")
    for name, a in call.state.items():
        if name == "inner input" or not _two_valued(a):
            continue
        keep = a != 0
        evidence = inner_input if inner_input is not None else y
        if evidence is not None and evidence.shape == x.shape and \
                np.array_equal(keep[known], evidence[known] != 0):
            return keep, f"state '{name}'"
    evidence = inner_input if inner_input is not None else y
    if evidence is None or evidence.shape != x.shape:
        raise AdapterError(f"{call.layer.name}: found no keep-mask in its state and cannot read one off its "
                           "output: give the layer a mask attribute of the input's shape")
    keep = evidence != 0
    if call.dx is not None and call.g is not None and not known.all():
        silent = ~known & (call.g != 0)
        keep[silent] = call.dx[silent] != 0
        keep[~known & (call.g == 0)] = True
    else:
        keep[~known] = True
    return keep, "read off its output"


def _attribute_p(layer) -> list:
    """(name, value) of the layer's p-like attributes: as its process described them, or read."""
    if P_ATTRIBUTES in layer.extra:
        return [(str(n), float(v)) for n, v in layer.extra[P_ATTRIBUTES]]
    obj = layer.obj
    found = []
    for name in P_NAMES:
        value = vars(obj).get(name) if hasattr(obj, "__dict__") else None
        if isinstance(value, (float, int, np.floating)) and not isinstance(value, bool) and 0 <= value <= 1:
            found.append((name, float(value)))
    return found


def resolve_p(layer, keep: np.ndarray, call, option: Optional[float]) -> None:
    """Set ``layer.p`` (torch's drop probability) and ``layer.p_source``."""
    if option is not None:
        layer.p, layer.p_source = option, "--p"
        return
    kept = float(keep.mean()) if keep.size else 1.0
    for name, value in _attribute_p(layer):
        said = p_meaning(name, None)
        p = said.value(value) if said.keep else value
        flipped = 1.0 - p
        if abs((1 - flipped) - kept) < abs((1 - p) - kept):
            layer.p = flipped
            layer.p_source = (f"attribute '{name}' = {value:g}, read as the keep probability "
                              f"(kept fraction {kept:.3f})")
        else:
            layer.p, layer.p_source = p, f"attribute '{name}' = {value:g}"
        return
    x, y = call.x, call.y
    if y is not None and y.shape == x.shape:
        sel = keep & (x != 0)
        if sel.any():
            scale = float(np.median(y[sel] / x[sel]))
            if scale > 1 + 1e-6:
                layer.p, layer.p_source = 1.0 - 1.0 / scale, f"read off the kept units' scale {scale:.6g}"
                return
    layer.p = round(1.0 - kept, 2)
    layer.p_source = f"read off the kept fraction {kept:.3f} (--p {layer.label}=P if not)"
