"""Property-based conformance: npdrop stays bit-identical to torch on arbitrary inputs.

Hypothesis draws shapes of rank 0-5 (empty dimensions included), strided, reversed and
transposed views, float16/32/64 (and bfloat16 when ml_dtypes is installed), and p anywhere in [0, 1] including 1e-10 and 1 - 1e-10.
Each example injects one keep-mask into the real torch module and into npdrop and compares
output and input gradient bit for bit. CI uses the derandomised ``ci`` profile;
``NPDROP_HYPOTHESIS_PROFILE=long`` searches longer.
"""
import os
import warnings

import numpy as np
import pytest

pytest.importorskip("hypothesis")  # a test extra: `npdrop-conform` collects this module without it
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

torch = pytest.importorskip("torch")

import npdrop  # noqa: E402
from conformance.harness import DTYPES  # noqa: E402
from conformance.variants import VARIANTS  # noqa: E402
from npdrop.dtypes import is_float  # noqa: E402
from npdrop.testing.inject import inject_masks, to_numpy, to_tensor  # noqa: E402

settings.register_profile("ci", derandomize=True, max_examples=80, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=3000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("NPDROP_HYPOTHESIS_PROFILE", "ci"))

@st.composite
def views(draw):
    rank = draw(st.integers(0, 5))
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=rank, max_size=rank)))
    dtype = draw(st.sampled_from(DTYPES))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    base = (rng.standard_normal(tuple(2 * n + 1 for n in shape)) * 4).astype(dtype)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan], dtype=dtype)
    base.flat[rng.integers(0, base.size, size=min(base.size, 3))] = rng.choice(specials, size=min(base.size, 3))
    view = base[tuple(slice(None, None, draw(st.sampled_from([2, -2]))) for _ in shape)]
    if rank > 1 and draw(st.booleans()):
        view = view.transpose(draw(st.permutations(range(rank))))
    return np.asarray(view)  # indexing a 0-d array with () gives a numpy scalar


def bits(a: np.ndarray) -> np.ndarray:
    """The raw bits, with every NaN mapped to one pattern.

    IEEE 754 leaves the sign and payload of a NaN made from NaN operands to the hardware and
    the compiler's operand order (npdrop and torch agree on them except, seen here, in
    float16 alpha dropout at p within 1e-5 of 1); where NaNs are is compared, not their bits.
    """
    a = np.where(np.isnan(a), a.dtype.type(np.nan), a) if is_float(a.dtype) else a
    return np.ascontiguousarray(a).view(np.uint8 if a.itemsize == 1 else f"u{a.itemsize}")


def run_both(name, x, p, seed):
    ours_cls, torch_cls = getattr(npdrop, name), getattr(torch.nn, name)
    ours = ours_cls(p, rng=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            out = ours(x)
        except ValueError as ours_error:
            with pytest.raises(RuntimeError):
                torch_cls(p)(to_tensor(x.copy()))
            return None
        mask = ours.last_mask
        tx = to_tensor(x.copy()).requires_grad_()
        masks = [] if mask is None else [mask]
        with inject_masks(masks):
            ty = torch_cls(p)(tx)
    grad = np.random.default_rng(seed).standard_normal(x.shape).astype(x.dtype)
    ty.backward(to_tensor(grad))
    return out, ours.backward(grad), to_numpy(ty), to_numpy(tx.grad)


@given(x=views(), p=st.one_of(st.sampled_from([0.0, 1e-10, 0.5, 1 - 1e-10, 1.0]), st.floats(0.0, 1.0)),
       name=st.sampled_from(sorted(VARIANTS)), seed=st.integers(0, 2**16))
def test_bit_identical_to_torch_on_arbitrary_views(x, p, name, seed):
    result = run_both(name, x, p, seed)
    if result is None:  # both rejected the rank: parity holds
        return
    out, grad, t_out, t_grad = result
    where = f"[{name}, p={p!r}, dtype={x.dtype}, shape={x.shape}, strides={x.strides}]"
    assert out.dtype == t_out.dtype and out.shape == t_out.shape, f"output {out.dtype}{out.shape} vs torch {t_out.dtype}{t_out.shape} {where}"
    assert np.array_equal(bits(out), bits(t_out)), f"forward differs from torch {where}: {out!r} vs {t_out!r}"
    assert np.array_equal(bits(grad), bits(t_grad)), f"input gradient differs from torch {where}: {grad!r} vs {t_grad!r}"
