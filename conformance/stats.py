"""Binomial acceptance bounds with a proven false-alarm probability, and the check built on them.

Every statistical check in the suite counts successes among ``n`` independent trials that,
for a correct implementation, are Bernoulli(``q``) (kept units, or agreements between two
independent masks). The acceptance interval comes from the Chernoff bound

    P(X >= n t) <= exp(-n KL(t || q))  for t > q,   and symmetrically below,

with ``KL`` the Bernoulli Kullback-Leibler divergence. Each side gets ``alpha / 2``, so a
correct implementation fails a check with probability at most ``alpha`` (``ALPHA = 1e-9``),
whatever ``n`` and ``q``: no normal approximation is involved. The interval is about 7%
wider than the exact binomial one (6.5 standard deviations each side instead of 6.1;
``test_harness.py`` checks both facts against exact tails), hence tight: at ``n = 1e7,
q = 0.9`` it accepts keep rates within 6.2e-4 of 0.9, so a uint8 threshold's
230/256 = 0.8984 (bias 1.6e-3) is rejected.

With fixed seeds every check is deterministic anyway; the bound is what makes a seed
change safe.
"""
from __future__ import annotations

import math

ALPHA = 1e-9


def bernoulli_kl(t: float, q: float) -> float:
    """KL(Bernoulli(t) || Bernoulli(q)) in nats, with 0 log 0 = 0."""
    total = 0.0
    if t > 0:
        total += t * math.log(t / q) if q > 0 else math.inf
    if t < 1:
        total += (1 - t) * math.log((1 - t) / (1 - q)) if q < 1 else math.inf
    return total


def _edge(n: int, q: float, budget: float, upward: bool) -> float:
    """The rate ``t`` beyond ``q`` where ``exp(-n KL(t||q))`` falls to ``budget`` (bisection)."""
    lo, hi = (q, 1.0) if upward else (0.0, q)
    target = math.log(1 / budget) / n
    if (bernoulli_kl(1.0 if upward else 0.0, q)) < target:
        return 1.0 if upward else 0.0  # even the extreme outcome is not improbable enough
    for _ in range(200):
        mid = (lo + hi) / 2
        inside = bernoulli_kl(mid, q) < target
        if upward:
            lo, hi = (mid, hi) if inside else (lo, mid)
        else:
            lo, hi = (lo, mid) if inside else (mid, hi)
    return hi if upward else lo


def binomial_bounds(n: int, q: float, alpha: float = ALPHA) -> tuple[int, int]:
    """Counts ``(lo, hi)`` with ``P(X < lo) + P(X > hi) <= alpha`` for ``X ~ Binomial(n, q)``."""
    if not 0.0 <= q <= 1.0 or n < 0:
        raise ValueError(f"binomial_bounds: need n >= 0 and 0 <= q <= 1, got n={n}, q={q}")
    if q in (0.0, 1.0) or n == 0:
        return round(n * q), round(n * q)
    upper = _edge(n, q, alpha / 2, upward=True)
    lower = _edge(n, q, alpha / 2, upward=False)
    # P(X >= ceil(n*upper)) <= alpha/2, so counts up to ceil(n*upper) - 1 are accepted.
    hi = min(n, math.ceil(n * upper) - 1) if upper < 1.0 else n
    lo = max(0, math.floor(n * lower) + 1) if lower > 0.0 else 0
    return lo, hi


def check_binomial(count: int, n: int, q: float, what: str, alpha: float = ALPHA, repro: str = "") -> None:
    """Assert ``count`` successes out of ``n`` is plausible for Bernoulli(``q``) trials.

    The message gives the observed and expected rates, the accepted interval, the
    distance in standard deviations and the false-alarm probability of the bound.
    """
    lo, hi = binomial_bounds(n, q, alpha)
    if lo <= count <= hi:
        return
    sd = math.sqrt(n * q * (1 - q)) or 1.0
    raise AssertionError(
        f"{what}: observed {count}/{n} = {count / n:.6f}, expected rate {q:.6f} "
        f"(accepted {lo}..{hi}, i.e. {lo / n:.6f}..{hi / n:.6f}; "
        f"{(count - n * q) / sd:+.1f} standard deviations; false-alarm probability <= {alpha:g})"
        + (f"\n  repro: {repro}" if repro else ""))


#: how a message says that only the first sample's mask was judged
SHARED = "; every sample had the same mask (batch-independence's fault), so only the first sample's are judged"


def samples(keep) -> tuple:
    """The mask as one row per sample, and whether every sample had the same mask; then only
    the first row. A mask shared across the batch is ``batch-independence``'s fault: the
    checks of rates, calls and noise cells judge what was drawn, once, and count each draw
    once (counting it once per sample would make a correct rate look overdispersed)."""
    rows = keep.reshape(keep.shape[0], -1)
    varied = rows[0].any() and not rows[0].all()   # a mask keeping (or dropping) all is no shared draw
    if rows.shape[0] > 1 and varied and (rows == rows[0]).all():
        return rows[:1], True
    return rows, False
