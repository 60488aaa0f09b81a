"""Property-based fuzzing of npdrop alone (no torch): odd shapes, strides, dtypes and p.

CI runs hypothesis' derandomised ``ci`` profile (fixed examples, repeatable); set
``NPDROP_HYPOTHESIS_PROFILE=long`` for a longer search. What a variant is (which ranks torch
takes, which are alpha dropout) comes from the conformance suite's table, not from npdrop.
"""
import warnings

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import npdrop
from conformance import strategies
from conformance.strategies import PROBABILITIES
from conformance.variants import VARIANTS

DTYPES = [np.float16, np.float32, np.float64]
#: npdrop's module for each torch variant -> the suite's facts about that variant
FACTS = {getattr(npdrop, name): VARIANTS[name] for name in VARIANTS}
MODULES = list(FACTS)


def normal(shape, dtype, rng):
    return rng.standard_normal(shape).astype(dtype)


def arrays(min_rank=0, dtypes=DTYPES):
    """Float arrays of rank ``min_rank``-5 (empty dimensions allowed), strided views."""
    return strategies.arrays(range(min_rank, 6), dtypes, normal)


def run_quietly(layer, x, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Dropout2d/3d rank warnings are torch's
        return layer(x, **kwargs)


def accepts(cls, x) -> bool:
    """Whether torch's training forward takes ``x``'s rank."""
    v = FACTS[cls]
    return v.min_rank <= x.ndim and (v.max_rank is None or x.ndim <= v.max_rank)


@given(x=arrays(), p=PROBABILITIES, cls=st.sampled_from(MODULES), seed=st.integers(0, 2**16))
def test_shape_dtype_preserved_and_input_untouched(x, p, cls, seed):
    if not accepts(cls, x):
        return
    before = x.copy()
    layer = cls(p, rng=seed)
    out = run_quietly(layer, x)
    where = f"[{cls.__name__}, p={p}, dtype={x.dtype}, shape={x.shape}, strides={x.strides}]"
    assert out.shape == x.shape and out.dtype == x.dtype, f"got {out.dtype}{out.shape} {where}"
    assert np.array_equal(x, before, equal_nan=True), f"input modified {where}"
    grad = layer.backward(np.ones_like(x))
    assert grad.shape == x.shape and grad.dtype == x.dtype, f"grad {grad.dtype}{grad.shape} {where}"


@given(x=arrays(dtypes=[np.float64]), p=PROBABILITIES, cls=st.sampled_from(MODULES),
       seed=st.integers(0, 2**16))
def test_backward_equals_finite_differences(x, p, cls, seed):
    """Under a fixed mask dropout is affine in x: central differences give its exact derivative."""
    if not accepts(cls, x) or x.size == 0:
        return
    layer = cls(p, rng=seed)
    run_quietly(layer, x)
    mask = layer.last_mask  # None when nothing was drawn (p in {0, 1})
    kwargs = {} if mask is None else {"mask": mask}
    rng = np.random.default_rng(seed)
    g, v = rng.standard_normal(x.shape), rng.standard_normal(x.shape)
    eps = 1e-3
    plus = run_quietly(layer, x + eps * v, **kwargs)
    minus = run_quietly(layer, x - eps * v, **kwargs)
    numeric = np.sum(g * (plus - minus)) / (2 * eps)
    run_quietly(layer, x, **kwargs)
    analytic = np.sum(layer.backward(g) * v)
    scale = np.sum(np.abs(g * v)) * max(1.0, 1 / max(1e-300, 1 - p) if not FACTS[cls].alpha else 2.0)
    assert abs(numeric - analytic) <= 1e-9 * scale + 1e-12, (
        f"gradient: analytic {analytic!r} vs central difference {numeric!r} "
        f"[{cls.__name__}, p={p}, float64, shape={x.shape}]"
    )


@given(x=arrays(min_rank=1), p=PROBABILITIES, seed=st.integers(0, 2**16))
def test_inplace_is_the_same_computation(x, p, seed):
    x = np.ascontiguousarray(x) if not x.flags.writeable else x
    copy = x.copy()
    reference = npdrop.Dropout(p, rng=seed)(copy)
    out = npdrop.Dropout(p, rng=seed, inplace=True)(x)
    assert out is x, "inplace=True must return the input array"
    assert np.array_equal(x, reference, equal_nan=True), f"[Dropout inplace, p={p}, {x.dtype}, {x.shape}]"
