"""Affine rules: what a kept and a dropped unit become, rounded exactly as torch rounds it.

Torch computes every scalar step in the input dtype's *op-math* type (float32 for float16
and bfloat16, otherwise the dtype itself), with the Python double converted to that type
first, and rounds back to the dtype after each step. Reproducing that order is what makes
npdrop bit-identical to torch, float16 and bfloat16 included.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from ._masking import BernoulliNoise, ConstantNoise, DenseNoise
from .dtypes import opmath

#: SELU's negative saturation value -lambda*alpha, negated: torch's ``alpha`` in Dropout.cpp.
SELU_ALPHA_PRIME = 1.7580993408473766


def inverted(keep: np.ndarray, p: float, dtype) -> BernoulliNoise:
    """Inverted dropout (torch's ``F.dropout``): ``noise = keep / (1 - p)``.

    A kept unit is scaled by ``1/(1-p)`` so that ``E[out] = x``; eval is then the identity.
    Mirrors ``noise.bernoulli_(1 - p); noise.div_(1 - p)`` in ``aten/src/ATen/native/Dropout.cpp``.
    """
    scale = _inverted_scale(p, np.dtype(dtype))
    if math.isinf(scale):
        # p so close to 1 that 1/(1-p) overflows the dtype (float16 above p ~ 1 - 1.5e-5):
        # torch's noise is then inf or 0, and a dropped x gives x * 0, never 0 * inf = nan,
        # so the mask-then-scale shortcut cannot be used; multiply by the noise itself.
        keep = np.asarray(keep, dtype=bool)
        return DenseNoise(np.where(keep, scale, scale.dtype.type(0.0)), keep)
    return BernoulliNoise(keep, scale)


@lru_cache(maxsize=1024)
def _inverted_scale(p: float, dtype: np.dtype):
    """``1 / (1 - p)`` in torch's op-math, rounded to ``dtype`` (cached: layers reuse one p)."""
    m = opmath(dtype)
    return dtype.type(m(1.0) / m(1.0 - p))


def unscaled(keep: np.ndarray, p: float, dtype) -> BernoulliNoise:
    """Original dropout in training (Srivastava et al. 2014): ``noise = keep``, no rescaling."""
    return BernoulliNoise(keep, np.dtype(dtype).type(1.0))


def eval_scale(p: float, dtype) -> ConstantNoise:
    """Original dropout at evaluation: every unit is multiplied by its keep probability ``1 - p``."""
    return ConstantNoise(np.dtype(dtype).type(1.0 - p))


def alpha(keep: np.ndarray, p: float, dtype) -> BernoulliNoise:
    """Alpha dropout (Klambauer et al. 2017): ``out = a * (x * keep - alpha' * (1 - keep)) + b``.

    With ``alpha' = 1.7580993408473766``, ``a = ((1 - p) * (1 + p * alpha'^2))^-1/2`` and
    ``b = a * alpha' * p``, dropped units go to SELU's saturation value and the mean and
    variance of a standardised input are kept. Torch's op order, reproduced step by step:
    ``b = (keep - 1) * (alpha' * a) + alpha' * a * p``; ``noise = keep * a``; ``x * noise + b``.
    """
    t, m = np.dtype(dtype).type, opmath(dtype)
    a = 1.0 / math.sqrt((SELU_ALPHA_PRIME * SELU_ALPHA_PRIME * p + 1) * (1 - p))
    slope, offset = SELU_ALPHA_PRIME * a, SELU_ALPHA_PRIME * a * p
    # torch's add_ casts its scalar to the tensor dtype first (unlike mul_/div_, which keep
    # it in op-math precision): for float16 and bfloat16 the offset is rounded to the dtype before the sum.
    offset = m(t(offset))
    shift_keep = t(m(t(m(0.0) * m(slope))) + offset)
    shift_drop = t(m(t(m(-1.0) * m(slope))) + offset)
    return BernoulliNoise(keep, t(m(1.0) * m(a)), (shift_keep, shift_drop))


def zero(dtype) -> ConstantNoise:
    """p == 1: torch returns ``x * 0`` (so NaN and inf inputs give NaN, finite ones signed 0)."""
    return ConstantNoise(np.dtype(dtype).type(0.0))


def gaussian(z: np.ndarray, p: float, dtype) -> DenseNoise:
    """Gaussian dropout (Srivastava et al. 2014, sec. 10; Keras): ``noise = 1 + sigma * z``.

    ``z ~ N(0, 1)`` and ``sigma = sqrt(p / (1 - p))`` give the same mean (1) and variance
    (p / (1 - p)) as the inverted Bernoulli noise ``keep / (1 - p)``.
    """
    t = np.dtype(dtype).type
    sigma = math.sqrt(p / (1.0 - p))
    return DenseNoise((1.0 + sigma * z.astype(np.float64)).astype(t))
