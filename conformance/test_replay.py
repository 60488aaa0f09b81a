"""TorchCPUGenerator against torch itself: masks, initialisations, draws and state, seed for seed.

Every test seeds torch (the global generator, the one ``nn`` modules draw from, or a fresh
``torch.Generator``), lets torch draw, and checks that ``TorchCPUGenerator`` with the same
seed draws the identical bits and ends in the identical state. The global generator is
restored after each test.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

from .replay_support import FUSED, restore_global_rng  # noqa: E402,F401 (autouse fixture)
from .variants import VARIANTS  # noqa: E402
from npdrop.testing import check_torch_replays  # noqa: E402
from npdrop.torchrng import TorchCPUGenerator  # noqa: E402

SEEDS = [0, 1, 42, 2**31 - 1, 2**32 - 1, 2**32, 2**63, -1, -(2**63), 67280421310721, 987654321]
NP_DTYPE = {torch.float16: np.float16, torch.float32: np.float32, torch.float64: np.float64}


def gen(seed) -> TorchCPUGenerator:
    return TorchCPUGenerator(seed, fused_uniform=FUSED)


def torch_state() -> np.ndarray:
    return torch.get_rng_state().numpy()


class RecordBernoulli(TorchDispatchMode):
    """Lets every op run and keeps a copy of what each ``bernoulli_`` drew, with its p."""

    def __init__(self):
        super().__init__()
        self.draws: list[tuple[np.ndarray, float]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func.overloadpacket is torch.ops.aten.bernoulli_:
            # aten::bernoulli_.float(Tensor self, float p=0.5, ...): the default is left out.
            q = args[1] if len(args) > 1 else (kwargs or {}).get("p", 0.5)
            self.draws.append((out.detach().clone().numpy() != 0, float(q)))
        return out


def run_recorded(module, x):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Dropout2d on 3-D input warns, by design
        with RecordBernoulli() as rec:
            out = module(x)
    return out, rec.draws


CALLS = [  # (module, input shape, dtype, p)
    ("Dropout", (64,), torch.float32, 0.5),
    ("Dropout", (3, 7, 5), torch.float16, 0.1),
    ("Dropout", (4, 33), torch.float64, 0.9),
    ("Dropout1d", (4, 6, 9), torch.float32, 0.3),
    ("Dropout1d", (6, 9), torch.float64, 0.5),
    ("Dropout2d", (2, 5, 3, 3), torch.float16, 0.25),
    ("Dropout2d", (5, 3, 3), torch.float32, 0.4),  # 3-D: torch reads (N, C, L)
    ("Dropout3d", (2, 4, 2, 3, 2), torch.float32, 0.6),
    ("Dropout3d", (4, 2, 3, 2), torch.float64, 0.2),
    ("AlphaDropout", (8, 16), torch.float32, 0.2),
    ("AlphaDropout", (5, 5), torch.float64, 0.75),
    ("FeatureAlphaDropout", (3, 8, 4), torch.float32, 0.3),
    ("FeatureAlphaDropout", (3, 8), torch.float16, 0.5),
    ("Dropout", (1000,), torch.float32, 1 / 3),
]


@pytest.mark.parametrize("seed", SEEDS)
def test_dropout_sequences_match_torch(seed):
    torch.manual_seed(seed)
    recorded = []
    for name, shape, dtype, p in CALLS:
        x = torch.ones(shape, dtype=dtype, requires_grad=True)
        _, draws = run_recorded(getattr(torch.nn, name)(p), x)
        assert len(draws) == 1, name
        keep, q = draws[0]
        assert q == 1.0 - p  # torch draws bernoulli_(1 - p), p in double
        noise_shape = VARIANTS[name].noise_shape(shape)
        assert math.prod(keep.shape) == math.prod(noise_shape), (name, keep.shape)
        recorded.append(keep.reshape(noise_shape))
    g = gen(seed)
    for (name, shape, _, p), keep in zip(CALLS, recorded):
        assert np.array_equal(g.keep_mask(keep.shape, p), keep), (seed, name, shape)
    assert np.array_equal(g.get_state(), torch_state())


@pytest.mark.parametrize("seed", SEEDS[:4])
def test_plain_dropout_output_is_the_mask(seed):
    # The simplest observation, no dispatch mode: dropout of ones is kept / (1 - p) or 0.
    torch.manual_seed(seed)
    out = torch.nn.functional.dropout(torch.ones(5000), p=0.35, training=True)
    assert np.array_equal(gen(seed).keep_mask((5000,), 0.35), out.numpy() != 0)


@pytest.mark.parametrize("p", [1e-12, 0.001, 0.5, 0.999, 1 - 2**-53, 0.1 + 0.2])
@pytest.mark.parametrize("n", [1, 311, 312, 313, 624, 100_003])
def test_bernoulli_sizes_and_probabilities(n, p):
    g_t = torch.Generator().manual_seed(n)
    keep = torch.empty(n, dtype=torch.float64).bernoulli_(1 - p, generator=g_t).numpy() != 0
    g = gen(n)
    assert np.array_equal(g.keep_mask((n,), p), keep)
    assert np.array_equal(g.get_state(), g_t.get_state().numpy())


@pytest.mark.parametrize("name,shape", [(v.name, v.batched) for v in VARIANTS.values()], ids=list(VARIANTS))
def test_no_draw_when_torch_draws_nothing(name, shape):
    empty = (0,) + shape[1:]
    torch.manual_seed(3)
    before = torch_state()
    cases = [(0.5, False, shape), (0.0, True, shape), (1.0, True, shape), (0.5, True, empty)]
    for p, train, s in cases:
        module = getattr(torch.nn, name)(p).train(train)
        _, draws = run_recorded(module, torch.ones(s))
        assert draws == [], (name, p, train, s)
    assert np.array_equal(torch_state(), before)
    # ... and TorchCPUGenerator itself draws nothing for an empty mask either.
    g = gen(3)
    g.keep_mask(empty, 0.5)
    assert np.array_equal(g.get_state(), before)


# -- npdrop's own dropout modules drawing from the replay ------------------------------------

@pytest.mark.parametrize("seed", SEEDS[:5])
def test_npdrop_dropout_modules_draw_torchs_masks(seed):
    npdrop_dropout = pytest.importorskip("npdrop.dropout")
    torch.manual_seed(seed)
    expected = []
    for name, shape, dtype, p in CALLS:
        _, draws = run_recorded(getattr(torch.nn, name)(p), torch.ones(shape, dtype=dtype))
        expected.append(draws[0][0])
    g = gen(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for (name, shape, dtype, p), keep in zip(CALLS, expected):
            module = getattr(npdrop_dropout, name)(p, rng=g)
            module(np.ones(shape, dtype=NP_DTYPE[dtype]))
            assert module.last_mask is not None, name
            assert np.array_equal(module.last_mask.ravel(), keep.ravel()), (seed, name, shape)
        # eval / p == 0 / p == 1 / empty draw nothing, as in torch
        before = g.get_state()
        npdrop_dropout.Dropout(0.5, rng=g).eval()(np.ones((3, 4), np.float32))
        npdrop_dropout.Dropout(0.0, rng=g)(np.ones((3, 4), np.float32))
        npdrop_dropout.Dropout(1.0, rng=g)(np.ones((3, 4), np.float32))
        npdrop_dropout.Dropout2d(0.5, rng=g)(np.ones((0, 3, 2, 2), np.float32))
        assert np.array_equal(g.get_state(), before)
    assert np.array_equal(g.get_state(), torch_state())


# -- uniform_ / randn / Linear ------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS[:6])
@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
def test_uniform_matches_torch(seed, dtype):
    bounds = [(-0.1, 0.1), (0.0, 1.0), (-1 / math.sqrt(3), 1 / math.sqrt(3)), (-3.0, 7.5),
              (2.0, 2.0), (-1e-3, 5e-4), (-30000.0, 30000.0)]
    g_t = torch.Generator().manual_seed(seed)
    g = gen(seed)
    for i, (a, b) in enumerate(bounds):
        shape = (7, 13 + i)
        theirs = torch.empty(shape, dtype=dtype).uniform_(a, b, generator=g_t).numpy()
        ours = g.uniform(a, b, shape, NP_DTYPE[dtype])
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        assert np.array_equal(ours.view(np.uint8), theirs.view(np.uint8)), (seed, dtype, a, b)
    assert np.array_equal(g.get_state(), g_t.get_state().numpy())


def test_uniform_bounds_rejected_by_both():
    with pytest.raises(RuntimeError, match="exceed"):
        torch.empty(3, dtype=torch.float16).uniform_(-60000.0, 60000.0)
    with pytest.raises(ValueError, match="exceed"):
        gen(0).uniform(-60000.0, 60000.0, (3,), np.float16)
    with pytest.raises(RuntimeError, match="from"):
        torch.empty(3).uniform_(1.0, 0.0)
    with pytest.raises(ValueError, match="low <= high"):
        gen(0).uniform(1.0, 0.0, (3,), np.float32)


def test_uniform_large_draw_float32():
    g_t = torch.Generator().manual_seed(2024)
    theirs = torch.empty(1_000_000).uniform_(-0.05, 0.05, generator=g_t).numpy()
    assert np.array_equal(gen(2024).uniform(-0.05, 0.05, (1_000_000,), np.float32), theirs)


@pytest.mark.parametrize("seed", SEEDS[:6])
def test_randn_matches_torch(seed):
    g_t = torch.Generator().manual_seed(seed)
    g = gen(seed)
    # A mix of both ATen paths, with the cached normal carried across calls.
    for n, dtype in [(3, torch.float64), (1, torch.float64), (5, torch.float32), (7, torch.float16),
                     (16, torch.float64), (17, torch.float64), (1, torch.float32), (100, torch.float64),
                     (15, torch.float64), (4099, torch.float64), (2, torch.float64)]:
        theirs = torch.randn(n, dtype=dtype, generator=g_t).numpy()
        ours = g.normal((n,), NP_DTYPE[dtype])
        assert np.array_equal(ours.view(np.uint8), theirs.view(np.uint8)), (seed, n, dtype)
        assert np.array_equal(g.get_state(), g_t.get_state().numpy()), (seed, n, dtype)


def test_randn_float64_cast_is_the_float32_workaround():
    g_t = torch.Generator().manual_seed(5)
    theirs = torch.randn(64, dtype=torch.float64, generator=g_t).float().numpy()
    assert np.array_equal(gen(5).normal((64,), np.float64).astype(np.float32), theirs)


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_linear_init_matches_torch(seed, dtype):
    linear_mod = pytest.importorskip("npdrop.linear")
    sizes = [(5, 3), (1, 1), (64, 32), (7, 129), (3, 0)]
    torch.manual_seed(seed)
    theirs = [torch.nn.Linear(i, o, dtype=dtype) for i, o in sizes]
    g = gen(seed)
    ours = [linear_mod.Linear(i, o, rng=g, dtype=NP_DTYPE[dtype]) for i, o in sizes]
    for t, n in zip(theirs, ours):
        assert same_bits(n.weight.data, t.weight.detach().numpy())
        assert same_bits(n.bias.data, t.bias.detach().numpy())
    assert np.array_equal(g.get_state(), torch_state())


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal dtype, shape and bytes: unlike ==, tells -0.0 from +0.0."""
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")
def test_linear_zero_in_features_bias_sign():
    linear_mod = pytest.importorskip("npdrop.linear")
    torch.manual_seed(0)
    t = torch.nn.Linear(0, 3)
    g = gen(0)
    n = linear_mod.Linear(0, 3, rng=g)
    assert np.array_equal(g.get_state(), torch_state())  # 3 outputs drawn on both sides
    assert same_bits(n.bias.data, t.bias.detach().numpy())


