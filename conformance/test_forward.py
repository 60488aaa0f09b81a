"""Training forward and backward against torch under the same mask: variant x dtype x p x shape.

``variant`` and ``case`` are parametrized by ``conftest.py`` (every torch variant for npdrop,
the ``--reference`` one for a plugged-in implementation; cases from
:mod:`conformance.inputs`: scalar/vector/batched/unbatched, transposed and sliced views,
empty). npdrop must match bit for bit, other implementations within
:func:`conformance.reference.tolerance`.
"""
import numpy as np
import pytest

pytest.importorskip("torch")

from .words import p_id, p_text  # noqa: E402
from .harness import DTYPE_IDS, NEAR_ONE, PS_TIERED, Judge, needs  # noqa: E402
from .inputs import make_input, needs_palette, special_input, values  # noqa: E402
from .reference import torch_draws  # noqa: E402
from .report import NOT_APPLICABLE  # noqa: E402

pytestmark = [pytest.mark.any_impl, pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore::RuntimeWarning")]


def _input(layer, variant, case, dtype, p, rng):
    palette = needs_palette(variant, layer.accepts_mask)
    x = make_input(variant, case, dtype, rng, palette=palette)
    if palette and torch_draws(variant, p, x) and x.size < 50:
        pytest.skip("too few elements to tell an alpha-dropped unit from a kept one by its output alone")
    return x


@pytest.mark.prop("forward")
@pytest.mark.parametrize("p", PS_TIERED, ids=p_id)
@pytest.mark.parametrize("dtype", DTYPE_IDS, indirect=True)
def test_forward(impl, variant, case, dtype, p, rng, seed, repro):
    layer = impl.make(variant, p, seed)
    x = _input(layer, variant, case, dtype, p, rng)
    Judge(impl, variant, p, dtype, x.shape, repro).check(layer, x, rng, record=("raised", "forward"))


@pytest.mark.prop("float16-near-one")
@pytest.mark.parametrize("p", NEAR_ONE, ids=p_id)
def test_float16_near_one(impl, variant, p, rng, seed, repro):
    """p within 1e-4 of 1 in float16, in every run: 1/(1-p) overflows float16 to inf, and
    torch still gives 0 for every dropped unit (and 0 gradient there). A scale computed in the
    input's dtype and multiplied with the 0/1 mask gives ``0 * inf = NaN`` there; a keep
    probability 1 - p below float16's smallest normal, flushed to 0, gives 0/0 in a gradient.
    An edge property: only a float16 network dropping nearly every unit meets it."""
    if variant.alpha:
        pytest.skip(f"{NOT_APPLICABLE} Bernoulli dropout's scale; alpha dropout's constants differ")
    dtype = np.float16
    layer = impl.make(variant, p, seed)
    x = values(variant.batched, dtype, rng)
    Judge(impl, variant, p, dtype, x.shape, repro).check(
        layer, x, rng, detail=f"at {p_text(p)} (1 - {1 - p:.0e}), float16 (1/(1-p) overflows to inf)", backward=True,
        record=("raised", "forward", "backward"))


@pytest.mark.prop("backward")
@pytest.mark.parametrize("p", PS_TIERED, ids=p_id)
@pytest.mark.parametrize("dtype", DTYPE_IDS, indirect=True)
def test_backward(impl, variant, case, dtype, p, rng, seed, repro):
    layer = impl.make(variant, p, seed)
    needs(layer, "backward")
    x = _input(layer, variant, case, dtype, p, rng)
    Judge(impl, variant, p, dtype, x.shape, repro).check(layer, x, rng, forward=False, backward=True,
                                                         record=("backward",))


@pytest.mark.prop("nonfinite")
@pytest.mark.parametrize("p", (0.1, 0.5, 1.0), ids=p_id)
@pytest.mark.parametrize("dtype", DTYPE_IDS, indirect=True)
def test_nonfinite_inputs(impl, variant, dtype, p, rng, seed, repro):
    """0, -0, +-inf, NaN, a huge value and the smallest normal in the input: torch's output.

    A dropped inf becomes NaN (``inf * 0``), a kept huge value overflows to inf. For a
    mask-capable implementation the backward is compared too (a black box's mask is
    unknown where the input is 0 or NaN; ``grad-at-zero-input`` covers that).
    """
    layer = impl.make(variant, p, seed)
    x = special_input(variant, dtype, rng, palette=needs_palette(variant, layer.accepts_mask))
    Judge(impl, variant, p, dtype, x.shape, repro).check(layer, x, rng, detail="with NaN/inf/0 inputs",
                                                         backward=layer.accepts_mask, record=("nonfinite",))
