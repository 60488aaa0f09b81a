"""Statistics of the masks npdrop's layers draw, with bounds that never flake.

Every bound below is Z = 6.5 standard deviations, two-sided: under a correct generator a
check fails with probability at most erfc(6.5 / sqrt(2)) = 8.0e-11 (normal approximation,
accurate here since every count is in the millions), so the whole file's false-alarm
probability stays below 1e-9. The seeds are fixed, so a run is also exactly repeatable.
The sample sizes are chosen so that a keep probability quantised to 1/256 (the bias of a
one-byte threshold: keep 0.9 becomes 0.8984) lies outside the bound; each test asserts
that about itself.
"""
import math

import numpy as np
import pytest

import npdrop

Z = 6.5
FALSE_ALARM = math.erfc(Z / math.sqrt(2))
SOURCES = {
    "default": lambda seed: seed,
    "numpy-generator": lambda seed: np.random.default_rng(seed),
}


@pytest.fixture
def seed() -> int:
    """The fixed seed CI uses; scripts/false_alarms.py calls these tests with 1,000 others."""
    return 1234


def rate_bound(q: float, n: int) -> float:
    return Z * math.sqrt(q * (1 - q) / n)


def quantised(q: float, levels: int = 256) -> float:
    """Keep probability of a generator comparing one byte with a rounded threshold."""
    return math.floor(q * levels) / levels


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("p", [0.1, 0.5, 0.77, 1 / 3])
def test_keep_rate_is_one_minus_p(p, source, seed):
    n = 16_000_000
    q = 1 - p
    layer = npdrop.Dropout(p, rng=SOURCES[source](seed))
    kept = np.count_nonzero(layer(np.ones(n, dtype=np.float16)))
    rate, bound = kept / n, rate_bound(q, n)
    assert FALSE_ALARM < 1e-10
    if quantised(q) != q:  # the test can see a 1/256 quantisation at this n
        assert abs(quantised(q) - q) > 2 * bound
    assert abs(rate - q) <= bound, (
        f"keep rate {rate:.6f}, expected {q:.6f} +- {bound:.6f} (6.5 sigma) "
        f"[Dropout, p={p}, float16, shape=({n},), source={source}]"
    )


@pytest.mark.parametrize("cls", [npdrop.Dropout1d, npdrop.Dropout2d, npdrop.FeatureAlphaDropout],
                         ids=lambda c: c.__name__)
def test_channel_keep_rate(cls, seed):
    p, n_channels = 0.3, 2_000_000
    layer = cls(p, rng=seed)
    x = np.ones((1000, n_channels // 1000, 1, 1)[: 3 if cls is npdrop.Dropout1d else 4], dtype=np.float32)
    layer(x)
    rate = layer.last_mask.mean()
    bound = rate_bound(1 - p, n_channels)
    assert abs(rate - (1 - p)) <= bound, f"channel keep rate {rate:.6f} vs {1 - p} +- {bound:.6f} [{cls.__name__}, p={p}]"


def test_masks_differ_between_calls_and_samples(seed):
    layer = npdrop.Dropout(0.5, rng=seed)
    x = np.ones((64, 256))
    a, b = layer(x) != 0, layer(x) != 0
    # Two independent masks agree on each element with probability 1/2: agreement on all
    # 16384 elements has probability 2**-16384; a fraction above 0.5 + 6.5 sigma is flagged.
    agree = (a == b).mean()
    assert agree <= 0.5 + rate_bound(0.5, a.size), f"consecutive masks agree on {agree:.3f} of elements"
    rows = (a[:, None, :] == a[None, :, :]).all(axis=2)
    assert rows.sum() == 64, "two samples of one batch share a mask"


@pytest.mark.parametrize("cls", [npdrop.AlphaDropout, npdrop.FeatureAlphaDropout], ids=lambda c: c.__name__)
@pytest.mark.parametrize("p", [0.1, 0.5])
def test_alpha_dropout_keeps_zero_mean_unit_variance(cls, p, seed):
    n = 2_000_000
    x = np.random.default_rng(seed + 1).standard_normal(n)
    shape = (n, 1) if cls is npdrop.FeatureAlphaDropout else (n,)
    out = cls(p, rng=seed)(x.reshape(shape)).ravel()
    # Bounds from the sample's own spread: 6.5 standard errors of the mean and of the second moment.
    mean_se = out.std() / math.sqrt(n)
    sq_se = (out ** 2).std() / math.sqrt(n)
    assert abs(out.mean()) <= Z * mean_se, f"mean {out.mean():.5f} +- {Z * mean_se:.5f} [{cls.__name__}, p={p}]"
    var = (out ** 2).mean() - out.mean() ** 2
    assert abs(var - 1) <= Z * sq_se + Z * mean_se, f"variance {var:.5f}, expected 1 [{cls.__name__}, p={p}]"


def test_inverted_dropout_preserves_the_mean_and_original_dropout_matches_eval_in_expectation(seed):
    n, p = 2_000_000, 0.3
    x = np.full(n, 2.0)
    inverted = npdrop.Dropout(p, rng=seed)(x)
    original = npdrop.Dropout(p, rng=seed + 1, inverted=False)
    train_out = original(x)
    eval_out = original.eval()(x)
    se_inv = inverted.std() / math.sqrt(n)
    assert abs(inverted.mean() - 2.0) <= Z * se_inv
    se_orig = train_out.std() / math.sqrt(n)
    assert abs(train_out.mean() - eval_out.mean()) <= Z * se_orig, "E[train] must equal the eval output (1-p) x"


def test_gaussian_noise_mean_and_variance(seed):
    n, p = 2_000_000, 0.2
    layer = npdrop.GaussianDropout(p, rng=seed)
    noise = layer(np.ones(n))
    var = p / (1 - p)
    assert abs(noise.mean() - 1) <= Z * math.sqrt(var / n)
    # the sample variance of a normal has standard error var * sqrt(2 / n)
    assert abs(noise.var() - var) <= Z * var * math.sqrt(2 / n)
