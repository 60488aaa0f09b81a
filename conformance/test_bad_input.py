"""Bad-input parity: whatever torch rejects, npdrop rejects too, with the class npdrop documents.

Each case first checks that torch really rejects it (so the case is parity, not invention),
then that npdrop raises its documented error: ``ValueError`` for p out of range and for
ranks (torch: ``ValueError`` / ``RuntimeError``), ``TypeError`` for integer, bool and complex
input (torch: ``RuntimeError`` in training). Where npdrop deliberately differs (NaN p,
non-float input in eval), the difference is asserted as documented.
"""
import math
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import npdrop  # noqa: E402
from conformance.reference import VARIANTS  # noqa: E402

pytestmark = [pytest.mark.prop("bad-input"), pytest.mark.filterwarnings("ignore::UserWarning")]


def _torch_rejects(call):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises((RuntimeError, ValueError)) as info:
            call()
    return info.value


@pytest.mark.parametrize("p", (-0.1, 1.1, -math.inf, math.inf), ids=str)
@pytest.mark.parametrize("variant", VARIANTS)
def test_p_out_of_range(variant, p):
    _torch_rejects(lambda: getattr(torch.nn, variant)(p))
    with pytest.raises(ValueError, match=f"between 0 and 1, but got {p}"):
        getattr(npdrop, variant)(p)


@pytest.mark.parametrize("variant", VARIANTS)
def test_nan_p_is_a_documented_difference(variant):
    """torch accepts p=NaN at construction (``p < 0 or p > 1`` is False) and fails at the
    first forward; npdrop rejects it at construction."""
    module = getattr(torch.nn, variant)(math.nan)
    _torch_rejects(lambda: module(torch.ones(2, 3, 4)))
    with pytest.raises(ValueError, match="nan"):
        getattr(npdrop, variant)(math.nan)


@pytest.mark.parametrize("dtype", (np.int64, np.int32, np.uint8, np.bool_, np.complex64, np.complex128),
                         ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("variant", VARIANTS)
def test_non_float_input_in_training(variant, dtype):
    x = np.ones((2, 3, 4), dtype=dtype)
    _torch_rejects(lambda: getattr(torch.nn, variant)(0.5)(torch.from_numpy(x.copy())))
    with pytest.raises(TypeError, match=np.dtype(dtype).name):
        getattr(npdrop, variant)(0.5, rng=0)(x)


@pytest.mark.parametrize("dtype", (np.int64, np.bool_), ids=lambda d: np.dtype(d).name)
def test_non_float_input_in_eval_is_a_documented_difference(dtype):
    """torch's eval dropout returns any tensor untouched; npdrop rejects non-float input always."""
    x = np.ones((2, 3), dtype=dtype)
    t = torch.from_numpy(x.copy())
    assert torch.nn.Dropout(0.5).eval()(t) is t
    with pytest.raises(TypeError, match=np.dtype(dtype).name):
        npdrop.Dropout(0.5).eval()(x)


RANK_CASES = [("Dropout1d", ()), ("Dropout1d", (5,)), ("Dropout1d", (2, 3, 4, 5)),
              ("Dropout2d", (5,)), ("FeatureAlphaDropout", (5,)), ("Dropout2d", ())]


@pytest.mark.parametrize("variant,shape", RANK_CASES, ids=[f"{v}-{len(s)}d" for v, s in RANK_CASES])
def test_wrong_rank_in_training(variant, shape):
    error = _torch_rejects(lambda: getattr(torch.nn, variant)(0.5)(torch.ones(shape)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError) as ours:
            getattr(npdrop, variant)(0.5, rng=0)(np.ones(shape, dtype=np.float32))
    assert str(error).split(".")[0] in str(ours.value), f"torch says {error!s}, npdrop says {ours.value!s}"


def test_dropout1d_rejects_wrong_rank_in_eval_too():
    _torch_rejects(lambda: torch.nn.Dropout1d(0.5).eval()(torch.ones(5)))
    with pytest.raises(ValueError, match="Expected 2D or 3D input"):
        npdrop.Dropout1d(0.5).eval()(np.ones(5, dtype=np.float32))


def test_gradient_of_the_wrong_shape():
    """torch's autograd rejects a gradient of another shape (RuntimeError); npdrop ValueError."""
    t = torch.ones(3, 4, requires_grad=True)
    out = torch.nn.Dropout(0.5)(t)
    _torch_rejects(lambda: out.backward(torch.ones(4, 3)))
    layer = npdrop.Dropout(0.5, rng=0)
    layer(np.ones((3, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        layer.backward(np.ones((4, 3), dtype=np.float32))


def test_backward_before_forward():
    with pytest.raises(RuntimeError, match="before forward"):
        npdrop.Dropout(0.5).backward(np.ones(3))


@pytest.mark.parametrize("mask", [np.ones((3, 3), bool), np.ones((3, 4), np.float32)], ids=("shape", "dtype"))
def test_bad_mask(mask):
    with pytest.raises(ValueError, match="mask"):
        npdrop.Dropout(0.5)(np.ones((3, 4), dtype=np.float32), mask=mask)
