"""Memory layout against torch: output and input-gradient strides, and replayed masks, per layout.

For each variant and each input layout torch users meet (C-contiguous, channels_last,
channels_last_3d, permuted, sliced, and channels_last sliced ``[..., ::2]``, which is not
dense), the same NumPy view is handed to npdrop and, through ``torch.from_numpy`` (which
keeps the strides), to torch:

- under one injected mask, npdrop's output must have torch's strides (NumPy's ``order='K'``,
  torch's ``empty_like``) and its values bit for bit; the input gradient must have the
  strides torch's autograd gives it, for an upstream gradient laid out like the output and
  for a C-ordered one;
- with ``npdrop.TorchCPUGenerator`` and ``torch.manual_seed`` on the same seed, npdrop must
  draw torch's mask (torch fills its noise tensor in memory order) and end in torch's
  generator state.

Strides are compared in elements on the axes longer than 1 (an axis of length 1 has no
meaningful stride).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import npdrop  # noqa: E402
from .harness import DTYPE_IDS  # noqa: E402
from .inputs import values  # noqa: E402
from .variants import VARIANTS, Variant  # noqa: E402
from .replay_support import restore_global_rng  # noqa: E402,F401 (autouse fixture)
from npdrop.testing.inject import assert_same, inject_masks, to_numpy, to_tensor  # noqa: E402

pytestmark = [pytest.mark.prop("layout"), pytest.mark.filterwarnings("ignore::UserWarning")]

P = 0.3
SHAPES = {3: (3, 4, 5), 4: (2, 3, 4, 5), 5: (2, 3, 2, 4, 3)}
# layout -> (memory order of the parent array's axes, slices taken of it); None: every axis [1::2]
LAYOUTS = {
    "contiguous": lambda n: (tuple(range(n)), ()),
    "channels_last": lambda n: ((0,) + tuple(range(2, n)) + (1,), ()),
    "permuted": lambda n: (tuple(range(n))[::-1], ()),
    "sliced": lambda n: (tuple(range(n)), None),
    "channels_last_sliced": lambda n: ((0,) + tuple(range(2, n)) + (1,), (Ellipsis, slice(None, None, 2))),
}


def make_view(shape: tuple, layout: str, dtype, rng) -> np.ndarray:
    """An array of ``shape`` laid out as named: the parent is stored in ``order``, then sliced."""
    order, index = LAYOUTS[layout](len(shape))
    stretch = [2 * n if index is None or (index and axis == len(shape) - 1) else n for axis, n in enumerate(shape)]
    parent = values(tuple(stretch[a] for a in order), dtype, rng).transpose(np.argsort(order))
    if index is None:
        return parent[tuple(slice(1, None, 2) for _ in shape)]
    return parent[index] if index else parent


def _cases():
    for variant in VARIANTS.values():
        # a variant's batched rank; a variant of any rank at the ranks that have a channels_last layout
        for rank in (variant.rank,) if variant.rank else (4, 5):
            for layout in LAYOUTS:
                if layout.startswith("channels_last") and rank == 3:
                    continue
                name = layout.replace("channels_last", "channels_last_3d") if rank == 5 else layout
                yield pytest.param(variant, SHAPES[rank], layout, id=f"{variant}-{len(SHAPES[rank])}d-{name}")


CASES = list(_cases())


def element_strides(a) -> tuple:
    """Strides in elements on the axes longer than 1 (numpy array or tensor)."""
    if isinstance(a, torch.Tensor):
        strides, shape = a.stride(), a.shape
    else:
        strides, shape = tuple(s // a.itemsize for s in a.strides), a.shape
    return tuple(s if n > 1 else None for s, n in zip(strides, shape))


def same_strides(ours: np.ndarray, theirs, what: str, where: str) -> None:
    assert element_strides(ours) == element_strides(theirs), (
        f"{what}: npdrop's strides {element_strides(ours)} differ from torch's {element_strides(theirs)} "
        f"(elements; None on axes of length 1) {where}")


@pytest.mark.parametrize("dtype", DTYPE_IDS, indirect=True)
@pytest.mark.parametrize("variant,shape,layout", CASES)
def test_output_and_gradient_layout(variant, shape, layout, dtype, rng):
    x = make_view(shape, layout, dtype, rng)
    where = f"[{variant}, p={P}, {np.dtype(dtype).name}, shape {shape}, {layout} input, strides {x.strides}]"
    keep = rng.random(variant.noise_shape(shape)) >= P
    layer = getattr(npdrop, variant.name)(P)
    out = layer(x, mask=keep)

    t = to_tensor(x).requires_grad_()
    with warnings.catch_warnings(), inject_masks([keep]):
        warnings.simplefilter("ignore")
        t_out = getattr(torch.nn, variant.name)(P)(t)
    same_strides(out, t_out, "forward output", where)
    assert_same(out, to_numpy(t_out), what="forward", variant=variant, p=P, dtype=np.dtype(dtype), shape=shape)

    for grad_layout, grad in (("like the output", np.empty_like(out)), ("C-ordered", np.empty(shape, dtype))):
        grad[...] = values(shape, dtype, rng)
        ours = layer.backward(grad)
        (theirs,) = torch.autograd.grad(t_out, t, to_tensor(grad), retain_graph=True)
        same_strides(ours, theirs, f"input gradient (upstream gradient {grad_layout})", where)
        assert_same(ours, to_numpy(theirs), what=f"backward, gradient {grad_layout}", variant=variant, p=P,
                    dtype=np.dtype(dtype), shape=shape)


@pytest.mark.parametrize("seed", (0, 7))
@pytest.mark.parametrize("variant,shape,layout", CASES)
def test_replayed_masks_follow_the_layout(variant, shape, layout, seed, rng):
    x = make_view(shape, layout, np.float32, rng)
    where = f"[{variant}, p={P}, float32, shape {shape}, {layout} input, strides {x.strides}, seed {seed}]"
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = getattr(torch.nn, variant.name)(P)(to_tensor(x))
    g = npdrop.TorchCPUGenerator(seed)
    ours = getattr(npdrop, variant.name)(P, rng=g)(x)
    assert_same(ours, to_numpy(theirs), what="forward with the replayed mask", variant=variant, p=P,
                dtype=np.dtype(np.float32), shape=shape)
    assert np.array_equal(g.get_state(), torch.get_rng_state().numpy()), f"generator states differ {where}"
    same_strides(ours, theirs, "forward output", where)


def random_view(rng: np.random.Generator, shape: tuple, dtype=np.float32) -> np.ndarray:
    """A view of ``shape`` with a random axis order and steps and, one time in five, an axis
    broadcast with stride 0."""
    rank = len(shape)
    steps = [int(s) for s in rng.choice([1, 1, 2, 3], rank)]
    order = rng.permutation(rank)
    parent = values(tuple(shape[a] * steps[a] for a in order), dtype, rng)
    view = parent[tuple(slice(None, None, steps[a]) for a in order)].transpose(np.argsort(order))
    if rng.random() < 0.2:
        axis = int(rng.integers(rank))
        view = np.broadcast_to(view[tuple(slice(0, 1) if a == axis else slice(None) for a in range(rank))], shape)
    return view


def broadcast_channels(shape: tuple, rng) -> np.ndarray:
    """An input of ``shape`` whose channel axis (1) is broadcast (stride 0) and whose other
    axes lie in reverse order: the channel noise's own strides then decide the output's order."""
    narrow = values(tuple(reversed((shape[0], 1) + shape[2:])), np.float32, rng).transpose()
    return np.broadcast_to(narrow, shape)


def check_replay_and_layout(variant: Variant, x: np.ndarray, grad: np.ndarray, seed: int) -> None:
    """One forward with TorchCPUGenerator against torch's on the same seed, then backward."""
    where = f"[{variant}, p={P}, float32, shape {x.shape}, strides {x.strides}, gradient strides {grad.strides}]"
    torch.manual_seed(seed)
    t = to_tensor(x).requires_grad_()
    g = npdrop.TorchCPUGenerator(seed)
    layer = getattr(npdrop, variant.name)(P, rng=g)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = getattr(torch.nn, variant.name)(P)(t)
        ours = layer(x)
    assert_same(ours, to_numpy(theirs), what="forward with the replayed mask", variant=variant, p=P,
                dtype=np.dtype(np.float32), shape=x.shape)
    assert np.array_equal(g.get_state(), torch.get_rng_state().numpy()), f"generator states differ {where}"
    same_strides(ours, theirs, "forward output", where)
    (t_grad,) = torch.autograd.grad(theirs, t, to_tensor(grad))
    our_grad = layer.backward(grad)
    same_strides(our_grad, t_grad, "input gradient", where)
    assert_same(our_grad, to_numpy(t_grad), what="backward", variant=variant, p=P, dtype=np.dtype(np.float32),
                shape=x.shape)


RANDOM_VIEWS = [pytest.param(k, variant, id=f"{variant}-view{k}") for k in range(30) for variant in VARIANTS.values()]


@pytest.mark.parametrize("k,variant", RANDOM_VIEWS)
def test_random_views(k, variant):
    """Random shapes, axis orders, steps and zero strides, for the input and, independently,
    the upstream gradient."""
    rng = np.random.default_rng(1000 + k)
    rank = int(rng.integers(2, (variant.max_rank or 5) + 1))  # ranks 2 to 5 that torch takes
    shape = tuple(int(n) for n in rng.integers(1, 5, rank))
    check_replay_and_layout(variant, random_view(rng, shape), random_view(rng, shape), k)


@pytest.mark.parametrize("variant,shape,layout", [c for c in CASES if c.values[2] == "contiguous"])
def test_broadcast_channels(variant, shape, layout, rng):
    x = broadcast_channels(shape, rng)
    check_replay_and_layout(variant, x, broadcast_channels(shape, rng), 3)
