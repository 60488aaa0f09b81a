"""Replay speed: ``TorchCPUGenerator.keep_mask`` against torch drawing the same mask.

Both sides draw a dropout keep-mask of n elements at p = 0.5 from MT19937: torch with
``torch.empty(n).bernoulli_(1 - p)`` on one thread (its CPU kernel is serial anyway),
npdrop with the NumPy replay. Run::

    pytest benchmarks/bench_replay.py --benchmark-only --benchmark-group-by=group

and read elements/s as n / mean. ``test_*_same_mask`` first checks the two draw the same bits.
"""
from __future__ import annotations

import numpy as np
import pytest

from npdrop.torchrng import TorchCPUGenerator

torch = pytest.importorskip("torch")

SIZES = [100_000, 1_000_000]
P = 0.5


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("n", SIZES)
def test_same_mask(n):
    g_t = torch.Generator().manual_seed(n)
    expected = torch.empty(n).bernoulli_(1 - P, generator=g_t).numpy() != 0
    assert np.array_equal(TorchCPUGenerator(n).keep_mask((n,), P), expected)


@pytest.mark.parametrize("n", SIZES)
def test_bench_replay_keep_mask(benchmark, n):
    benchmark.group = f"keep_mask n={n:.0e}"
    benchmark.extra_info["elements"] = n
    g = TorchCPUGenerator(0)
    mask = benchmark(g.keep_mask, (n,), P)
    assert mask.shape == (n,)


@pytest.mark.parametrize("n", SIZES)
def test_bench_torch_bernoulli(benchmark, n, one_thread):
    benchmark.group = f"keep_mask n={n:.0e}"
    benchmark.extra_info["elements"] = n
    g_t = torch.Generator().manual_seed(0)
    buf = torch.empty(n)
    # The same work a dropout layer asks of torch: fill a float tensor with Bernoulli(1 - p).
    out = benchmark(buf.bernoulli_, 1 - P, generator=g_t)
    assert out.shape == (n,)
