"""What running the network in a worker process costs the network check (not part of CI).

Times :meth:`conformance.network.stepper.Check.run` with the network built in this process
(as the check ran before it had a worker) and in a worker (:class:`.remote.RemoteNetwork`,
as it runs now), at 1 and 5 SGD steps, interleaved, and prints the minimum over the
repetitions, the per-step cost ((5 steps - 1 step) / 4), the worker's start and load, and
the bytes each request sends and receives (random states aside).

    python scripts/network_worker_cost.py tests.networks.nnfs_style:correct --batch 8 --reps 7
    python scripts/network_worker_cost.py tests.networks.cs231n_style:big --batch 64 --reps 5
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from conformance import wire  # noqa: E402
from conformance.network.cli import load_model  # noqa: E402
from conformance.network.drive import Network  # noqa: E402
from conformance.network.functional import FunctionalNetwork, is_functional  # noqa: E402
from conformance.network.remote import RemoteNetwork  # noqa: E402
from conformance.network.stepper import Check, Options  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("network")
    parser.add_argument("--loss")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    sizes: list = []
    exchange = RemoteNetwork._exchange

    def counted(self, message, what):
        reply = exchange(self, message, what)
        size = lambda m: sum(memoryview(p).nbytes for p in wire.pieces(dict(m, streams={})))  # noqa: E731
        sizes.append((message.get("action"), size(message), size(reply)))
        return reply

    RemoteNetwork._exchange = counted

    def in_process(steps):
        model = load_model(args.network)
        net = FunctionalNetwork(model) if is_functional(model) and not args.loss else Network(model, args.loss)
        start = time.perf_counter()
        Check(net, Options(steps=steps, batch=args.batch)).run()
        return time.perf_counter() - start, 0.0

    def worker(steps):
        start = time.perf_counter()
        net = RemoteNetwork(args.network, args.loss)
        loaded = time.perf_counter()
        try:
            Check(net, Options(steps=steps, batch=args.batch)).run()
        finally:
            net.close()
        return time.perf_counter() - loaded, loaded - start

    times: dict = {}
    for rep in range(args.reps):
        for name, run in (("in-process", in_process), ("worker", worker)):
            for steps in (1, 5):
                sizes.clear()
                took, load = run(steps)
                times.setdefault((name, steps), []).append(took)
                if name == "worker":
                    times.setdefault(("worker start and load", steps), []).append(load)
                    if rep == 0 and steps == 5:
                        print("bytes (request, reply), first requests:", sizes[:4])
    for key, values in sorted(times.items()):
        print(f"{key[0]:>22}, {key[1]} steps: min {min(values):.3f} s")
    for name in ("in-process", "worker"):
        per_step = (min(times[(name, 5)]) - min(times[(name, 1)])) / 4
        print(f"per step {name}: {per_step * 1000:.1f} ms")


if __name__ == "__main__":
    main()
