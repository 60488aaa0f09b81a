"""npdrop.fastmask: exact keep probability, determinism, the fused path and packed storage.

Statistical checks use Z = 6.5 standard deviations, two-sided: under a correct generator
each fails with probability at most erfc(6.5 / sqrt(2)) = 8.0e-11 (normal approximation;
every count here is in the hundreds of thousands or more), so this file's false-alarm
probability is below 2e-9. Seeds are fixed, so a run is exactly repeatable. Every other
test is deterministic: it fails only on a real defect.
"""
import math
from fractions import Fraction

import numpy as np
import pytest

import hang_guard

import npdrop
from npdrop import _parallel
from npdrop.fastmask import FastSource, draw_block, threshold
from npdrop.functional import (alpha_dropout_forward, dropout2d_forward, dropout_backward,
                               dropout_forward)

Z = 6.5
SLAB = _parallel.SLAB
BIG = 2 * SLAB + 77  # more than one slab: lazily drawn, fused, multi-threaded
DTYPES = [np.float16, np.float32, np.float64]


def bound(q: float, n: int) -> float:
    """Half-width of the 6.5-sigma acceptance interval for a rate of ``q`` over ``n`` draws."""
    return Z * math.sqrt(q * (1 - q) / n)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.fixture
def threads():
    """Restore npdrop's thread setting after a test changes it."""
    yield _parallel.set_num_threads
    _parallel.set_num_threads(None)


# -- exactness --------------------------------------------------------------------------------

@pytest.mark.parametrize("p", [0.1, 0.5, 0.9, 1 / 3, 0.123456789, 1e-9, 1 - 2.0 ** -50, 1e-17, 1e-300])
def test_threshold_is_floor_of_q_times_2_to_the_64(p):
    thr = threshold(p)
    rest, low = divmod(int(thr.tie), 2 ** 8)
    t = 2 ** 64 if thr.every else int(thr.lead) * 2 ** 56 + rest
    q = Fraction(1.0 - p)  # the double 1 - p, exactly
    assert low == 0 and 0 <= rest < 2 ** 56
    assert q - Fraction(1, 2 ** 64) < Fraction(t, 2 ** 64) <= q, f"T={t} is not floor((1-p) 2^64) [p={p}]"
    assert thr.one_bit == (p == 0.5) and thr.every == (1.0 - p == 1.0)


def test_p_so_small_that_one_minus_p_is_one_keeps_everything():
    for n in (10, 70_000, BIG):
        assert FastSource(0).keep_mask((n,), 1e-300).all()
        assert FastSource(0).packed_keep_mask((n,), 1e-17).unpack().all()


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9, 1 / 3, 0.123456789])
def test_keep_rate_is_exact(p):
    n, q = 25_000_000, 1.0 - p
    keep = FastSource(2024).keep_mask((n,), p)
    rate, half = np.count_nonzero(keep) / n, bound(q, n)
    # The bound is tight enough to see a one-byte (1/256) quantisation, whichever rounding:
    if p != 0.5:  # q = 1/2 is a multiple of 1/256, so no quantisation exists to catch
        for quantised in (math.floor(q * 256) / 256, round(q * 256) / 256):
            assert abs(quantised - q) > 2 * half, f"n={n} too small to catch 1/256 bias at p={p}"
    assert abs(rate - q) <= half, f"keep rate {rate:.7f}, expected {q:.7f} +- {half:.7f} [p={p}, n={n}]"


class _AllTies:
    """A bit generator whose first draw is all bytes equal to ``lead``; then a real SFC64."""

    def __init__(self, lead: int, seed: int):
        self.lead, self.first, self.real = lead, True, np.random.SFC64(seed)

    def random_raw(self, size: int) -> np.ndarray:
        if self.first:
            self.first = False
            return np.full(size * 8, self.lead, dtype=np.uint8).view(np.uint64)
        return self.real.random_raw(size)


@pytest.mark.parametrize("p", [0.1, 1 / 3, 0.123456789])
def test_ties_are_resolved_with_the_remaining_56_bits(p):
    # Force every element to tie: the keep rate must then be rest / 2**56 exactly, not 0 or 1
    # (a tie dropped or kept wholesale is the 1/256 bias); the tie path is seen 2**20 times.
    thr, m = threshold(p), 1 << 20
    keep = np.empty(m, dtype=np.bool_)
    draw_block(_AllTies(thr.lead, 7), thr, keep)
    expect = int(thr.tie) / 2 ** 64  # = rest / 2**56
    half = bound(expect, m)
    assert min(expect, 1 - expect) > 10 * half  # "always keep" or "always drop" would fail
    assert abs(keep.mean() - expect) <= half, f"tie keep rate {keep.mean():.6f}, expected {expect:.6f} [p={p}]"


