"""Where a forward's time goes: npdrop's numpy calls at n = 1e7, p = 0.1, added one at a time.

    python benchmarks/stages.py [rounds]

Each stage runs the loop of the previous one plus one more numpy call per 64K block (the
calls ``npdrop.fastmask.draw_block`` and ``npdrop._masking.BernoulliNoise`` make), so the
difference between two lines is what that call costs; the stages run interleaved, round
after round, and the median and minimum over rounds are printed in ns per element.
Two references close the table: one multiply into a fresh array and into a reused one.
Not a test and not part of ``make bench``: a diagnostic for benchmarks/README.md.
"""
from __future__ import annotations

import statistics
import sys
import time

import numpy as np

from npdrop._masking import BLOCK
from npdrop.fastmask import threshold

N, P = 10_000_000, 0.1
STAGES = ["random bytes (SFC64.random_raw)", "+ compare with the lead byte (np.less)",
          "+ locate ties (== lead, .nonzero()) and fix them", "+ np.packbits (the mask kept)",
          "+ x * keep into the output", "+ * scale (in cache)"]


def staged(x: np.ndarray, out: np.ndarray, upto: int, bitgen: np.random.SFC64) -> None:
    """Run the first ``upto`` calls after the random bytes, block by block, over all of ``x``."""
    thr = threshold(P)
    keep, bits, scale = np.empty(BLOCK, np.bool_), np.empty((N + 7) // 8, np.uint8), np.float32(1 / (1 - P))
    for a in range(0, N, BLOCK):
        b = min(a + BLOCK, N)
        raw, k = bitgen.random_raw((b - a + 7) // 8).view(np.uint8)[:b - a], keep[:b - a]
        if upto >= 1:
            np.less(raw, thr.lead, out=k)
        if upto >= 2:
            ties = (raw == thr.lead).nonzero()[0]
            k[ties] = bitgen.random_raw(ties.size) < thr.tie
        if upto >= 3:
            bits[a // 8:(b + 7) // 8] = np.packbits(k)
        if upto >= 4:
            np.multiply(x[a:b], k, out=out[a:b])
        if upto >= 5:
            np.multiply(out[a:b], scale, out=out[a:b])


def main(rounds: int) -> None:
    x = np.random.default_rng(0).standard_normal(N, dtype=np.float32)
    reused, bitgen = np.empty_like(x), np.random.SFC64(0)
    cases = [(name, (lambda i=i: staged(x, np.empty_like(x), i, bitgen))) for i, name in enumerate(STAGES)]
    cases += [("same, into a reused output", lambda: staged(x, reused, len(STAGES) - 1, bitgen)),
              ("reference: np.multiply(x, s), fresh array", lambda: np.multiply(x, np.float32(2))),
              ("reference: np.multiply(x, s, out=reused)", lambda: np.multiply(x, np.float32(2), out=reused))]
    times: dict = {name: [] for name, _ in cases}
    for _ in range(rounds):
        for name, fn in cases:
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    print("| stage | median ns/el | min ns/el |\n|---|---|---|")
    for name, ts in times.items():
        print(f"| {name} | {statistics.median(ts) / N * 1e9:.2f} | {min(ts) / N * 1e9:.2f} |")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 11)
