"""TorchCPUGenerator without torch: pinned torch vectors, independent derivations, state, errors.

Every expected value here comes either from torch 2.13.0 (the exact call is given next to
it; run on x86-64, ATen CPU capability AVX512 unless stated) or from code independent of
npdrop.torchrng: NumPy's legacy MT19937 seeding, exact rational arithmetic, the C++
standard's MT19937 check value.
"""
from __future__ import annotations

import hashlib
import math
import types
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npdrop.testing import check_torch_replays
from npdrop.torchrng import (
    TORCH_DEFAULT_SEED,
    TORCH_STATE_SIZE,
    TorchCPUGenerator,
    fma32,
    fma64,
)

# Produced by torch 2.13.0+cpu (AVX512 kernels) with, for each seed s:
#   torch.manual_seed(s)
#   initial_seed      = torch.initial_seed()
#   state_sha256      = sha256(torch.get_rng_state().numpy().tobytes())
#   mask_p05_64       = np.packbits((torch.empty(64).bernoulli_(1 - 0.5) != 0).numpy()).hex()
#   mask_p02_2x3x8    = np.packbits((torch.empty(2, 3, 8).bernoulli_(1 - 0.2) != 0).numpy().ravel()).hex()
#   uniform_f32_bits  = torch.empty(6).uniform_(-0.1, 0.1).numpy().view(np.uint32)
#   uniform_f64_bits  = torch.empty(3, dtype=torch.float64).uniform_(-0.1, 0.1).numpy().view(np.uint64)
#   randn5_f64_bits   = torch.randn(5, dtype=torch.float64).numpy().view(np.uint64)
#   randn20_f64_sha256 = sha256(torch.randn(20, dtype=torch.float64).numpy().tobytes())
#   final_state_sha256 = sha256(torch.get_rng_state().numpy().tobytes())
# (the draws in this order, one after the other).
PINNED = {
    0: dict(
        initial_seed=0,
        state_sha256="1ccf17250133dec5e96478acd63e13d728d0dbbabb30389415a302c6f872f81f",
        mask_p05_64="237bca84e5d51926",
        mask_p02_2x3x8="ebffffe7fba7",
        uniform_f32_bits=[0xBDB17B52, 0x3D4AE823, 0xBD91E007, 0xBCE88AA7, 0xBD096D70, 0xBC72A05A],
        uniform_f64_bits=[0xBFB75C1D51BD7ABC, 0xBF20E599C4530000, 0xBF85C52F30D89E8D],
        randn5_f64_bits=[0x3FCDCC06A2C1C283, 0xBFEA3E999230AF1C, 0xBFE5BA86B7FF691A, 0x3FF6CD2435AC3DDD,
                         0x3FFF6F9C9C6D9044],
        randn20_f64_sha256="a4e452fde7d1791d168b5277c38f487b23c514cd34d4d0a483aee53827ea1836",
        final_state_sha256="011385905130004592137ca239d5610d489dc19a8dc537a884d8b817b65a6bf9",
    ),
    1: dict(
        initial_seed=1,
        state_sha256="f5defda135ec2e0d1513e6979390f58397d31a904d5f6540f8b88ae64d1decc1",
        mask_p05_64="f657406717fdd913",
        mask_p02_2x3x8="fffed6dd87f4",
        uniform_f32_bits=[0x3D483E93, 0xBD932585, 0xBCBBADE7, 0x3D94FD87, 0x3DA23845, 0x3DC1B0D7],
        uniform_f64_bits=[0xBFAFEA3B2C7190E7, 0x3FB672C5223AC5B2, 0xBF9DD8FFAF384CED],
        randn5_f64_bits=[0x3FD6496505FCF9E4, 0x3FF231797978F45A, 0xBFD55E540D2B2F11, 0xBFF78F0AFBAC9E7B,
                         0x3FE7593F0E06B7B4],
        randn20_f64_sha256="2277c2de09861b5756aea793d013866fd38a083480b66f185644ad5c745c5f34",
        final_state_sha256="681f6b7c7b51dea7ef0d5221a1e090853b73840aab13ceb6004e20e594b0eb20",
    ),
    2**32 - 1: dict(
        initial_seed=4294967295,
        state_sha256="4f01c70c12d141308873eeeb862388374a9cd8e0b957dd7f9f92afbdd54f2c20",
        mask_p05_64="11f5e889e37acb20",
        mask_p02_2x3x8="f6b3bd7ff3bb",
        uniform_f32_bits=[0xBCE25A6D, 0xBDC6B33D, 0xBDC33A9B, 0xBDA798DB, 0x3D602720, 0x3CC5F4A0],
        uniform_f64_bits=[0x3FB92BB40C54A427, 0xBFB430AD83836E6D, 0x3FB636A9F386D0CF],
        randn5_f64_bits=[0xBFAE5D3BCE1E40D5, 0xBFEE56560C5C09F5, 0x3FF7D6A2584FA1B2, 0x3FF3B5CE751E886F,
                         0x3FCCAF62858A3826],
        randn20_f64_sha256="03827640e7765f345bcae9cdea3eec8d5c11138f8719baf80ee9b69791bacbd0",
        final_state_sha256="e89f2f1beb8630a0c8ce77fa19b9c8db6c5f235ceeabfd18f2dee2b6cf034c50",
    ),
    # 2**32 draws what seed 0 draws (only the low 32 bits seed the engine) but keeps its
    # initial_seed, so the state bytes differ.
    2**32: dict(
        initial_seed=4294967296,
        state_sha256="a6188dc9231bfccae2ed944018d15ea21b7b2a1de8bdc9907c7146d268ea224d",
        mask_p05_64="237bca84e5d51926",
        mask_p02_2x3x8="ebffffe7fba7",
        uniform_f32_bits=[0xBDB17B52, 0x3D4AE823, 0xBD91E007, 0xBCE88AA7, 0xBD096D70, 0xBC72A05A],
        uniform_f64_bits=[0xBFB75C1D51BD7ABC, 0xBF20E599C4530000, 0xBF85C52F30D89E8D],
        randn5_f64_bits=[0x3FCDCC06A2C1C283, 0xBFEA3E999230AF1C, 0xBFE5BA86B7FF691A, 0x3FF6CD2435AC3DDD,
                         0x3FFF6F9C9C6D9044],
        randn20_f64_sha256="a4e452fde7d1791d168b5277c38f487b23c514cd34d4d0a483aee53827ea1836",
        final_state_sha256="a8e04db6e4c8037f2c504cd18a409b89169a37d9d6c0ea7e550de73d305c09ef",
    ),
    # torch.manual_seed(-1): the int64 bits are kept, initial_seed() == 2**64 - 1.
    -1: dict(
        initial_seed=18446744073709551615,
        state_sha256="74c65bce05a4fcdd46c9ffe85389eae89aa055a11270fd03732d3dfc85f94796",
        mask_p05_64="11f5e889e37acb20",
        mask_p02_2x3x8="f6b3bd7ff3bb",
        uniform_f32_bits=[0xBCE25A6D, 0xBDC6B33D, 0xBDC33A9B, 0xBDA798DB, 0x3D602720, 0x3CC5F4A0],
        uniform_f64_bits=[0x3FB92BB40C54A427, 0xBFB430AD83836E6D, 0x3FB636A9F386D0CF],
        randn5_f64_bits=[0xBFAE5D3BCE1E40D5, 0xBFEE56560C5C09F5, 0x3FF7D6A2584FA1B2, 0x3FF3B5CE751E886F,
                         0x3FCCAF62858A3826],
        randn20_f64_sha256="03827640e7765f345bcae9cdea3eec8d5c11138f8719baf80ee9b69791bacbd0",
        final_state_sha256="66b95dddd7f72067f5cba40b61d2657bb24d7c21605ffab23e2a4bb84cec437a",
    ),
    67280421310721: dict(  # torch.Generator()'s default seed
        initial_seed=67280421310721,
        state_sha256="7dbca2abd059af5d8a23d078cc0f4d4c7b21e4543592cea803dc5037dfcd008e",
        mask_p05_64="a238f8d951779c61",
        mask_p02_2x3x8="a7cffff3fff7",
        uniform_f32_bits=[0xBDABC7D7, 0x3CD5BE33, 0xBDB28AEA, 0xBD22CE7D, 0xBD2415D0, 0xBBA369B3],
        uniform_f64_bits=[0xBFB6ED06EFFE53CF, 0x3FB07DE1037AD070, 0x3FAD8B4AD5ACF440],
        randn5_f64_bits=[0xBFA29250AD39AC79, 0x3FE6DA753C96C69D, 0x3FF25286205B6EDA, 0x3FBEC9E2AEE65C29,
                         0x3FCDFDCF8C64229A],
        randn20_f64_sha256="4c32fefcecde75a8d618b565e32d6b70745608ab1cb6e7c44a32f0ae8e934eef",
        final_state_sha256="25a6e41b875be8123a69cbb43eff1b892f77736ac4cd72f6a071aca3b779e90a",
    ),
}

