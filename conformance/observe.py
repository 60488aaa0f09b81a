"""Reading a black-box implementation's keep-mask off its own output.

An implementation that draws its masks itself cannot be handed one, so the harness learns
each call's mask from what the call returned, then injects that mask into torch:

- Bernoulli variants (``Dropout``, ``Dropout1d/2d/3d``): a finite nonzero input stays
  nonzero when kept and becomes 0 when dropped, so ``kept = out != 0`` there (a NaN output
  reveals nothing: unknown); an infinite
  input stays infinite when kept (torch turns a dropped one into NaN: ``inf * 0``). Inputs
  that are 0 or NaN reveal nothing: their mask entry is *unknown*, and a comparison with
  torch is unaffected by it (torch's output there is 0 or NaN either way).
- Alpha variants: a dropped unit takes one value ``c`` whatever its input, a kept one an
  affine function of its input. With inputs from a small palette (several units per
  palette value), ``c`` is the one output value shared by different input values.

The element-level mask is then reduced to the variant's noise cells (``(N, C, 1, ...)``
for channel variants); a cell with both kept and dropped elements means the
implementation does not draw the variant's noise shape, an :class:`ObservationError`.
The constants are never assumed, so a wrong scale or a wrong alpha constant leaves the
mask readable and shows up as a value mismatch against torch.
"""
from __future__ import annotations

import numpy as np

from npdrop.dtypes import is_float

from .variants import Variant


class ObservationError(AssertionError):
    """The output does not reveal a mask of the reference variant's noise shape."""


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).view(f"u{a.dtype.itemsize}")


def _distinct(values: np.ndarray, limit: int) -> list:
    """Up to ``limit + 1`` distinct entries of a 1-D array (no NaN), in O(n) per entry found."""
    found = []
    rest = values
    while rest.size and len(found) <= limit:
        found.append(rest[0].item())
        rest = rest[rest != rest[0]]
    return found


def _alpha_elements(x: np.ndarray, out: np.ndarray):
    finite = np.isfinite(x)
    xs, ob = x[finite], _bits(out)[finite]
    inputs = _distinct(xs, limit=64)
    if len(inputs) > 64:
        inputs = np.unique(xs)
    groups = {}
    for value in inputs:
        outs = _distinct(ob[xs == value], limit=2)
        if len(outs) > 2:
            raise ObservationError(
                f"the input value {value!r} gave 3 or more distinct outputs; alpha dropout gives at "
                "most two (kept: a*x + b, dropped: one constant), so the mask cannot be read")
        groups[float(value)] = set(outs)
    counts = {}
    for outs in groups.values():
        for o in outs:
            counts[o] = counts.get(o, 0) + 1
    shared = sorted((n, o) for o, n in counts.items() if n >= 2)
    if not shared and any(len(s) == 2 for s in groups.values()):
        raise ObservationError("dropped units do not share one value across inputs (alpha dropout "
                               "sends every dropped unit to the same constant)")
    # Two close inputs (0 and a tiny number) can share a kept value; the dropped value is
    # shared by every input value that had a drop, so it is the most shared one.
    if len(shared) > 1 and shared[-1][0] == shared[-2][0]:
        raise ObservationError(f"{len(shared)} output values are each shared by {shared[-1][0]} different "
                               "inputs; alpha dropout's dropped units all take one value")
    dropped_bits = shared[-1][1] if shared else None
    kept = np.ones(x.shape, dtype=bool)
    if dropped_bits is not None:
        kept = _bits(out) != dropped_bits
    kept = np.where(np.isinf(x), np.isinf(out), kept)
    return kept, finite | np.isinf(x)


def _bernoulli_elements(x: np.ndarray, out: np.ndarray):
    inf = np.isinf(x)
    # a NaN out of a finite input says nothing of the mask (0 * inf of an overflowed scale is
    # dropped, inf/inf kept): unknown, so torch's own value there is compared with it
    known = (np.isfinite(x) & (x != 0) & ~np.isnan(out)) | inf
    kept = np.where(inf, np.isinf(out), out != 0)
    return kept, known


def observe(variant: Variant, x: np.ndarray, out) -> tuple[np.ndarray, np.ndarray]:
    """``(keep, known)``, both of the noise shape: the mask read off ``out`` and where it is known."""
    out = np.asarray(out)
    if out.shape != x.shape:
        raise ObservationError(f"output shape {out.shape} differs from the input shape {x.shape}")
    if not is_float(out.dtype):
        raise ObservationError(f"output dtype {out.dtype} is not a float dtype")
    elements = _alpha_elements if variant.alpha else _bernoulli_elements
    kept, known = elements(x, out)
    axes, noise_shape = variant.broadcast_axes(x.shape), variant.noise_shape(x.shape)
    any_kept = np.any(kept & known, axis=axes, keepdims=True)
    any_dropped = np.any(~kept & known, axis=axes, keepdims=True)
    mixed = any_kept & any_dropped
    if mixed.any():
        cell = tuple(int(i) for i in np.argwhere(mixed)[0])
        raise ObservationError(
            f"{variant} draws one keep/drop decision per cell of noise shape {noise_shape} "
            f"(shared along axes {axes}), but {int(mixed.sum())} of {mixed.size} cells have both kept "
            f"and dropped elements, the first at cell {cell}: the implementation draws another noise shape")
    return any_kept.reshape(noise_shape), (any_kept | any_dropped).reshape(noise_shape)