def test_one_bit_path_uses_the_random_bits_as_the_mask():
    n = 1000
    keep = FastSource(5).keep_mask((n,), 0.5)
    raw = np.random.SFC64(np.random.SeedSequence(5)).random_raw((n + 63) // 64).view(np.uint8)
    assert np.array_equal(keep, np.unpackbits(raw, count=n).view(np.bool_))


# -- determinism and independence -------------------------------------------------------------

@pytest.mark.parametrize("p", [0.5, 0.3])
@pytest.mark.parametrize("n", [1, 13, 70_000, BIG])
def test_same_seed_same_mask_and_bits_match_bool(n, p):
    a, b = FastSource(11).keep_mask((n,), p), FastSource(11).packed_keep_mask((n,), p)
    assert np.array_equal(a, b.unpack()), "packed_keep_mask and keep_mask disagree for one seed"
    assert np.array_equal(np.packbits(a), b.packed), "packed bits differ from np.packbits (padding?)"


@pytest.mark.parametrize("n", [13, 70_000, BIG])
def test_packed_mask_converts_to_the_bool_array(n):
    # A rule may use its keep-mask as an array: np.where(keep, scale, 0) must see the bools.
    keep = FastSource(2).keep_mask((n,), 0.3)
    packed = FastSource(2).packed_keep_mask((n,), 0.3)
    assert np.array_equal(np.where(packed, 2.0, 0.0), np.where(keep, 2.0, 0.0))
    assert np.asarray(packed, dtype=np.float32).dtype == np.float32


@pytest.mark.parametrize("p", [0.5, 0.3])
def test_thread_count_does_not_change_the_mask(p, threads):
    x = np.random.default_rng(0).standard_normal(3 * SLAB + 5).astype(np.float32)
    results = []
    for count in (1, 2, 3):
        threads(count)
        out, saved = dropout_forward(x, p, True, rng=FastSource(9))
        results.append((FastSource(9).keep_mask(x.shape, p), out, saved.noise._keep.packed.copy()))
    for mask, out, bits in results[1:]:
        assert np.array_equal(mask, results[0][0]), "keep_mask depends on the thread count"
        assert same_bits(out, results[0][1]), "forward output depends on the thread count"
        assert np.array_equal(bits, results[0][2]), "saved bits depend on the thread count"


@pytest.mark.parametrize("p", [0.5, 0.2])
@pytest.mark.parametrize("n", [100_000, BIG])
def test_consecutive_draws_and_slabs_are_independent(n, p):
    # Two independent masks agree on a fraction q^2 + (1-q)^2 of elements.
    src, q = FastSource(3), 1 - p
    first, second = src.keep_mask((n,), p), src.keep_mask((n,), p)
    agree = q * q + (1 - q) * (1 - q)
    pairs = [(first, second)]
    if n > SLAB:  # each slab has its own stream: compare the first two slabs too
        pairs.append((first[:SLAB], first[SLAB:2 * SLAB]))
    for a, b in pairs:
        rate = np.count_nonzero(a == b) / a.size
        assert abs(rate - agree) <= bound(agree, a.size), f"agreement {rate:.5f}, expected {agree:.5f}"


# -- the fused path against the generic path ----------------------------------------------------

CASES = {
    "dropout": lambda x, p, **kw: dropout_forward(x, p, True, **kw),
    "inverted=False": lambda x, p, **kw: dropout_forward(x, p, True, inverted=False, **kw),
    "alpha": lambda x, p, **kw: alpha_dropout_forward(x, p, True, **kw),
}


def _input(shape, dtype, seed=0):
    x = (np.random.default_rng(seed).standard_normal(shape) * 3).astype(dtype)
    x.flat[:5] = [np.inf, -np.inf, np.nan, -0.0, np.finfo(dtype).max]  # dropped: nan, nan, nan, -0, 0
    return x


@pytest.mark.filterwarnings("ignore:invalid value encountered")
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [0.5, 0.3])
@pytest.mark.parametrize("n", [10, 70_000, BIG])
def test_fused_path_matches_generic_path_for_the_same_mask(n, p, dtype, case):
    x = _input((n,), dtype)
    out, saved = CASES[case](x, p, rng=FastSource(4))
    mask = saved.keep
    assert mask.dtype == np.bool_ and mask.shape == x.shape
    ref, ref_saved = CASES[case](x, p, mask=mask)  # generic path: the same mask, injected
    assert same_bits(out, ref), f"fused forward differs from mask= forward [{case}, {dtype.__name__}, n={n}]"
    grad = _input((n,), dtype, seed=1)
    assert same_bits(dropout_backward(grad, saved), dropout_backward(grad, ref_saved)), "backward differs"


