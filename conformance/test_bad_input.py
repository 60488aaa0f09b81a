"""Bad-input parity: whatever torch rejects, npdrop rejects too, with an exception torch code catches.

Each case first checks that torch really rejects it (so the case is parity, not invention),
then that npdrop's exception is BOTH the class npdrop documents (``ValueError`` for p and
ranks, ``TypeError`` for integer, bool and complex input) AND an instance of the class torch
raised (``ValueError``, ``RuntimeError`` or ``NotImplementedError``), so that code written
against torch's ``except`` clauses keeps working. Where npdrop deliberately differs (NaN p
rejected at construction, non-float input in eval), the difference is asserted as documented.
"""
import math
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import npdrop  # noqa: E402
from .variants import VARIANTS  # noqa: E402

pytestmark = [pytest.mark.prop("bad-input"), pytest.mark.filterwarnings("ignore::UserWarning")]


def _torch_rejects(call):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(Exception) as info:
            call()
    return info.value


def _npdrop_raises(documented, theirs, call, match=None):
    """npdrop's exception from ``call``: a ``documented`` one that is also an instance of torch's class."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(documented, match=match) as info:
            call()
    ours = info.value
    assert isinstance(ours, type(theirs)), (
        f"torch raises {type(theirs).__name__} ({theirs!s}); npdrop raises {type(ours).__name__}, "
        f"which `except {type(theirs).__name__}` does not catch")
    return ours


@pytest.mark.parametrize("p", (-0.1, 1.1, -math.inf, math.inf), ids=str)
@pytest.mark.parametrize("variant", VARIANTS.values(), ids=str)
def test_p_out_of_range(variant, p):
    theirs = _torch_rejects(lambda: getattr(torch.nn, variant.name)(p))
    _npdrop_raises(ValueError, theirs, lambda: getattr(npdrop, variant.name)(p), match=f"between 0 and 1, but got {p}")


@pytest.mark.parametrize("variant", VARIANTS.values(), ids=str)
def test_nan_p_is_rejected_at_construction(variant):
    """torch accepts p=NaN at construction (``p < 0 or p > 1`` is False) and fails at the
    first forward; npdrop rejects it at construction, with the class torch's forward raises."""
    module = getattr(torch.nn, variant.name)(math.nan)
    theirs = _torch_rejects(lambda: module(torch.ones(2, 3, 4)))
    _npdrop_raises(ValueError, theirs, lambda: getattr(npdrop, variant.name)(math.nan), match="nan")


@pytest.mark.parametrize("dtype", (np.int64, np.int32, np.uint8, np.bool_, np.complex64, np.complex128),
                         ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("variant", VARIANTS.values(), ids=str)
def test_non_float_input_in_training(variant, dtype):
    x = np.ones((2, 3, 4), dtype=dtype)
    theirs = _torch_rejects(lambda: getattr(torch.nn, variant.name)(0.5)(torch.from_numpy(x.copy())))
    _npdrop_raises(TypeError, theirs, lambda: getattr(npdrop, variant.name)(0.5, rng=0)(x), match=np.dtype(dtype).name)


@pytest.mark.parametrize("dtype", (np.int64, np.bool_), ids=lambda d: np.dtype(d).name)
def test_non_float_input_in_eval_is_a_documented_difference(dtype):
    """torch's eval dropout returns any tensor untouched; npdrop rejects non-float input always."""
    x = np.ones((2, 3), dtype=dtype)
    t = torch.from_numpy(x.copy())
    assert torch.nn.Dropout(0.5).eval()(t) is t
    with pytest.raises(TypeError, match=np.dtype(dtype).name):
        npdrop.Dropout(0.5).eval()(x)


RANK_CASES = [(VARIANTS[name], shape) for name, shape in (
    ("Dropout1d", ()), ("Dropout1d", (5,)), ("Dropout1d", (2, 3, 4, 5)),
    ("Dropout2d", (5,)), ("FeatureAlphaDropout", (5,)), ("Dropout2d", ()))]


@pytest.mark.parametrize("variant,shape", RANK_CASES, ids=[f"{v}-{len(s)}d" for v, s in RANK_CASES])
def test_wrong_rank_in_training(variant, shape):
    theirs = _torch_rejects(lambda: getattr(torch.nn, variant.name)(0.5)(torch.ones(shape)))
    ours = _npdrop_raises(ValueError, theirs,
                          lambda: getattr(npdrop, variant.name)(0.5, rng=0)(np.ones(shape, dtype=np.float32)))
    assert str(theirs).split(".")[0] in str(ours), f"torch says {theirs!s}, npdrop says {ours!s}"


def test_dropout1d_rejects_wrong_rank_in_eval_too():
    theirs = _torch_rejects(lambda: torch.nn.Dropout1d(0.5).eval()(torch.ones(5)))
    _npdrop_raises(ValueError, theirs, lambda: npdrop.Dropout1d(0.5).eval()(np.ones(5, dtype=np.float32)),
                   match="Expected 2D or 3D input")


def test_gradient_of_the_wrong_shape():
    t = torch.ones(3, 4, requires_grad=True)
    out = torch.nn.Dropout(0.5)(t)
    theirs = _torch_rejects(lambda: out.backward(torch.ones(4, 3)))
    layer = npdrop.Dropout(0.5, rng=0)
    layer(np.ones((3, 4), dtype=np.float32))
    _npdrop_raises(ValueError, theirs, lambda: layer.backward(np.ones((4, 3), dtype=np.float32)), match="shape")


def test_backward_before_forward():
    with pytest.raises(RuntimeError, match="before forward"):
        npdrop.Dropout(0.5).backward(np.ones(3))


@pytest.mark.parametrize("mask", [np.ones((3, 3), bool), np.ones((3, 4), np.float32)], ids=("shape", "dtype"))
def test_bad_mask(mask):
    with pytest.raises(ValueError, match="mask"):
        npdrop.Dropout(0.5)(np.ones((3, 4), dtype=np.float32), mask=mask)