# -- state interchange ---------------------------------------------------------------------

def test_state_bytes_match_after_seeding():
    for seed in SEEDS:
        torch.manual_seed(seed)
        assert np.array_equal(gen(seed).get_state(), torch_state()), seed
        assert gen(seed).initial_seed() == torch.initial_seed()


def _draw_some_torch(g_t=None):
    kw = {} if g_t is None else {"generator": g_t}
    return (
        torch.empty(777).bernoulli_(0.6, **kw).numpy() != 0,
        torch.empty(50).uniform_(-0.2, 0.3, **kw).numpy(),
        torch.randn(3, dtype=torch.float64, **kw).numpy(),
        torch.randn(40, dtype=torch.float64, **kw).numpy(),
    )


def _draw_some_npdrop(g):
    return (
        g.keep_mask((777,), 0.4),
        g.uniform(-0.2, 0.3, (50,), np.float32),
        g.normal((3,), np.float64),
        g.normal((40,), np.float64),
    )


def _assert_same(a, b):
    for x, y in zip(a, b):
        assert np.array_equal(x, y)


@pytest.mark.parametrize("prefix", [0, 1, 311, 312, 700])  # 2 * 312 = 624 ends a block exactly
def test_state_torch_to_npdrop(prefix):
    torch.manual_seed(11)
    torch.empty(prefix).bernoulli_(0.5)
    torch.randn(1, dtype=torch.float64)  # leaves a cached normal in the state
    saved = torch.get_rng_state()
    g = gen(0)
    g.set_state(saved.numpy())
    assert np.array_equal(g.get_state(), saved.numpy())
    _assert_same(_draw_some_npdrop(g), _draw_some_torch())
    assert np.array_equal(g.get_state(), torch_state())


