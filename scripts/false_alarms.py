"""Run npdrop's statistical tests over many seeds and count false alarms (not part of CI).

Every statistical test takes a ``seed`` fixture (CI uses one fixed seed); this script calls
each test function directly, for every case of its ``parametrize`` marks, with seeds
1..N. Under correct generators each check's false-alarm probability is below 1e-10, so
with N = 1000 any failure at all is a real finding.

    python scripts/false_alarms.py --seeds 1000 [--first 1] [--module tests/test_mask_statistics.py]
"""
from __future__ import annotations

import argparse
import importlib.util
import itertools
import sys
import time
from pathlib import Path


def load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cases(fn):
    """Expand a test function's parametrize marks into keyword dicts."""
    grids = []
    for mark in getattr(fn, "pytestmark", []):
        if mark.name != "parametrize":
            continue
        names, values = mark.args[0], mark.args[1]
        names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
        rows = [v if len(names) > 1 else (v,) for v in values]
        grids.append([dict(zip(names, row)) for row in rows])
    for combo in itertools.product(*grids) if grids else [()]:
        merged = {}
        for part in combo:
            merged.update(part)
        yield merged


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1000)
    parser.add_argument("--first", type=int, default=1, help="first seed (to split a run over processes)")
    parser.add_argument("--module", action="append", default=None)
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[1]
    modules = args.module or [str(root / "tests" / "test_mask_statistics.py")]
    checks = []
    for path in modules:
        module = load(Path(path))
        for name in sorted(vars(module)):
            fn = getattr(module, name)
            if name.startswith("test_") and callable(fn) and "seed" in fn.__code__.co_varnames:
                checks += [(f"{Path(path).name}::{name}", fn, kw) for kw in cases(fn)]
    failures, start = [], time.time()
    for seed in range(args.first, args.first + args.seeds):
        for label, fn, kw in checks:
            try:
                fn(**kw, seed=seed)
            except AssertionError as exc:
                failures.append((seed, label, kw, str(exc).splitlines()[0]))
                print(f"FALSE ALARM seed={seed} {label} {kw}: {failures[-1][3]}", flush=True)
        done = seed - args.first + 1
        if done % 50 == 0:
            print(f"seeds {args.first}..{seed}: {done} x {len(checks)} checks, {len(failures)} failures, "
                  f"{time.time() - start:.0f} s", flush=True)
    total = args.seeds * len(checks)
    print(f"{total} checks ({len(checks)} checks x {args.seeds} seeds): {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
