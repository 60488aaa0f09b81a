"""What the process boundary costs: one call into the implementation in-process
(:class:`conformance.adapters.Driver`) against the same call through its worker
(:class:`conformance.worker.RemoteDriver`), and starting a worker with the implementation
loaded.

    pytest benchmarks/test_bench_worker.py --benchmark-group-by=group

``examples/layer_dropout.py``'s training forward on a float32 input of the forward matrix's
batched shape (10, 21) and of the keep-rate check's 1e7 cells; both sides do the same work
(the input copied for the implementation, its output read back), so the difference is the
boundary's: the copies over the pipe and the two processes' turns.
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from conformance.adapters import load_impl  # noqa: E402
from conformance.variants import VARIANTS  # noqa: E402
from conformance.worker import RemoteImpl  # noqa: E402

SPEC = "examples.layer_dropout:Layer_Dropout"
SHAPES = {"10x21": (10, 21), "1e7": (1000, 10_000)}


@pytest.fixture(scope="module")
def remote():
    impl = RemoteImpl(SPEC, "Dropout", {}, limit=None)
    yield impl
    impl.close()


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("where", ["in-process", "worker"])
def test_forward_call(benchmark, remote, where, shape):
    impl = load_impl(SPEC, "Dropout") if where == "in-process" else remote
    layer = impl.make(VARIANTS["Dropout"], 0.1, 0)
    x = np.linspace(0.5, 1.5, int(np.prod(SHAPES[shape])), dtype=np.float32).reshape(SHAPES[shape])
    benchmark.group = f"forward {shape}"
    benchmark.extra_info.update(where=where, shape=shape)
    rounds = 200 if shape == "10x21" else 5
    benchmark.pedantic(layer.forward, args=(x,), rounds=rounds, warmup_rounds=1)


def test_start_and_load(benchmark):
    benchmark.group = "start"
    benchmark.pedantic(lambda: RemoteImpl(SPEC, "Dropout", {}, limit=None).close(), rounds=5)
