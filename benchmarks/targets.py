"""npdrop's speed targets, checked in one or more ``make bench`` runs.

    python benchmarks/targets.py run1.json [run2.json ...]

Every figure is a ratio of two medians from the *same* run (peer / npdrop: above 1 means
npdrop is faster; bound / npdrop: the fraction of the bound npdrop reaches). One row per
target, one column per run, then the median over runs and in how many runs the target
holds. The runtime is numpy only, with no compiled kernel, so the targets are stated as the
benchmarks can judge that design: against torch at equal thread counts, against the naive
NumPy dropout, and against the bound of a forward that returns a new array ("memory bound
fresh"). Rows marked "(for reference)" are not targets; they show the same figure for the
other ways of calling npdrop and for the bounds themselves.
"""
from __future__ import annotations

import statistics
import sys

from plot import load

# (label, kind, n, p, numerator column, denominator column, need) -- need None: for reference
ROWS = []
for p in (0.1, 0.5):
    ROWS += [(f"forward 1e7 p={p}: torch 1t / npdrop 1t", "forward", 10**7, p, "torch 1t", "npdrop 1t", 6.0),
             (f"forward 1e7 p={p}: torch 2t / npdrop 2t", "forward", 10**7, p, "torch 2t", "npdrop 2t", 6.0),
             (f"forward 1e7 p={p}: torch 1t / npdrop out= 1t", "forward", 10**7, p, "torch 1t", "npdrop out 1t", None)]
for p in (0.1, 0.5):
    ROWS.append((f"mask 1e7 p={p}: naive / npdrop 1t", "mask", 10**7, p, "naive", "npdrop 1t", 5.0))
for p in (0.1, 0.5):
    ROWS += [(f"forward 1e7 p={p}: memory bound fresh / npdrop 1t", "forward", 10**7, p, "memory bound fresh",
              "npdrop 1t", 0.5),
             (f"forward 1e7 p={p}: memory bound / npdrop 1t", "forward", 10**7, p, "memory bound", "npdrop 1t", None),
             (f"forward 1e7 p={p}: memory bound / npdrop out= 1t", "forward", 10**7, p, "memory bound", "npdrop out 1t", None),
             (f"forward 1e7 p={p}: memory bound / npdrop inplace 1t", "forward", 10**7, p, "memory bound",
              "npdrop inplace 1t", None),
             (f"forward 1e7 p={p}: memory bound / memory bound fresh (no masking at all)", "forward", 10**7, p,
              "memory bound", "memory bound fresh", None)]
for n in (10**4, 10**6, 10**7):
    for p in (0.1, 0.5):
        ROWS.append((f"backward {n:.0e} p={p}: torch 1t / npdrop 1t".replace("+0", ""), "backward", n, p,
                     "torch 1t", "npdrop 1t", 1.0))
for kind in ("forward", "forward+backward"):
    for p in (0.1, 0.5):
        ROWS.append((f"{kind} 1e4 p={p}: naive / npdrop 1t", kind, 10**4, p, "naive", "npdrop 1t", 1.0))


def main(paths: list[str]) -> None:
    if not paths:
        sys.exit(__doc__)
    runs = [load(path)[0] for path in paths]
    head = ["target", "need"] + [f"run {i + 1}" for i in range(len(runs))] + ["median", "holds in"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for label, kind, n, p, top, bottom, need in ROWS:
        values = [got[top][0] / got[bottom][0] for got in (run.get((kind, n, p), {}) for run in runs)
                  if top in got and bottom in got]
        if not values:
            continue
        median = statistics.median(values)
        cells = [label, "(for reference)" if need is None else f">= {need:g}"]
        cells += [f"{v:.2f}" for v in values] + [f"**{median:.2f}**"]
        cells.append("" if need is None else f"{sum(v >= need for v in values)} of {len(values)}")
        print("| " + " | ".join(cells) + " |")
    kept = sorted({info.get("bytes_kept_per_element") for run in runs for (kind, _, _), got in run.items()
                   for column, (_, info) in got.items() if column.startswith("npdrop")} - {None})
    print(f"\nbytes kept per element for backward by npdrop (need <= 0.2): {', '.join(f'{b:g}' for b in kept)}")


if __name__ == "__main__":
    main(sys.argv[1:])
