"""Train/eval behaviour: eval and p == 0 are the identity, modes switch cleanly, layers are isolated.

A mask left over from an earlier call (in forward or in backward), or one shared between
layers, shows up at the step that used it.
"""
import numpy as np
import pytest

pytest.importorskip("torch")

from . import evidence  # noqa: E402
from .words import p_text  # noqa: E402
from .harness import (DTYPE_IDS, Judge, accepted, check_backward_pattern,  # noqa: E402
                                 forward_with_mask, needs)
from .inputs import gradient, needs_palette, special_input, values  # noqa: E402

pytestmark = [pytest.mark.any_impl, pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore::RuntimeWarning")]


def _needs_eval(layer, variant):
    if not layer.has_eval:
        evidence.no_eval_mode(variant)
    needs(layer, "eval")


def _plain_input(layer, variant, dtype, rng):
    return values(variant.batched, dtype, rng, needs_palette(variant, layer.accepts_mask))


@pytest.mark.prop("eval-identity")
@pytest.mark.parametrize("dtype", DTYPE_IDS, indirect=True)
def test_eval_is_identity(impl, variant, dtype, rng, seed, repro):
    """eval(): the output is the input, bit for bit (NaN/inf included), and so is the gradient
    (the original form: both times 1-p)."""
    layer = impl.make(variant, 0.3, seed)
    _needs_eval(layer, variant)
    layer.eval()
    x = special_input(variant, dtype, rng)
    judge = Judge(impl, variant, 0.3, dtype, x.shape, repro)
    with accepted(impl, dtype):
        out = layer.forward(x)
    evidence.eval_output(variant, 0.3, x, out)
    g = gradient(x.shape, dtype, rng) if layer.has_backward else None
    # the backward after it is measured before the forward is judged, so that its evidence
    # (a stale mask, an exception) is there for the diagnoses whatever the forward did
    got, raised = _backward_after_eval(variant, layer, g)
    judge.at_eval(out, x, "eval forward", against="its input")
    if raised is not None:
        raise raised
    if g is not None:
        judge.at_eval(got, g, "backward after an eval forward", against="the upstream gradient")


def _backward_after_eval(variant, layer, g, last_keep=None):
    """(gradient, None) or (None, the exception) of the backward after an evaluation forward
    (:func:`conformance.evidence.backward_after_eval`); ``g`` None: no backward to call."""
    if g is None:
        return None, None
    try:
        return evidence.backward_after_eval(variant, layer, g, last_keep), None
    except Exception as exc:  # noqa: BLE001 - re-raised by the caller once the forward is judged
        return None, exc


@pytest.mark.prop("p-zero")
@pytest.mark.parametrize("dtype", DTYPE_IDS, indirect=True)
def test_p_zero_is_identity(impl, variant, dtype, rng, seed, repro):
    layer = impl.make(variant, 0.0, seed)
    x = special_input(variant, dtype, rng)
    judge = Judge(impl, variant, 0.0, dtype, x.shape, repro)
    with accepted(impl, dtype):
        out = layer.forward(x)
    judge.same(out, x, f"training forward at {p_text(0.0)}", exact=True, against="its input")
    if layer.has_backward:
        g = gradient(x.shape, dtype, rng)
        judge.same(layer.backward(g), g, f"backward at {p_text(0.0)}", exact=True, against="the upstream gradient")


@pytest.mark.prop("mode-switch")
def test_switching_modes_never_uses_a_stale_mask(impl, variant, rng, seed, repro):
    """train -> eval -> train -> eval ...: an eval forward is the identity and its backward
    passes the gradient unchanged; a training backward uses that forward's mask (its
    nonzero pattern; values are the ``forward``/``backward`` properties' business)."""
    p, dtype = 0.3, np.float64
    layer = impl.make(variant, p, seed)
    _needs_eval(layer, variant)
    judge = Judge(impl, variant, p, dtype, variant.batched, repro)
    for step in range(1, 4):
        layer.train()
        x = _plain_input(layer, variant, dtype, rng)
        call = forward_with_mask(layer, variant, x, p, rng)
        if layer.has_backward:
            check_backward_pattern(layer, variant, call.x, call.keep, f"training step {step}, after {step - 1} eval calls", p)
        layer.eval()
        x2 = _plain_input(layer, variant, dtype, rng)
        out = layer.forward(x2)
        evidence.eval_output(variant, p, x2, out)
        g = gradient(x2.shape, dtype, rng) if layer.has_backward else None
        got, raised = _backward_after_eval(variant, layer, g, call.keep)
        judge.at_eval(out, x2, f"eval forward after training step {step}", against="its input")
        if raised is not None:
            raise raised
        if g is not None:
            judge.at_eval(got, g, f"backward after the eval forward of step {step} (a stale mask?)",
                          against="the upstream gradient")


@pytest.mark.prop("instance-isolation")
def test_layers_keep_their_own_masks(impl, variant, rng, seed):
    """Two layers: forward a, forward b, backward a, backward b; each backward follows its
    own layer's mask."""
    p, dtype = 0.5, np.float64
    a, b = impl.make(variant, p, seed), impl.make(variant, p, seed + 1)
    needs(a, "backward")
    call_a = forward_with_mask(a, variant, _plain_input(a, variant, dtype, rng), p, rng)
    call_b = forward_with_mask(b, variant, _plain_input(b, variant, dtype, rng), p, rng)
    check_backward_pattern(a, variant, call_a.x, call_a.keep, "layer A's backward after layer B's forward (a shared mask?)", p)
    check_backward_pattern(b, variant, call_b.x, call_b.keep, "layer B's backward", p)
