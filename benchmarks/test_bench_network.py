"""The network check's speed: ``npdrop-conform --network`` on a 784-256-256-10 network at
batch 64, 3 SGD steps, as a user runs it: a fresh process, imports included (the wall time
of the whole command), on the CS231n-style network (traced functions; the NNFS-style one,
layer objects, is ``tests.networks.nnfs_style:big`` for a manual comparison). No assertion
on time: the figure is the benchmark's median. With ``--benchmark-disable`` (``make test``)
it runs once, as a smoke test of the big size.
"""
import os
import subprocess
import sys
import tempfile

import pytest

pytest.importorskip("torch")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NETWORKS = {"cs231n-style": "tests.networks.cs231n_style:big"}


def _check(spec: str) -> None:
    with tempfile.TemporaryDirectory() as log:   # its reports, which a run without --log-dir keeps in the temp directory
        done = subprocess.run([sys.executable, "-m", "npdrop_conform.cli", "--network", spec, "--batch", "64",
                               "--steps", "3", "--log-dir", log], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "verdict: PASS" in done.stdout


@pytest.mark.benchmark(group="network-check")
@pytest.mark.parametrize("network", sorted(NETWORKS))
def test_bench_network_check(benchmark, network):
    benchmark.extra_info.update({"network": "784-256-256-10", "batch": 64, "steps": 3, "includes": "imports"})
    benchmark.pedantic(_check, args=(NETWORKS[network],), rounds=3, iterations=1)