@pytest.mark.parametrize("prefix", [0, 1, 312, 700])
def test_state_npdrop_to_torch(prefix):
    g = gen(13)
    g.keep_mask((prefix,), 0.5)
    g.normal((1,), np.float64)
    torch.set_rng_state(torch.from_numpy(g.get_state()))
    assert np.array_equal(torch_state(), g.get_state())
    _assert_same(_draw_some_torch(), _draw_some_npdrop(g))
    assert np.array_equal(torch_state(), g.get_state())
    # a torch.Generator accepts it too
    g_t = torch.Generator()
    g_t.set_state(torch.from_numpy(g.get_state()))
    _assert_same(_draw_some_torch(g_t), _draw_some_npdrop(g))


def test_state_after_exactly_624_outputs():
    torch.manual_seed(21)
    torch.empty(624).uniform_()
    g = gen(21)
    g.uniform(0, 1, (624,), np.float32)
    assert np.array_equal(g.get_state(), torch_state())


def test_set_state_normalises_like_torch():
    dirty = gen(4).get_state()
    dirty[24 + 4:24 + 8] = 0xAB   # high half of a state word
    dirty[5016:5024] = 0x11       # normal_x (unused)
    dirty[12] = 7                 # seeded: any non-zero value
    torch.set_rng_state(torch.from_numpy(dirty.copy()))
    g = gen(0)
    g.set_state(dirty)
    assert np.array_equal(g.get_state(), torch_state())


