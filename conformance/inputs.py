"""Test inputs: the shape cases of each variant, and how their values are drawn.

Values are nonzero and moderate (``|x|`` in [0.05, ~8]) so that a kept unit never turns 0:
that is what lets the harness read a black-box implementation's mask off its output.
Alpha variants, whose dropped units take a value rather than 0, get values from a small
*palette* of distinct positive numbers instead (see :mod:`conformance.observe`).
:func:`special_input` plants 0, -0, +-inf, NaN, a huge value (a kept one overflows to inf,
as in torch) and the smallest normal number.
"""
from __future__ import annotations

import numpy as np

from npdrop.dtypes import finfo

from .variants import Variant

PALETTE = np.array([0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 2.75, 3.0, 3.25, 3.5, 3.75, 4.0])


def values(shape: tuple, dtype, rng: np.random.Generator, palette: bool = False) -> np.ndarray:
    """C-contiguous nonzero values of ``shape``: random, or drawn from :data:`PALETTE`."""
    if palette:
        return PALETTE[rng.integers(0, len(PALETTE), size=shape)].astype(dtype)
    magnitude = 0.05 + np.abs(rng.standard_normal(shape)) * 2.0
    return (np.where(rng.random(shape) < 0.5, -magnitude, magnitude)).astype(dtype)


def plant_specials(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Write the special values at distinct random positions of ``x`` (in place; returns x)."""
    info = finfo(x.dtype)
    specials = [0.0, -0.0, np.inf, -np.inf, np.nan, float(info.max) / 2, float(info.tiny)]
    flat = x.reshape(-1)
    spots = rng.choice(flat.size, size=min(flat.size, 2 * len(specials)), replace=False)
    for i, spot in enumerate(spots):
        flat[spot] = specials[i % len(specials)]
    return x


def layout(base_shape: tuple, kind: str, dtype, rng, palette: bool) -> np.ndarray:
    """An array of ``base_shape`` that is C-contiguous, a transposed view or a strided slice."""
    if kind == "transposed":
        return np.ascontiguousarray(values(base_shape[::-1], dtype, rng, palette)).transpose()
    if kind == "sliced":
        big = values(tuple(2 * n for n in base_shape), dtype, rng, palette)
        return big[tuple(slice(1, None, 2) for _ in base_shape)]
    return values(base_shape, dtype, rng, palette)


def make_input(variant: Variant, case: str, dtype, rng: np.random.Generator, *, palette: bool = False) -> np.ndarray:
    """The input of one matrix case; ``palette`` for black-box alpha variants."""
    shape, kind = variant.cases[case]
    return layout(shape, kind, dtype, rng, palette)


def special_input(variant: Variant, dtype, rng: np.random.Generator, *, palette: bool = False) -> np.ndarray:
    """The "batched" case's shape with the special values planted."""
    return plant_specials(values(variant.batched, dtype, rng, palette), rng)


def needs_palette(variant: Variant, accepts_mask: bool) -> bool:
    """Black-box alpha variants need palette inputs for their mask to be readable."""
    return variant.alpha and not accepts_mask


def gradient(shape: tuple, dtype, rng: np.random.Generator) -> np.ndarray:
    """A random upstream gradient with no zeros."""
    return values(shape, dtype, rng)
