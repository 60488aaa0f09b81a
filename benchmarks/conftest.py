"""Shared fixtures for the benchmarks: cached inputs and scoped thread settings.

Every timing claim is a ratio between benchmarks of one run (``make bench``), never an
absolute number, and no benchmark asserts on time. With ``--benchmark-disable`` (part of
``make test``) each body runs once, as a smoke test.
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pytest

from npdrop import _parallel
from plot import BOUNDS


def pytest_benchmark_update_machine_info(config, machine_info):
    """The library versions the figures depend on, for the tables and the plot's run info."""
    versions = {"numpy": np.__version__}
    try:
        import torch

        versions["torch"] = torch.__version__
    except ImportError:
        pass
    import npdrop

    versions["npdrop"] = getattr(npdrop, "__version__", "?")
    machine_info["npdrop_versions"] = versions


@pytest.fixture(scope="session")
def inputs():
    """``inputs(n)``: the float32 input and upstream gradient of size ``n``, made once."""
    cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def make(n: int) -> tuple[np.ndarray, np.ndarray]:
        if n not in cache:
            rng = np.random.default_rng(n)
            cache[n] = (rng.standard_normal(n, dtype=np.float32), rng.standard_normal(n, dtype=np.float32))
        return cache[n]

    return make


@contextmanager
def _npdrop_threads(count: int):
    """npdrop's slab threads set to ``count`` for the block, restored after."""
    old = _parallel._threads
    _parallel.set_num_threads(count)
    try:
        yield
    finally:
        _parallel.set_num_threads(old)


@contextmanager
def _torch_threads(torch, count: int):
    """torch's intra-op threads set to ``count`` for the block, restored after."""
    old = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@pytest.fixture
def npdrop_threads():
    """``with npdrop_threads(k):`` runs npdrop on ``k`` threads (the result does not depend on k)."""
    return _npdrop_threads


@pytest.fixture
def torch_threads():
    """``with torch_threads(torch, k):`` runs torch on ``k`` intra-op threads."""
    return _torch_threads


@pytest.fixture
def torch_or_skip():
    """The torch module, or a clean skip of this (torch peer) benchmark when it is absent."""
    return pytest.importorskip("torch")


def pytest_benchmark_update_json(config, benchmarks, output_json):
    """Add the derived figures to each benchmark's ``extra_info`` in the saved JSON.

    ``elements_per_second`` for every benchmark; for npdrop's, ``speedup_vs`` (peer median /
    this median, for every other implementation of its group: same kind, n and p, same run)
    and, where the group has them, ``of_memory_bound``, ``of_memory_bound_fresh`` and
    ``of_floor`` (that reference's median / this one: 1 means as fast as the reference).
    """
    groups: dict = {}
    for bench in output_json["benchmarks"]:
        info = bench["extra_info"]
        if "label" not in info:  # another file's benchmark
            continue
        info["elements_per_second"] = info["n"] / bench["stats"]["median"]
        groups.setdefault((info["kind"], info["n"], info["p"]), {})[info["label"]] = bench
    for members in groups.values():
        for label, bench in members.items():
            if not label.startswith("npdrop"):
                continue
            median = bench["stats"]["median"]
            bench["extra_info"]["speedup_vs"] = {
                peer: other["stats"]["median"] / median for peer, other in members.items()
                if not peer.startswith("npdrop") and peer not in BOUNDS}
            for ref in BOUNDS:
                if ref in members:
                    key = "of_" + ref.replace(" ", "_")
                    bench["extra_info"][key] = members[ref]["stats"]["median"] / median