# torch 2.13.0, right after torch.manual_seed(0), in two processes:
#   torch.empty(6).uniform_(-0.1, 0.1).numpy().view(np.uint32)
#   torch.empty(3, dtype=torch.float64).uniform_(-0.1, 0.1).numpy().view(np.uint64)   (next call)
# with ATEN_CPU_CAPABILITY=avx512 (fused multiply-add) and ATEN_CPU_CAPABILITY=default (no FMA).
UNIFORM_SEED0_FUSED = (
    [0xBA444333, 0x3D5BBA30, 0xBDA88F45, 0xBD96B867, 0xBD1DC25D, 0x3CDBACAD],
    [0x3FB58AD2F4A2623F, 0x3F9DB370CA725EE0, 0x3FADD0446E15E307],
)
UNIFORM_SEED0_UNFUSED = (
    [0xBA444300, 0x3D5BBA32, 0xBDA88F45, 0xBD96B866, 0xBD1DC25D, 0x3CDBACAC],
    [0x3FB58AD2F4A2623E, 0x3F9DB370CA725EE0, 0x3FADD0446E15E308],
)
# Same process as above, third call: torch.empty(8, dtype=torch.float16).uniform_(-0.1, 0.1)
# .numpy().view(np.uint16), identical under both kernels.
UNIFORM_SEED0_F16_BITS = [0xAE1D, 0xAC3D, 0xA947, 0x1B96, 0x290F, 0x2BAE, 0xAC57, 0xA993]


