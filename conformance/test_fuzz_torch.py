"""Property-based conformance: npdrop stays bit-identical to torch on arbitrary inputs.

Hypothesis draws shapes of rank 0-5 (empty dimensions included), strided, reversed and
transposed views, float16/32/64 (and bfloat16 when ml_dtypes is installed), and p anywhere in [0, 1] including 1e-10 and 1 - 1e-10.
Each example injects one keep-mask into the real torch module and into npdrop and compares
output and input gradient bit for bit. CI uses the derandomised ``ci`` profile;
``NPDROP_HYPOTHESIS_PROFILE=long`` searches longer.
"""
import warnings

import numpy as np
import pytest

pytest.importorskip("hypothesis")  # a test extra: `npdrop-conform` collects this module without it
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

torch = pytest.importorskip("torch")

import conformance.hypothesis_profiles  # noqa: E402,F401 (loads the ci or long profile)
import npdrop  # noqa: E402
from conformance.harness import DTYPES  # noqa: E402
from conformance.variants import VARIANTS  # noqa: E402
from npdrop.testing.inject import assert_same, inject_masks, to_numpy, to_tensor  # noqa: E402


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
    case = dict(variant=name, p=p, dtype=x.dtype, shape=x.shape)
    assert_same(out, t_out, what=f"forward (strides {x.strides})", **case)
    assert_same(grad, t_grad, what=f"backward (strides {x.strides})", **case)
