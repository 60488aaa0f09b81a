"""Turn a pytest-benchmark JSON (from ``make bench``) into the README tables and a PNG.

    python benchmarks/plot.py benchmarks/results.json [benchmarks/results.png]

Prints one markdown table per kind (mask, forward, backward, forward+backward): median
nanoseconds per element of every implementation, npdrop's speed-up over each peer
(peer median / npdrop median, same run), the fraction of the memory bound (a multiply into
a reused buffer) npdrop reaches (bound median / npdrop median) and the bytes per element kept for
backward; then a table of the forward's three bounds (see test_bench_mask.py) and what
fraction of each npdrop reaches. Writes elements/s against n as a PNG when matplotlib is
installed.
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict

KINDS = ["mask", "forward", "backward", "forward+backward"]
ORDER = ["npdrop", "npdrop packed", "npdrop out", "npdrop inplace", "naive", "torch", "memory bound", "memory bound fresh",
         "floor"]
BOUNDS = ("memory bound", "memory bound fresh", "floor")
COLOURS = {"npdrop 1t": "tab:blue", "npdrop 2t": "tab:cyan", "npdrop packed 1t": "tab:purple",
           "npdrop inplace 1t": "tab:green", "npdrop out 1t": "tab:olive", "naive": "tab:orange", "torch 1t": "tab:red",
           "torch 2t": "tab:brown", "memory bound": "black",
           "memory bound fresh": "dimgray", "floor": "silver"}


def load(path: str):
    """``{(kind, n, p): {column: (median seconds, extra_info)}}`` and the run's metadata."""
    with open(path) as f:
        data = json.load(f)
    rows: dict = defaultdict(dict)
    for bench in data["benchmarks"]:
        info = bench["extra_info"]
        if "label" not in info:  # the torch-stream replay benchmarks: see replay_table()
            continue
        rows[(info["kind"], info["n"], info["p"])][info["label"]] = (bench["stats"]["median"], info)
    return rows, data


def replay_table(data) -> str:
    """The replay group (test_bench_replay.py): elements per second of each benchmark."""
    lines = ["| benchmark | n | median M el/s |", "|---|---|---|"]
    for bench in sorted(data["benchmarks"], key=lambda b: (b["group"] or "", b["name"])):
        if "impl" in bench["extra_info"] or "elements" not in bench["extra_info"]:
            continue
        n = bench["extra_info"]["elements"]
        lines.append(f"| {bench['name']} | {n:.0e} | {n / bench['stats']['median'] / 1e6:,.0f} |".replace("+0", ""))
    return "\n".join(lines) if len(lines) > 2 else ""


def _columns(rows, kind):
    present = {c for (k, _, _), cols in rows.items() if k == kind for c in cols}
    return sorted(present, key=lambda c: (ORDER.index(c.rsplit(" ", 1)[0]) if c.rsplit(" ", 1)[0] in ORDER
                                          else ORDER.index(c), c))