def sha256(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def packed(mask: np.ndarray) -> str:
    return np.packbits(mask.ravel()).tobytes().hex()


def legacy_mt(seed32: int) -> np.random.MT19937:
    """NumPy's own init_genrand seeding (RandomState's), independent of npdrop.torchrng."""
    bg = np.random.MT19937()
    bg._legacy_seeding(seed32)
    return bg


def parse_state(state: np.ndarray) -> dict:
    """Read torch's CPUGeneratorImplState fields by offset (CPUGeneratorImpl.cpp)."""
    b = state.tobytes()
    as_int = lambda lo, hi: int.from_bytes(b[lo:hi], "little", signed=False)  # noqa: E731
    return dict(
        initial_seed=as_int(0, 8),
        left=as_int(8, 12),
        seeded=as_int(12, 16),
        next=as_int(16, 24),
        words=np.frombuffer(b[24:24 + 8 * 624], dtype="<u8"),
        normal_y=np.frombuffer(b[5024:5032], dtype="<f8")[0],
        normal_is_valid=as_int(5040, 5044),
    )


# -- pinned torch vectors -------------------------------------------------------------------

@pytest.mark.parametrize("seed", list(PINNED))
def test_pinned_torch_sequence(seed):
    pin = PINNED[seed]
    g = TorchCPUGenerator(seed)
    assert g.initial_seed() == pin["initial_seed"]
    assert sha256(g.get_state()) == pin["state_sha256"]
    assert packed(g.keep_mask((64,), 0.5)) == pin["mask_p05_64"]
    mask = g.keep_mask((2, 3, 8), 0.2)
    assert mask.shape == (2, 3, 8) and mask.dtype == np.bool_
    assert packed(mask) == pin["mask_p02_2x3x8"]
    u32 = g.uniform(-0.1, 0.1, (6,), np.float32)
    assert u32.dtype == np.float32
    assert u32.view(np.uint32).tolist() == pin["uniform_f32_bits"]
    assert g.uniform(-0.1, 0.1, (3,), np.float64).view(np.uint64).tolist() == pin["uniform_f64_bits"]
    assert g.normal((5,), np.float64).view(np.uint64).tolist() == pin["randn5_f64_bits"]
    assert sha256(g.normal((20,), np.float64)) == pin["randn20_f64_sha256"]
    assert sha256(g.get_state()) == pin["final_state_sha256"]


@pytest.mark.parametrize("fused, expected", [(True, UNIFORM_SEED0_FUSED), (False, UNIFORM_SEED0_UNFUSED)])
def test_uniform_both_kernels(fused, expected):
    g = TorchCPUGenerator(0, fused_uniform=fused)
    assert g.uniform(-0.1, 0.1, (6,), np.float32).view(np.uint32).tolist() == expected[0]
    assert g.uniform(-0.1, 0.1, (3,), np.float64).view(np.uint64).tolist() == expected[1]
    assert g.uniform(-0.1, 0.1, (8,), np.float16).view(np.uint16).tolist() == UNIFORM_SEED0_F16_BITS


def test_default_seed_is_torchs():
    assert TORCH_DEFAULT_SEED == 67280421310721  # torch.Generator().initial_seed()
    assert TorchCPUGenerator().initial_seed() == TORCH_DEFAULT_SEED
    assert sha256(TorchCPUGenerator().get_state()) == PINNED[TORCH_DEFAULT_SEED]["state_sha256"]


# -- the engine, derived independently ------------------------------------------------------

def test_mt19937_standard_check_value():
    # C++ standard [rand.predef]: the 10000th output of mt19937 seeded with 5489 is 4123659995.
    g = TorchCPUGenerator(5489)
    assert int(g._raw(10000)[-1]) == 4123659995


@pytest.mark.parametrize("seed", [0, 1, 5489, 2**31, 2**32 - 1])
def test_seeding_matches_numpy_legacy_init_genrand(seed):
    st_ = parse_state(TorchCPUGenerator(seed).get_state())
    key = legacy_mt(seed).state["state"]["key"]
    assert np.array_equal(st_["words"], key.astype(np.uint64))
    assert (st_["left"], st_["seeded"], st_["next"]) == (1, 1, 0)  # at::mt19937 before its first draw


@pytest.mark.parametrize("seed", [0, 3, 2**32 - 1])
@pytest.mark.parametrize("p", [0.5, 0.1, 0.9, 1 / 3, 1e-7])
def test_keep_mask_is_the_double_comparison(seed, p):
    # The straightforward form of ATen's bernoulli_distribution<double>(1 - p), on NumPy's stream.
    n = 3001
    raw = legacy_mt(seed).random_raw(2 * n).reshape(n, 2)
    u = (((raw[:, 0] << np.uint64(32)) | raw[:, 1]) & np.uint64(2**53 - 1)).astype(np.float64) * 2.0**-53
    assert np.array_equal(TorchCPUGenerator(seed).keep_mask((n,), p), u < 1.0 - p)


def test_keep_mask_threshold_is_strict():
    # Pick p so that 1 - p equals an element's own uniform u exactly: u < 1 - p must be False,
    # and one step of 2**-53 higher must keep it. Only elements with u >= 0.5 make 1 - (1 - u)
    # exact (Sterbenz), so search for one.
    raw = legacy_mt(11).random_raw(2 * 64).reshape(64, 2)
    k = ((raw[:, 0] & np.uint64(2**21 - 1)) << np.uint64(32)) | raw[:, 1]
    i = int(np.flatnonzero(k >= 2**52)[0])
    for step, kept in [(0, False), (1, True)]:
        q = (int(k[i]) + step) * 2.0**-53
        p = 1.0 - q
        assert 1.0 - p == q
        assert bool(TorchCPUGenerator(11).keep_mask((64,), p)[i]) is kept


# -- consumption ------------------------------------------------------------------------

def assert_same_position(g: TorchCPUGenerator, ref: np.random.MT19937):
    st_ = parse_state(g.get_state())
    ref_state = ref.state["state"]
    assert np.array_equal(st_["words"], ref_state["key"].astype(np.uint64))
    assert st_["left"] == 625 - ref_state["pos"]


@pytest.mark.parametrize("shape", [(1,), (7,), (311,), (312,), (313,), (4, 5, 6), (70000,)])
def test_keep_mask_consumes_two_outputs_per_element(shape):
    g, ref = TorchCPUGenerator(5), legacy_mt(5)
    g.keep_mask(shape, 0.25)
    ref.random_raw(2 * math.prod(shape))
    assert_same_position(g, ref)


@pytest.mark.parametrize("dtype, per_element", [(np.float16, 1), (np.float32, 1), (np.float64, 2)])
def test_uniform_consumption(dtype, per_element):
    g, ref = TorchCPUGenerator(5), legacy_mt(5)
    g.uniform(-1, 1, (10, 33), dtype)
    ref.random_raw(per_element * 330)
    assert_same_position(g, ref)


@pytest.mark.parametrize("n, outputs", [
    (2, 4), (3, 8),          # normal_distribution: 2 random64 per pair, the odd one cached
    (16, 32), (32, 64),      # normal_fill: one random64 per element
    (17, 2 * (17 + 16)),     # ... plus 16 redrawn for a partial last block
    (40, 2 * (40 + 16)),
])
def test_normal_consumption(n, outputs):
    g, ref = TorchCPUGenerator(5), legacy_mt(5)
    g.normal((n,), np.float64)
    ref.random_raw(outputs)
    assert_same_position(g, ref)


def test_normal_cache_carries_over_between_calls():
    g = TorchCPUGenerator(9)
    first = g.normal((3,), np.float64)  # draws two pairs, caches the 4th value
    assert parse_state(g.get_state())["normal_is_valid"] == 1
    cached = parse_state(g.get_state())["normal_y"]
    nxt = g.normal((1,), np.float64)  # comes from the cache: no engine output
    assert nxt[0] == cached
    assert parse_state(g.get_state())["normal_is_valid"] == 0
    # Independent Box-Muller on NumPy's stream (DistributionsHelper.h normal_distribution).
    raw = legacy_mt(9).random_raw(8).reshape(4, 2)
    u = (((raw[:, 0] & np.uint64(2**21 - 1)) << np.uint64(32)) | raw[:, 1]).astype(np.float64) * 2.0**-53
    expected = []
    for u1, u2 in [(u[0], u[1]), (u[2], u[3])]:
        r = math.sqrt(-2.0 * math.log1p(-u2))
        expected += [r * math.cos(2.0 * math.pi * u1), r * math.sin(2.0 * math.pi * u1)]
    assert first.tolist() == expected[:3]
    assert nxt.tolist() == expected[3:]


@pytest.mark.parametrize("call", [
    lambda g: g.keep_mask((0,), 0.5),
    lambda g: g.keep_mask((3, 0, 2), 0.5),
    lambda g: g.uniform(-1, 1, (0, 4), np.float32),
    lambda g: g.normal((0,), np.float64),
])
def test_empty_draws_consume_nothing(call):
    g = TorchCPUGenerator(8)
    before = g.get_state()
    out = call(g)
    assert out.size == 0
    assert np.array_equal(g.get_state(), before)  # next stays 0 as well: byte-identical


def test_keep_mask_extreme_p_match_bernoulli():
    # bernoulli_(1) keeps everything and bernoulli_(0) nothing, still drawing 2 per element
    # (dropout layers skip the call for these p, as torch does).
    g, ref = TorchCPUGenerator(2), legacy_mt(2)
    assert g.keep_mask((50,), 0.0).all()
    assert not g.keep_mask((50,), 1.0).any()
    ref.random_raw(200)
    assert_same_position(g, ref)


# -- state round trips ------------------------------------------------------------------

def test_state_round_trip_resumes_the_stream():
    g = TorchCPUGenerator(123)
    g.keep_mask((1000,), 0.3)
    g.normal((3,), np.float64)  # leaves a cached normal in the state
    saved = g.get_state()
    assert saved.dtype == np.uint8 and saved.shape == (TORCH_STATE_SIZE,) == (5056,)
    a = (g.keep_mask((777,), 0.4), g.uniform(-2, 3, (50,), np.float32), g.normal((5,), np.float64))
    h = TorchCPUGenerator(0)
    h.set_state(saved)
    assert np.array_equal(h.get_state(), saved)
    assert h.initial_seed() == 123
    b = (h.keep_mask((777,), 0.4), h.uniform(-2, 3, (50,), np.float32), h.normal((5,), np.float64))
    for x, y in zip(a, b):
        assert np.array_equal(x, y)
    assert np.array_equal(g.get_state(), h.get_state())


def test_set_state_accepts_bytes_and_fresh_seed_state():
    fresh = TorchCPUGenerator(77).get_state()
    h = TorchCPUGenerator(1)
    h.set_state(fresh.tobytes())
    assert np.array_equal(h.get_state(), fresh)
    assert np.array_equal(h.keep_mask((10,), 0.5), TorchCPUGenerator(77).keep_mask((10,), 0.5))


def test_state_after_full_period_of_words():
    # After exactly 624 outputs the engine sits at left == 1 again, but with next == 624
    # (torch's engine only resets next when it twists).
    g = TorchCPUGenerator(3)
    g.uniform(0, 1, (624,), np.float32)
    st_ = parse_state(g.get_state())
    assert (st_["left"], st_["next"]) == (1, 624)
    h = TorchCPUGenerator(0)
    h.set_state(g.get_state())
    assert np.array_equal(h.get_state(), g.get_state())
    assert np.array_equal(h.keep_mask((9,), 0.5), g.keep_mask((9,), 0.5))


def test_set_state_normalises_like_torch():
    # torch keeps only the low 32 bits of each state word and ignores normal_x/normal_rho.
    state = TorchCPUGenerator(4).get_state()
    dirty = state.copy()
    dirty[24 + 4:24 + 8] = 0xAB  # high half of word 0
    dirty[5016:5024] = 0x11      # normal_x
    h = TorchCPUGenerator(0)
    h.set_state(dirty)
    assert np.array_equal(h.get_state(), state)


@pytest.mark.parametrize("bad, error, match", [
    (np.zeros(5055, np.uint8), ValueError, "5056"),
    (np.zeros(5057, np.uint8), ValueError, "5056"),
    (b"\x00" * 10, ValueError, "5056"),
    (np.zeros(5056, np.int64), TypeError, "uint8"),
])
def test_set_state_rejects_bad_input(bad, error, match):
    with pytest.raises(error, match=match):
        TorchCPUGenerator().set_state(bad)


@pytest.mark.parametrize("field, value", [
    ((8, 12), 0),      # left = 0
    ((8, 12), 625),    # left > 624
    ((12, 16), 0),     # seeded = 0
    ((16, 24), 625),   # next > 624
])
def test_set_state_rejects_invalid_engine(field, value):
    state = TorchCPUGenerator(4).get_state()
    lo, hi = field
    state[lo:hi] = np.frombuffer(value.to_bytes(hi - lo, "little"), np.uint8)
    with pytest.raises(ValueError, match="mt19937 state"):
        TorchCPUGenerator().set_state(state)


def test_set_state_failure_leaves_generator_unchanged():
    g = TorchCPUGenerator(6)
    before = g.get_state()
    with pytest.raises(ValueError):
        g.set_state(np.zeros(5056, np.uint8))  # seeded = 0
    assert np.array_equal(g.get_state(), before)


# -- seeds -----------------------------------------------------------------------------

def test_seed_reduction_like_torch():
    # torch.manual_seed(-2**63).initial_seed() == 2**63; engine seeded with the low 32 bits.
    assert TorchCPUGenerator(-(2**63)).initial_seed() == 2**63
    assert TorchCPUGenerator(2**64 - 1).initial_seed() == 2**64 - 1
    assert TorchCPUGenerator(np.int64(12)).initial_seed() == 12
    a = TorchCPUGenerator(2**40 + 5).keep_mask((100,), 0.5)
    assert np.array_equal(a, TorchCPUGenerator(5).keep_mask((100,), 0.5))


@pytest.mark.parametrize("seed", ["x", 1.5, None, True, np.float64(3.0)])
def test_bad_seed_type(seed):
    with pytest.raises(TypeError, match="seed"):
        TorchCPUGenerator(seed)


@pytest.mark.parametrize("seed", [2**64, -(2**63) - 1])
def test_seed_out_of_range(seed):
    with pytest.raises(ValueError, match="seed"):
        TorchCPUGenerator(seed)


def test_manual_seed_resets_stream_and_cache():
    g = TorchCPUGenerator(10)
    first = g.keep_mask((40,), 0.5)
    g.normal((1,), np.float64)
    assert g.manual_seed(10) is g
    assert np.array_equal(g.get_state(), TorchCPUGenerator(10).get_state())
    assert np.array_equal(g.keep_mask((40,), 0.5), first)


# -- bad draws ------------------------------------------------------------------------

@pytest.mark.parametrize("p", [-0.1, 1.1, float("nan")])
def test_keep_mask_bad_p(p):
    with pytest.raises(ValueError, match="p"):
        TorchCPUGenerator().keep_mask((3,), p)


@pytest.mark.parametrize("shape", [(-1,), (2.5,), "ab"])
def test_bad_shape(shape):
    with pytest.raises((TypeError, ValueError)):
        TorchCPUGenerator().keep_mask(shape, 0.5)


def test_uniform_bad_bounds_and_dtype():
    g = TorchCPUGenerator()
    with pytest.raises(ValueError, match="low <= high"):
        g.uniform(1.0, 0.0, (3,), np.float32)
    with pytest.raises(ValueError, match="range"):
        g.uniform(-1e6, 1e6, (3,), np.float16)
    with pytest.raises(TypeError):
        g.uniform(0, 1, (3,), np.int32)


def test_uniform_stays_in_range_and_degenerate_interval():
    g = TorchCPUGenerator(1)
    for dtype in (np.float16, np.float32, np.float64):
        v = g.uniform(-0.5, 0.25, (5000,), dtype)
        assert v.dtype == dtype and (v >= dtype(-0.5)).all() and (v < dtype(0.25)).all()
    assert (g.uniform(3.0, 3.0, (10,), np.float32) == 3.0).all()


def test_normal_float32_block_path_not_implemented():
    g = TorchCPUGenerator(1)
    assert g.normal((15,), np.float32).dtype == np.float32  # per-element path is exact
    before = g.get_state()
    with pytest.raises(NotImplementedError, match="float64"):
        g.normal((16,), np.float32)
    assert np.array_equal(g.get_state(), before)


def test_is_a_mask_source():
    from npdrop.rng import MaskSource, as_source

    g = TorchCPUGenerator(0)
    assert isinstance(g, MaskSource)
    assert as_source(g) is g


# -- exact FMA emulation, against rational arithmetic ----------------------------------------

def nearest_float32(x: Fraction) -> np.float32:
    """Round a rational to float32, to nearest, ties to even (by comparing neighbours exactly)."""
    c = np.float32(float(x))
    best = None
    for cand in (np.nextafter(c, np.float32(-np.inf)), c, np.nextafter(c, np.float32(np.inf))):
        err = abs(Fraction(float(cand)) - x)
        key = (err, int(np.array(cand).view(np.uint32)) & 1)
        if best is None or key < best[0]:
            best = (key, cand)
    return best[1]


finite64 = st.floats(min_value=-1e10, max_value=1e10, allow_nan=False, allow_infinity=False).filter(
    lambda v: v == 0 or abs(v) > 1e-200
)


@settings(max_examples=400, deadline=None)
@given(st.integers(0, 2**53 - 1), finite64, finite64)
def test_fma64_is_correctly_rounded(k, span, offset):
    x = k * 2.0**-53  # uniform_'s operand
    got = fma64(np.array([x]), span, offset)[0]
    assert got == float(Fraction(x) * Fraction(span) + Fraction(offset))


@settings(max_examples=400, deadline=None)
@given(st.integers(0, 2**24 - 1), st.floats(-1e4, 1e4, width=32), st.floats(-1e4, 1e4, width=32))
def test_fma32_is_correctly_rounded(k, span, offset):
    x = np.float32(k * 2.0**-24)
    got = fma32(np.array([x]), np.float32(span), np.float32(offset))[0]
    expected = nearest_float32(Fraction(float(x)) * Fraction(span) + Fraction(offset))
    assert got == expected and got.dtype == np.float32


def test_fma_hard_cases():
    # a*b + c where one rounding and two roundings differ (double rounding would lose the
    # tiny product tail): (1 + 2**-52) * (1 - 2**-53) - 1 = 2**-52 - 2**-53 - 2**-105.
    a, b = 1 + 2.0**-52, 1 - 2.0**-53
    assert fma64(np.array([a]), b, -1.0)[0] == float(Fraction(a) * Fraction(b) - 1)
    assert fma64(np.array([a]), b, -1.0)[0] != a * b - 1.0
    # float32: (1 + 2**-12)**2 = 1 + 2**-11 + 2**-24 is a float32 midpoint; adding 2**-70
    # puts the exact sum just above it, so fmaf rounds up. Summing in double first rounds
    # back onto the midpoint and then ties to even (down): the double-rounding trap.
    a32, c32 = np.float32(1 + 2.0**-12), np.float32(2.0**-70)
    expected = np.float32(1 + 2.0**-11 + 2.0**-23)
    assert fma32(np.array([a32]), a32, c32)[0] == expected
    assert np.float32(np.float64(a32) * np.float64(a32) + np.float64(c32)) != expected


# -- the runtime self-test's diagnoses, with stand-in torch modules ---------------------------

class _FakeTensor:
    def __init__(self, values):
        self.values = values

    def numpy(self):
        return self.values


class _FakeGenerator:
    def __init__(self, device="cpu"):
        self.impl = TorchCPUGenerator()

    def manual_seed(self, seed):
        self.impl.manual_seed(seed)
        return self

    def get_state(self):
        return _FakeTensor(self.impl.get_state())


class _MKLLikeEmpty:
    """bernoulli_ the way an MKL build draws it: one engine output seeds a separate stream."""

    def __init__(self, n):
        self.n = n

    def bernoulli_(self, q, generator):
        seed = int(generator.impl._raw(1)[0])
        return _FakeTensor((np.random.default_rng(seed).random(self.n) < q).astype(np.float32))


def _fake_torch(empty):
    return types.SimpleNamespace(
        __version__="fake",
        float32=np.float32,
        float64=np.float64,
        device=lambda d: types.SimpleNamespace(type=str(d).split(":")[0]),
        Generator=_FakeGenerator,
        empty=lambda n, dtype=None: empty(n),
    )


def test_self_test_refuses_cuda():
    with pytest.raises(RuntimeError, match="Philox"):
        check_torch_replays(_fake_torch(_MKLLikeEmpty), device="cuda")


class _MKLGeneratorEmpty(_MKLLikeEmpty):
    """bernoulli_ from a separate MKL generator: the CPU generator is not touched at all."""

    def bernoulli_(self, q, generator):
        return _FakeTensor((np.random.default_rng(0).random(self.n) < q).astype(np.float32))


@pytest.mark.parametrize("empty", [_MKLLikeEmpty, _MKLGeneratorEmpty])
def test_self_test_diagnoses_mkl_bernoulli(empty):
    with pytest.raises(RuntimeError, match="MKL"):
        check_torch_replays(_fake_torch(empty), draws=("keep_mask",))


def test_self_test_other_bernoulli_divergence():
    class WrongOrderEmpty(_MKLLikeEmpty):
        """Two outputs per element, but the low word first: not torch's random64()."""

        def bernoulli_(self, q, generator):
            raw = generator.impl._raw(2 * self.n).reshape(self.n, 2)
            k = ((raw[:, 1] & np.uint64(2**21 - 1)) << np.uint64(32)) | raw[:, 0]
            return _FakeTensor((k.astype(np.float64) * 2.0**-53 < q).astype(np.float32))

    with pytest.raises(RuntimeError, match="does not draw one random64"):
        check_torch_replays(_fake_torch(WrongOrderEmpty), draws=("keep_mask",))


def test_self_test_diagnoses_uniform_rounding():
    class UnfusedEmpty:
        """uniform_ as ATen's default-capability kernel computes it (two roundings), written out."""

        def __init__(self, n):
            self.n = n

        def uniform_(self, a, b, generator):
            r = generator.impl._raw(self.n) & np.uint64(2**24 - 1)
            x = r.astype(np.float32) * np.float32(2.0**-24)
            fa, fb = np.float32(a), np.float32(b)
            return _FakeTensor(x * (fb - fa) + fa)

    with pytest.raises(RuntimeError, match="fused_uniform=False"):
        check_torch_replays(_fake_torch(UnfusedEmpty), draws=("uniform",))
    check_torch_replays(_fake_torch(UnfusedEmpty), draws=("uniform",), fused_uniform=False)


def test_self_test_rejects_unknown_draws():
    with pytest.raises(ValueError, match="unknown"):
        check_torch_replays(_fake_torch(_MKLLikeEmpty), draws=("gamma",))
