"""Draws outside eager autograd are injected too: ``torch.func`` and the fused ``native_dropout``.

Under ``torch.func`` transforms the in-place ``bernoulli_`` becomes the functional
``aten.bernoulli.p``; ``aten.native_dropout`` is the fused kernel torch uses on CUDA (and
anyone may call). An injector that missed them would leave torch drawing its own masks and
the comparison meaningless, so each test asserts the draw was answered (strict mode) and
that the result equals npdrop's, bit for bit, forward and backward.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

import npdrop  # noqa: E402
from .harness import DTYPE_IDS  # noqa: E402
from npdrop.testing.inject import assert_same, inject_masks, record_masks, to_numpy, to_tensor, ulp_distance  # noqa: E402

pytestmark = pytest.mark.prop("torch-func")
P = 0.3


def _case(dtype, rng, shape=(4, 6)):
    x = (rng.standard_normal(shape) * 2).astype(dtype)
    keep = rng.random(shape) >= P
    g = rng.standard_normal(shape).astype(dtype)
    layer = npdrop.Dropout(P)
    out = layer(x, mask=keep)
    return x, keep, g, out, layer.backward(g)


@pytest.mark.parametrize("dtype", DTYPE_IDS, indirect=True)
def test_torch_func_vjp(dtype, rng):
    x, keep, g, out, grad = _case(dtype, rng)
    with inject_masks([keep]) as injector:
        t_out, vjp = torch.func.vjp(lambda t: F.dropout(t, P), to_tensor(x))
        (t_grad,) = vjp(to_tensor(g))
    assert [s.op for s in injector.sites] == ["bernoulli.p"]
    assert_same(out, t_out, what="forward under torch.func.vjp", variant="Dropout", p=P)
    assert_same(grad, t_grad, what="input gradient under torch.func.vjp", variant="Dropout", p=P)


def test_torch_func_grad(rng):
    x, keep, _, _, _ = _case(np.float64, rng)
    with inject_masks([keep]):
        t_grad = torch.func.grad(lambda t: F.dropout(t, P).sum())(torch.from_numpy(x))
    layer = npdrop.Dropout(P)
    layer(x, mask=keep)
    assert_same(layer.backward(np.ones_like(x)), t_grad, what="torch.func.grad of sum(dropout(x))")


def test_torch_vmap_with_different_randomness(rng):
    """vmap draws one (batch, ...) mask; per-sample npdrop calls with its rows match."""
    x, keep, _, _, _ = _case(np.float32, rng, shape=(5, 7))
    with inject_masks([keep]) as injector:
        t_out = torch.vmap(lambda t: F.dropout(t, P), randomness="different")(torch.from_numpy(x))
    assert [s.shape for s in injector.sites] == [(5, 7)]
    ours = np.stack([npdrop.Dropout(P)(row, mask=k) for row, k in zip(x, keep)])
    assert_same(ours, t_out, what="vmap(dropout) row by row")


@pytest.mark.parametrize("dtype", DTYPE_IDS, indirect=True)
def test_native_dropout_answer_is_torchs_kernel(dtype, rng):
    """The injected answer to native_dropout equals torch's own CPU kernel given its mask,
    forward and backward (several p, so 1/(1-p) rounds differently)."""
    for p in (0.1, P, 0.77):
        t = to_tensor((rng.standard_normal((40, 50)) * 2).astype(dtype)).requires_grad_()
        g = to_tensor(rng.standard_normal((40, 50)).astype(dtype))
        with record_masks() as recording:
            real_out, real_mask = torch.ops.aten.native_dropout(t, p, True)
        (real_grad,) = torch.autograd.grad(real_out, t, g)
        with inject_masks(recording.masks):
            out, mask = torch.ops.aten.native_dropout(t, p, True)
        (grad,) = torch.autograd.grad(out, t, g)
        assert torch.equal(mask, real_mask)
        assert_same(out, real_out, what="injected native_dropout vs torch's kernel", p=p)
        assert_same(grad, real_grad, what="backward of the injected native_dropout", p=p)


@pytest.mark.parametrize("dtype", DTYPE_IDS, indirect=True)
def test_native_dropout_forward_and_backward(dtype, rng):
    """Against npdrop. Forward, bit for bit: torch's CPU kernel, like its composite path,
    multiplies by the noise ``mask * (1/(1-p))`` rounded to the dtype. Backward: torch's
    ``native_dropout_backward`` scales in float arithmetic without rounding the noise to
    half first, so in float16 and bfloat16 it may differ from the composite path's gradient
    (which npdrop reproduces) by 1 ULP; bit for bit in float32 and float64."""
    x, keep, g, out, grad = _case(dtype, rng)
    t = to_tensor(x).requires_grad_()
    with inject_masks([keep]) as injector:
        t_out, t_mask = torch.ops.aten.native_dropout(t, P, True)
    t_out.backward(to_tensor(g))
    assert [s.op for s in injector.sites] == ["native_dropout"]
    assert np.array_equal(t_mask.numpy(), keep)
    assert_same(out, t_out, what="native_dropout forward", variant="Dropout", p=P)
    if np.dtype(dtype).itemsize == 2:  # float16, bfloat16
        distance = ulp_distance(grad, to_numpy(t.grad))
        assert np.nanmax(distance) <= 1, f"native_dropout_backward is {np.nanmax(distance):.0f} ULP from npdrop's"
    else:
        assert_same(grad, t.grad, what="native_dropout_backward", variant="Dropout", p=P)


def test_native_dropout_in_eval_draws_nothing(rng):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    with inject_masks([]) as injector:
        t_out, t_mask = torch.ops.aten.native_dropout(torch.from_numpy(x), P, False)
    assert injector.sites == [] and bool(t_mask.all())
    assert_same(x, t_out, what="native_dropout(train=False)")