def table(rows, kind: str) -> str:
    cols = [c for c in _columns(rows, kind) if c not in BOUNDS[1:]]  # those two: see bounds_table()
    peers = [c for c in cols if not c.startswith("npdrop") and c not in BOUNDS]
    head = ["n", "p"] + [f"{c} ns/el" for c in cols] + ["npdrop 1t Mel/s"]
    head += [f"1t vs {c}" for c in peers] + (["2t vs torch 2t"] if "npdrop 2t" in cols and "torch 2t" in cols else [])
    head += ["of bound (1t / 2t / out / inplace)"] if "memory bound" in cols else []
    head += ["bytes kept/el (npdrop / naive / torch)"] if kind != "mask" else []
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (k, n, p), got in sorted(rows.items()):
        if k != kind or "npdrop 1t" not in got:
            continue
        ours = got["npdrop 1t"][0]
        cells = [f"{n:.0e}".replace("+0", ""), f"{p}"]
        cells += [f"{got[c][0] / n * 1e9:.2f}" if c in got else "" for c in cols]
        cells.append(f"{n / ours / 1e6:,.0f}")
        cells += [f"{got[c][0] / ours:.1f}x" if c in got else "" for c in peers]
        if "npdrop 2t" in cols and "torch 2t" in cols:
            cells.append(f"{got['torch 2t'][0] / got['npdrop 2t'][0]:.1f}x" if "torch 2t" in got else "")
        if "memory bound" in cols:
            bound = got["memory bound"][0]
            cells.append(" / ".join(f"{bound / got[c][0]:.2f}" if c in got else "-"
                                    for c in ("npdrop 1t", "npdrop 2t", "npdrop out 1t", "npdrop inplace 1t")))
        if kind != "mask":
            kept = [got[c][1].get("bytes_kept_per_element") if c in got else None
                    for c in ("npdrop 1t", "naive", "torch 1t")]
            cells.append(" / ".join("-" if b is None else f"{b:g}" for b in kept))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def bounds_table(rows) -> str:
    """The forward's bounds (ns/el) and the fraction of each that npdrop reaches (bound / npdrop)."""
    ours = ("npdrop 1t", "npdrop out 1t", "npdrop inplace 1t")
    head = ["n", "p", "memory bound ns/el", "memory bound fresh ns/el", "floor ns/el"] + [f"{c} ns/el" for c in ours]
    head += ["1t: of memory bound fresh", "1t: of floor", "out: of memory bound", "inplace: of memory bound",
             "ceiling of any new-array forward: memory bound / fresh"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (k, n, p), got in sorted(rows.items()):
        if k != "forward" or not all(c in got for c in BOUNDS + ours):
            continue
        t = {c: got[c][0] for c in got}
        cells = [f"{n:.0e}".replace("+0", ""), f"{p}"]
        cells += [f"{t[c] / n * 1e9:.2f}" for c in BOUNDS + ours]
        cells += [f"{t['memory bound fresh'] / t['npdrop 1t']:.2f}", f"{t['floor'] / t['npdrop 1t']:.2f}",
                  f"{t['memory bound'] / t['npdrop out 1t']:.2f}", f"{t['memory bound'] / t['npdrop inplace 1t']:.2f}",
                  f"{t['memory bound'] / t['memory bound fresh']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) if len(lines) > 2 else ""


def run_info(data) -> str:
    """The run in one line: date, CPU and cores, Python and library versions, commit."""
    info = data.get("machine_info", {})
    cpu = info.get("cpu", {})
    versions = info.get("npdrop_versions", {})
    libs = ", ".join(f"{k} {v}" for k, v in versions.items()) or "numpy/torch versions not recorded"
    commit = data.get("commit_info", {}).get("id", "")[:10]
    return (f"{data.get('datetime', '?')[:16].replace('T', ' ')} UTC; {cpu.get('brand_raw', '?')}, "
            f"{cpu.get('count', '?')} cores ({info.get('system', '?')} {info.get('machine', '')}); "
            f"Python {info.get('python_version', '?')}; {libs}" + (f"; commit {commit}" if commit else ""))


def plot(rows, out: str, data=None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ps = sorted({p for (_, _, p) in rows})
    legend: dict = {}
    fig, axes = plt.subplots(len(ps), len(KINDS), figsize=(4.2 * len(KINDS), 3.6 * len(ps)), squeeze=False)
    for i, p in enumerate(ps):
        for j, kind in enumerate(KINDS):
            ax = axes[i][j]
            for col in _columns(rows, kind):
                pts = sorted((n, n / got[col][0]) for (k, n, q), got in rows.items()
                             if k == kind and q == p and col in got)
                if pts:
                    style = ":" if col in BOUNDS else ("-" if col.startswith("npdrop") else "--")
                    ax.plot(*zip(*pts), style, color=COLOURS.get(col), marker="o", ms=3, label=col)
            ax.set(xscale="log", yscale="log", title=f"{kind}, p={p}", xlabel="n (float32 elements)",
                   ylabel="elements / s")
            ax.grid(True, which="both", alpha=0.3)
            for handle, label in zip(*ax.get_legend_handles_labels()):
                legend.setdefault(label, handle)
    # one legend for every panel, below them, and the run's facts above: nothing covers the data
    rows_of_legend = -(-len(legend) // 6)
    bottom = (0.25 + 0.22 * rows_of_legend) / fig.get_figheight()
    fig.legend(list(legend.values()), list(legend), loc="lower center", ncol=6, fontsize=8, frameon=False)
    fig.suptitle("npdrop benchmarks, median elements/s: " + run_info(data or {}), fontsize=9)
    fig.tight_layout(rect=(0, bottom, 1, 1 - 0.35 / fig.get_figheight()))
    fig.savefig(out, dpi=110)


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit(__doc__)
    rows, data = load(argv[0])
    info = data.get("machine_info", {})
    print(f"<!-- {data.get('datetime', '')}; {info.get('cpu', {}).get('brand_raw', '')}; "
          f"python {info.get('python_version', '')} -->")
    for kind in KINDS:
        print(f"\n**{kind}** (median ns per element; speed-ups are peer / npdrop, same run)\n")
        print(table(rows, kind))
    bounds = bounds_table(rows)
    if bounds:
        print("\n**forward against its bounds** (median ns per element; fractions are bound / npdrop, same run)\n")
        print(bounds)
    replay = replay_table(data)
    if replay:
        print("\n**replay of torch's stream** (`TorchCPUGenerator.keep_mask` vs torch's own `bernoulli_`, 1 thread)\n")
        print(replay)
    out = argv[1] if len(argv) > 1 else argv[0].rsplit(".", 1)[0] + ".png"
    try:
        plot(rows, out, data)
        print(f"\nplot written to {out}")
    except ImportError:
        print("\n(matplotlib is not installed: no plot; pip install matplotlib)")


if __name__ == "__main__":
    main(sys.argv[1:])