@pytest.mark.filterwarnings("ignore:invalid value encountered")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("view", ["transposed", "strided", "contiguous"])
@pytest.mark.parametrize("inplace", [False, True])
def test_layouts_and_inplace(view, inplace, dtype):
    base = _input((700, 800), dtype)  # 560,000 elements: more than two slabs
    x = {"transposed": base.T, "strided": base[::2, ::3], "contiguous": base}[view]
    expect_x = x.copy()
    out, saved = dropout_forward(x, 0.4, True, inplace, rng=FastSource(8))
    ref, ref_saved = dropout_forward(expect_x, 0.4, True, mask=saved.keep)
    assert same_bits(np.ascontiguousarray(out), np.ascontiguousarray(ref)), f"[{view}, inplace={inplace}]"
    if inplace:
        assert out is x, "inplace=True must return the input itself"
    grad = _input(x.shape, dtype, seed=2)
    assert same_bits(dropout_backward(grad, saved), dropout_backward(grad, ref_saved)), f"backward [{view}]"


@pytest.mark.parametrize("dtype", DTYPES)
def test_broadcast_channel_masks(dtype):
    x = _input((8, 300, 20, 12), dtype)  # 2,400 channels of 240 elements
    out, saved = dropout2d_forward(x, 0.3, True, rng=FastSource(6))
    assert saved.keep.shape == (8, 300, 1, 1)
    ref, _ = dropout2d_forward(x, 0.3, True, mask=saved.keep)
    assert same_bits(out, ref)
    shared, saved2 = dropout_forward(x, 0.3, True, rng=FastSource(6), broadcast_dims=(0, 2))
    assert saved2.keep.shape == (1, 300, 1, 12)
    assert same_bits(shared, dropout_forward(x, 0.3, True, mask=saved2.keep, broadcast_dims=(0, 2))[0])


# -- storage ----------------------------------------------------------------------------------

def _arrays(obj, seen=None):
    """Every ndarray reachable from ``obj`` through attributes, lists, tuples and dicts."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return []
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return [obj]
    items = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) else None
    if items is None:
        items = list(vars(obj).values()) if hasattr(obj, "__dict__") else []
    return [a for item in items for a in _arrays(item, seen)]


@pytest.mark.parametrize("p", [0.5, 0.3])
@pytest.mark.parametrize("n", [1000, BIG])
def test_backward_keeps_at_most_a_fifth_of_a_byte_per_element(n, p):
    x = np.ones(n, dtype=np.float32)
    _, saved = dropout_forward(x, p, True, rng=FastSource(1))
    held = sum(a.nbytes for a in _arrays(saved))
    assert saved.noise.nbytes == (n + 7) // 8
    assert held / n <= 0.2, f"backward holds {held / n:.3f} bytes per element"
    assert not saved.noise._keep.pending, "the lazy draw must be done by the end of forward"


def test_default_source_is_fastsource_and_generators_keep_numpysource():
    assert isinstance(npdrop.as_source(3), FastSource)
    assert isinstance(npdrop.as_source(np.random.default_rng(3)), npdrop.NumpySource)
    src = FastSource(0)
    assert src.uniform(-1, 1, (5,), np.float32).dtype == np.float32
    assert src.normal((2, 3), np.float64).shape == (2, 3)


def _child_forward(queue) -> None:
    _parallel.set_num_threads(2)
    out, _ = dropout_forward(np.ones(BIG, dtype=np.float32), 0.5, True, rng=FastSource(0))
    queue.put(int(np.count_nonzero(out)))


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded")  # the point of the test
def test_forked_child_does_not_wait_on_the_parents_pool_threads(threads):
    import multiprocessing

    threads(2)
    dropout_forward(np.ones(BIG, dtype=np.float32), 0.5, True, rng=FastSource(0))  # start the pool
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_forward, args=(queue,))
    child.start()
    child.join(timeout=hang_guard.limit(300))
    if child.is_alive():
        child.kill()
        pytest.fail("a forked child hung on the parent's thread pool")
    assert child.exitcode == 0 and 0 < queue.get(timeout=hang_guard.limit(60)) < BIG


@pytest.mark.parametrize("p", [0.0, 1.0, -0.1, float("nan")])
def test_threshold_rejects_p_outside_the_open_interval(p):
    with pytest.raises(ValueError, match="0 < p < 1"):
        FastSource(0).keep_mask((4,), p)


def test_thread_setting_defaults_to_one_or_the_environment(threads, monkeypatch):
    threads(None)
    monkeypatch.delenv("NPDROP_NUM_THREADS", raising=False)
    assert _parallel.get_num_threads() == 1
    monkeypatch.setenv("NPDROP_NUM_THREADS", "3")
    assert _parallel.get_num_threads() == 3
    threads(2)
    assert _parallel.get_num_threads() == 2
    with pytest.raises(ValueError, match="at least 1"):
        threads(0)
