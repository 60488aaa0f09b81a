"""What every dropout owes its caller besides the values: dtypes, untouched inputs, p == 1,
a backward that reuses the forward's mask (also where the input is 0), the noise shape.

These run on the implementation's *own* draws (no ``mask=``), reading masks off outputs.
"""
import numpy as np
import pytest

pytest.importorskip("torch")

from . import evidence  # noqa: E402
from .words import p_id, p_text  # noqa: E402
from .harness import DTYPE_IDS, Judge, accepted, check_backward_pattern, needs, own_forward  # noqa: E402
from .inputs import PALETTE, gradient, needs_palette, values  # noqa: E402
from .report import NOT_APPLICABLE  # noqa: E402
from .stats import SHARED, check_binomial, samples  # noqa: E402

pytestmark = [pytest.mark.any_impl, pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore::RuntimeWarning")]


@pytest.mark.prop("dtype")
@pytest.mark.parametrize("dtype", DTYPE_IDS, indirect=True)
def test_dtype_is_preserved(impl, variant, dtype, rng, seed):
    layer = impl.make(variant, 0.3, seed)
    x = values(variant.batched, dtype, rng)
    name = np.dtype(dtype).name
    calls = [("training forward", lambda: layer.forward(x))]
    if layer.has_backward:
        calls.append(("backward", lambda: layer.backward(gradient(x.shape, dtype, rng))))
    if layer.has_eval:
        calls.append(("eval forward", lambda: (layer.eval(), layer.forward(x))[1]))
    with accepted(impl, dtype):
        first = calls.pop(0)[1]()
    for what, call in [("training forward", lambda: first)] + calls:
        got = np.asarray(call()).dtype
        evidence.dtype_out(variant, what, dtype, got)
        assert got == dtype, f"{what}: out.dtype={got}, but should be {name} [{variant}({p_text(0.3)})({name} input)]"


@pytest.mark.prop("input-unchanged")
def test_input_and_gradient_are_not_modified(impl, variant, rng, seed):
    layer = impl.make(variant, 0.5, seed)
    x = values(variant.batched, np.float32, rng)
    g = gradient(x.shape, np.float32, rng)
    x0, g0 = x.copy(), g.copy()
    layer.forward(x)
    assert np.array_equal(x, x0), f"training forward modified its input [{variant}({p_text(0.5)}), float32]"
    if layer.has_backward:
        layer.backward(g)
        assert np.array_equal(g, g0), f"backward modified the upstream gradient [{variant}({p_text(0.5)})]"
        assert np.array_equal(x, x0), f"backward modified the forward's input [{variant}({p_text(0.5)})]"
    # the implementation is handed copies: what it changed in them is noted by the driver
    assert not layer.modified, f"modified in place: {', '.join(layer.modified)} [{variant}({p_text(0.5)}), float32]"


@pytest.mark.prop("p-one")
@pytest.mark.parametrize("dtype", DTYPE_IDS, indirect=True)
def test_p_one_gives_zeros(impl, variant, dtype, rng, seed, repro):
    """p == 1: torch returns ``x * 0`` (no draw): zeros for finite x, never NaN from ``0 * inf``."""
    layer = impl.make(variant, 1.0, seed)
    x = values(variant.batched, dtype, rng)

    def no_nan(out):
        nan = int(np.isnan(np.asarray(out)).sum())
        assert not nan, f"{p_text(1.0)} gave {nan} NaN for finite input [{variant}, {dtype.__name__}]"

    Judge(impl, variant, 1.0, dtype, x.shape, repro).check(layer, x, rng, detail=f"at {p_text(1.0)} (zeros)",
                                                           backward=True, record=("raised", "forward"), also=no_nan)


@pytest.mark.prop("backward-reuses-mask")
@pytest.mark.parametrize("p", (0.3, 0.8), ids=p_id)
def test_backward_reuses_the_forward_mask(impl, variant, p, rng, seed):
    """backward(ones) is nonzero exactly where the forward kept units: no fresh draw."""
    layer = impl.make(variant, p, seed)
    needs(layer, "backward")
    x = values(variant.cell_shape(40, 50, 3), np.float64, rng, needs_palette(variant, False))
    _, keep, _ = own_forward(layer, variant, x)
    check_backward_pattern(layer, variant, x, keep, "backward after a training forward", p, record=True)


@pytest.mark.prop("grad-at-zero-input")
def test_gradient_flows_through_zero_inputs(impl, variant, rng, seed, repro):
    """Kept units whose input is exactly 0 (as after ReLU) must pass their gradient.

    Where the input hides the mask (0 in, 0 out), the backward itself says which cells it
    kept; their count must be Binomial(n, 1 - p) (false alarm <= 1e-9), and the whole
    gradient must then equal torch's under that mask. A backward that re-derives the mask
    from ``out != 0`` keeps none of them.
    """
    p, dtype = 0.5, np.float64
    layer = impl.make(variant, p, seed)
    needs(layer, "backward")
    shape = variant.cell_shape(100, 200, 3)
    if variant.alpha:
        x = np.where(rng.random(shape) < 0.5, 0.0, PALETTE[rng.integers(0, 16, shape)])
    else:
        x = np.where(rng.random(shape) < 0.4, 0.0, values(shape, dtype, rng))
        if variant.channel:
            x[:, ::2] = 0.0  # dead channels: their whole cell is 0
    _, keep, known = own_forward(layer, variant, x)
    g = gradient(shape, dtype, rng)
    gx = np.asarray(layer.backward(g))
    axes = variant.broadcast_axes(shape)
    said_kept = np.any(gx != 0, axis=axes, keepdims=True).reshape(keep.shape)
    hidden = ~known
    if hidden.any():
        check_binomial(int((said_kept & hidden).sum()), int(hidden.sum()), 1 - p,
                       f"cells with input exactly 0 that backward lets the gradient through [{variant}({p_text(p)})]",
                       repro=repro)
    completed = np.where(known, keep, said_kept)
    judge = Judge(impl, variant, p, dtype, shape, repro)
    judge.same(gx, judge.expected(x, completed, grad=g).grad, "backward where the input is exactly 0")


@pytest.mark.prop("noise-shape")
def test_noise_shape(impl, variant, rng, seed, repro):
    """One decision per noise cell (checked by reading the mask), independent across channels."""
    p = 0.5
    layer = impl.make(variant, p, seed)
    x = values(variant.cell_shape(64, 128, 4), np.float64, rng, needs_palette(variant, False))
    _, keep, _ = own_forward(layer, variant, x)
    cells, shared = samples(keep.reshape(64, 128))
    agree = cells[:, 0::2] == cells[:, 1::2]
    check_binomial(int(agree.sum()), agree.size, p * p + (1 - p) ** 2,
                   f"agreement between the masks of neighbouring channels [{variant}({p_text(p)})"
                   f"{SHARED if shared else ''}]", repro=repro)


def _rank_shape(variant, rank: int) -> tuple:
    """An input of ``rank`` with at least 4096 noise cells of ``variant`` (channels along the
    first axis where torch takes the input as unbatched, ``(C, ...)``)."""
    shape = (64, 128) + (2,) * (rank - 2) if rank >= 2 else (4096,)
    if rank >= 2 and variant.noise_shape(shape)[1] == 1:
        shape = (4096,) + (2,) * (rank - 1)
    return shape


@pytest.mark.prop("noise-shape")
@pytest.mark.parametrize("rank", range(1, 6), ids=lambda r: f"{r}d")
def test_noise_shape_on_every_rank(impl, variant, rank, rng, seed, repro):
    """Channel variants on every rank torch takes (not only the batched case's): one decision
    per noise cell (reading the mask fails on a cell with kept and dropped elements), and
    neighbouring cells independent (a mask shared over the channels of a sample, as a wrong
    broadcast axis draws it, agrees on every pair)."""
    top = variant.max_rank if variant.max_rank is not None else 5
    if not variant.channel or not variant.min_rank <= rank <= top:
        pytest.skip(f"{NOT_APPLICABLE} {variant} takes no {rank}-d input, or draws per element")
    p = 0.5
    layer = impl.make(variant, p, seed)
    x = values(_rank_shape(variant, rank), np.float64, rng, needs_palette(variant, False))
    _, keep, _ = own_forward(layer, variant, x)
    cells = keep.reshape(-1)
    agree = cells[0::2][: cells.size // 2] == cells[1::2]
    check_binomial(int(agree.sum()), agree.size, p * p + (1 - p) ** 2,
                   f"agreement between neighbouring noise cells of a {rank}-d input {x.shape} "
                   f"[{variant}({p_text(p)}), noise shape {keep.shape}]", repro=repro)