@pytest.mark.parametrize("offset, value", [(8, 0), (12, 0)])  # left = 0, seeded = 0
def test_invalid_states_rejected_by_both(offset, value):
    bad = gen(4).get_state()
    bad[offset:offset + 4] = np.frombuffer(value.to_bytes(4, "little"), np.uint8)
    with pytest.raises(RuntimeError):
        torch.set_rng_state(torch.from_numpy(bad.copy()))
    with pytest.raises(ValueError):
        gen(0).set_state(bad)


def test_state_length_matches_torch():
    assert gen(0).get_state().shape == tuple(torch.get_rng_state().shape)


# -- the runtime self-test ---------------------------------------------------------------

def test_self_test_passes_on_this_torch():
    before = torch_state()
    threads = torch.get_num_threads()
    check_torch_replays(fused_uniform=FUSED)
    check_torch_replays(torch, fused_uniform=FUSED)
    assert np.array_equal(torch_state(), before) and torch.get_num_threads() == threads


def test_self_test_reports_wrong_rounding_mode():
    with pytest.raises(RuntimeError, match=f"fused_uniform={FUSED}"):
        check_torch_replays(fused_uniform=not FUSED)


def test_self_test_refuses_cuda():
    with pytest.raises(RuntimeError, match="Philox"):
        check_torch_replays(device="cuda")
