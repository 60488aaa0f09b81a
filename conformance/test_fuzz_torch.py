"""Property-based conformance: hypothesis-drawn inputs, through the adapters, against torch.

Like every ``any_impl`` test, each example builds the implementation under test
(``impl.make``) and checks it as the forward and backward tests do
(:meth:`~conformance.harness.Judge.check`): one training forward (the harness's mask for a
mask-capable implementation, the mask read off the output for a black box), output and
input gradient compared with torch's under that mask (npdrop bit for bit, others within
:func:`conformance.reference.tolerance`).

What is drawn depends on what the implementation can be checked on:

- npdrop: shapes of rank 0-5 (empty dimensions included), ranks torch rejects too (both
  must reject them), strided, reversed and transposed views, 0, -0, +-inf and NaN planted,
  float16/32/64 (and bfloat16 when ml_dtypes is installed), p anywhere in [0, 1] including
  1e-10 and 1 - 1e-10.
- a plugged-in implementation: the training domain only (an edge difference fails its own edge
  property, not this one: no NaN/inf/-0 planted, p < 1, no float16 at p within 1e-4 of 1), the
  ranks of the variant's cases (:mod:`conformance.variants`); a black box gets nonzero values (its mask is read off the output) with no NaN or inf, and
  an alpha black box palette values (:mod:`conformance.observe`), at least 128 noise cells
  and p in {0, 1} or [0.2, 0.95], where two or more units with different inputs are dropped
  (with probability > 1 - 1e-9) so that the dropped value can be told apart.

Each variant gets the profile's example count divided by the number of variants (the ``ci``
profile: 25, the same for every implementation; ``NPDROP_HYPOTHESIS_PROFILE=long``: 500).
"""
import warnings

import numpy as np
import pytest

pytest.importorskip("hypothesis")  # a test extra: `npdrop-conform` collects this module without it
from hypothesis import assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

torch = pytest.importorskip("torch")

from .adapters import UserCodeError  # noqa: E402
from .harness import Judge, all_dtypes, near_one, refuses_dtype  # noqa: E402
from .inputs import needs_palette, values  # noqa: E402
from .strategies import PROBABILITIES, arrays  # noqa: E402
from .variants import VARIANTS, Variant  # noqa: E402
from npdrop.testing.inject import to_tensor  # noqa: E402

pytestmark = [pytest.mark.any_impl, pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore::RuntimeWarning")]

SPECIALS = (0.0, -0.0, np.inf, -np.inf, np.nan)
#: an alpha black box's fewest noise cells (along the first axis): enough drops to read
PALETTE_CELLS = 128


def with_specials(shape: tuple, dtype, rng: np.random.Generator) -> np.ndarray:
    """Normal values of ``shape`` with up to three of :data:`SPECIALS` planted."""
    base = (rng.standard_normal(shape) * 4).astype(dtype)
    planted = min(base.size, 3)
    base.flat[rng.integers(0, base.size, size=planted)] = rng.choice(np.array(SPECIALS, dtype=dtype), size=planted)
    return base


def inputs(variant: Variant, *, any_rank: bool, specials: bool, palette: bool, dtypes=None):
    """(Possibly strided, reversed or transposed) inputs for ``variant``, of one of ``dtypes``
    (default: every dtype of the matrix)."""
    ranks = range(6) if any_rank else sorted({len(shape) for shape, _ in variant.cases.values()})

    def fill(shape, dtype, rng):
        return with_specials(shape, dtype, rng) if specials else values(shape, dtype, rng, palette)

    return arrays([r for r in ranks if r > 0 or not palette], dtypes or all_dtypes(), fill,
                  first_at_least=PALETTE_CELLS if palette else 0)


def probabilities(palette: bool, edges: bool = True):
    """p for one example; ``edges=False``: the training domain, p < 1 (p = 1 is the ``p-one`` edge)."""
    if palette:
        return st.one_of(st.sampled_from([0.0, 0.5, 1.0] if edges else [0.0, 0.5]), st.floats(0.2, 0.95))
    return PROBABILITIES if edges else PROBABILITIES.filter(lambda p: p < 1.0)


def in_training_domain(x: np.ndarray, p: float) -> bool:
    """Not an edge case (conformance/README.md, "Two tiers"): p < 1, and not float16 at p within
    1e-4 of 1 (the ``float16-near-one`` edge)."""
    return p < 1.0 and not (x.dtype == np.float16 and near_one(p))


def torch_rejects(variant: Variant, p: float, x: np.ndarray) -> bool:
    """Whether ``torch.nn.<variant>(p)`` raises on ``x`` (as for a rank it does not take)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            getattr(torch.nn, variant.name)(p)(to_tensor(x.copy()))
        except RuntimeError:
            return True
    return False


@pytest.mark.prop("fuzz")
def test_matches_torch_on_drawn_inputs(impl, variant, seed, repro):
    capabilities = impl.make(variant, 0.5, seed)
    palette = needs_palette(variant, capabilities.accepts_mask)
    # npdrop is fuzzed over every edge too; another implementation over the training domain only,
    # so that an edge difference fails its edge property, never this training one
    edges = impl.exact
    drawn = inputs(variant, any_rank=impl.exact, specials=edges and capabilities.accepts_mask, palette=palette,
                   dtypes=tuple(d for d in all_dtypes() if not refuses_dtype(impl, d)))

    @settings(max_examples=max(1, settings.default.max_examples // len(VARIANTS)))
    @given(x=drawn, p=probabilities(palette, edges), draw_seed=st.integers(0, 2**16))
    def example(x, p, draw_seed):
        if not edges:
            assume(in_training_domain(x, p))
        layer = impl.make(variant, p, seed)
        judge = Judge(impl, variant, p, x.dtype, x.shape, repro)
        try:
            judge.check(layer, x, np.random.default_rng(draw_seed), backward=True, detail=f"(strides {x.strides})")
        except UserCodeError as error:
            if isinstance(error.__cause__, ValueError) and torch_rejects(variant, p, x):
                return  # both reject the input: parity holds
            raise

    try:
        example()
    except ExceptionGroup as group:  # hypothesis found several distinct failures: name each one
        firsts = [(str(e).strip().splitlines() or [type(e).__name__])[0][:400] for e in group.exceptions]
        raise AssertionError(f"hypothesis found {len(firsts)} distinct failures: "
                             + "; ".join(f"({i}) {text}" for i, text in enumerate(firsts, 1))) from group
