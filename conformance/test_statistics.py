"""What injection cannot show: the implementation's own draws have the right distribution.

Each check counts successes that are Bernoulli trials for a correct implementation and
accepts them with :func:`conformance.stats.check_binomial`: false-alarm probability at
most 1e-9 per check (Chernoff bound, no normal approximation).
"""
import numpy as np
import pytest

pytest.importorskip("torch")

from . import evidence  # noqa: E402
from .words import p_id, p_text  # noqa: E402
from .inputs import PALETTE, needs_palette, values  # noqa: E402
from .harness import DTYPE_IDS, accepted, own_forward  # noqa: E402
from .report import NOT_APPLICABLE  # noqa: E402
from .stats import SHARED, check_binomial, samples  # noqa: E402

pytestmark = [pytest.mark.any_impl, pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore::RuntimeWarning")]


def _tiled_input(variant, shape):
    """Ones (Bernoulli variants), or the first palette values in turn (alpha variants)."""
    if not variant.alpha:
        return np.ones(shape, dtype=np.float32)
    flat = np.resize(PALETTE[:4], int(np.prod(shape))).astype(np.float32)
    return flat.reshape(shape)


@pytest.mark.prop("keep-rate")
@pytest.mark.parametrize("p,cells", [(0.1, 10**7), (0.3, 10**6), (0.8, 10**6)], ids=lambda v: p_id(v) if isinstance(v, float) else f"1e{len(str(v)) - 1}")
def test_keep_rate(impl, variant, p, cells, seed, repro):
    """Kept cells ~ Binomial(cells, 1 - p). At p = 0.1 with 1e7 cells the accepted rate is
    0.9 +- 6.2e-4, so a keep probability quantised to 1/256 steps (0.8984) fails."""
    layer = impl.make(variant, p, seed)
    x = _tiled_input(variant, variant.cell_shape(1000, cells // 1000))
    _, keep, known = own_forward(layer, variant, x)
    assert known.all(), "the input reveals every cell's mask"
    keep, shared = samples(keep)
    count = int(keep.sum())
    evidence.kept(variant, p, count, keep.size)
    check_binomial(count, keep.size, 1 - p, f"kept fraction [{variant}({p_text(p)}), {keep.size} cells"
                   f"{SHARED if shared else ''}]", repro=repro)


@pytest.mark.prop("keep-rate")
@pytest.mark.parametrize("dtype", DTYPE_IDS, indirect=True)
def test_keep_rate_in_each_dtype(impl, variant, dtype, seed, repro):
    """p = 0.001 on 1e6 cells of each dtype the implementation takes: kept cells ~ Binomial(1e6,
    0.999) whatever the dtype, as in torch, whose uniforms do not depend on the input's dtype. A
    uniform drawn in the input's dtype (``torch.rand_like`` on a float16 or bfloat16 tensor) has
    few values near 0, so ``u < p`` drops 2 to 8 times as often there; the accepted interval
    (1000 +- about 210 dropped) catches that at the same false-alarm rate as every check."""
    if variant.alpha:   # too few drops at p = 0.001 for an alpha mask to be read off palette outputs
        pytest.skip(f"{NOT_APPLICABLE} an alpha black box's mask is unreadable with so few drops")
    p, cells = 0.001, 10**6
    layer = impl.make(variant, p, seed)
    x = _tiled_input(variant, variant.cell_shape(1000, cells // 1000)).astype(dtype)
    with accepted(impl, dtype):
        _, keep, known = own_forward(layer, variant, x)
    name = np.dtype(dtype).name
    assert known.all(), f"the input reveals every cell's mask [{variant}({p_text(p)}), {name}]"
    keep, shared = samples(keep)
    count = int(keep.sum())
    evidence.kept(variant, p, count, keep.size)
    check_binomial(count, keep.size, 1 - p, f"kept fraction [{variant}({p_text(p)}), {name}, {keep.size} cells"
                   f"{SHARED if shared else ''}]", repro=repro)


def _half_layer(impl, variant, rng, seed):
    """A p = 0.5 layer and a 200 x 500-cell input for the independence checks."""
    return impl.make(variant, 0.5, seed), values(variant.cell_shape(200, 500), np.float32, rng, needs_palette(variant, False))


def _check_independent(a, b, what: str, repro) -> None:
    """Independent p = 0.5 masks agree on each cell with probability p^2 + (1-p)^2 = 1/2."""
    check_binomial(int((a == b).sum()), a.size, 0.5, what, repro=repro)


@pytest.mark.prop("call-independence")
def test_each_call_draws_a_new_mask(impl, variant, rng, seed, repro):
    """Three training steps on one input (forward, then backward where there is one, as in
    training: a backward may re-seed or cache): each step's mask agrees with the previous
    one's on each cell with probability p^2 + (1-p)^2. A mask shared by the samples of a
    batch is judged on its first sample (:func:`samples`), so it is not taken for a reused one."""
    layer, x = _half_layer(impl, variant, rng, seed)
    masks = []
    for _ in range(3):
        masks.append(own_forward(layer, variant, x.copy())[1])
        if layer.has_backward:
            layer.backward(np.ones_like(x))
    shared = all(samples(m)[1] for m in masks)
    for step, (first, second) in enumerate(zip(masks, masks[1:]), start=1):
        if shared:
            first, second = samples(first)[0], samples(second)[0]
        evidence.agreement("call", variant, 0.5, first, second)
        _check_independent(first, second, f"cells where the masks of training steps {step} and {step + 1} agree "
                           f"[{variant}({p_text(0.5)}){SHARED if shared else ''}] (a mask reused, or re-seeded?)",
                           repro)


@pytest.mark.prop("batch-independence")
def test_samples_in_a_batch_get_independent_masks(impl, variant, rng, seed, repro):
    """Samples 2i and 2i+1 of one batch: agreement probability p^2 + (1-p)^2 per cell."""
    layer, x = _half_layer(impl, variant, rng, seed)
    cells = own_forward(layer, variant, x)[1].reshape(200, 500)
    evidence.agreement("batch", variant, 0.5, cells[0::2], cells[1::2])
    _check_independent(cells[0::2], cells[1::2], f"cells where samples 2i and 2i+1 agree [{variant}({p_text(0.5)})] "
                       "(one mask for the whole batch?)", repro)
