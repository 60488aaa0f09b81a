"""Slabs on a few threads: how npdrop splits large arrays, never changing a result.

An array of several :data:`SLAB` s is cut into slabs that run on up to
:func:`get_num_threads` threads (:func:`parallel_for`). Each slab's work is fixed in
advance (npdrop.fastmask gives each slab its own random stream), so threads only decide who
computes which slab, and the thread count never changes a bit of the result.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional

#: Elements per parallel task, and per independent random stream in npdrop.fastmask.
SLAB = 1 << 18

_threads: Optional[int] = None
_pool: Optional[ThreadPoolExecutor] = None
_pool_size = 0


def set_num_threads(n: Optional[int]) -> None:
    """Threads for arrays of two slabs or more (results never depend on it); ``None``: the default.

    The default is ``$NPDROP_NUM_THREADS``, else 1: like plain numpy, npdrop stays on one
    core unless asked, since a busy machine (or several processes) makes extra threads wait.
    """
    global _threads
    if n is not None and int(n) < 1:
        raise ValueError(f"set_num_threads: need at least 1 thread, got {n}")
    _threads = None if n is None else int(n)


def get_num_threads() -> int:
    if _threads is not None:
        return _threads
    return max(1, int(os.environ.get("NPDROP_NUM_THREADS", "1")))


def _forget_pool() -> None:
    global _pool, _pool_size
    _pool, _pool_size = None, 0  # a forked child has no pool threads: never wait on them


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def parallel_for(n: int, task: Callable[[int, int], None]) -> None:
    """Call ``task(lo, hi)`` for the slabs ``[k*SLAB, (k+1)*SLAB) & [0, n)``, on several threads.

    Slabs must be independent; threads only decide who runs which one. numpy releases the
    GIL inside its loops, so the slabs' array work runs in parallel.
    """
    global _pool, _pool_size
    starts = range(0, n, SLAB)
    threads = min(get_num_threads(), len(starts))
    if threads <= 1:
        for lo in starts:
            task(lo, min(lo + SLAB, n))
        return
    pending, lock = iter(starts), threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                lo = next(pending, None)
            if lo is None:
                return
            task(lo, min(lo + SLAB, n))

    if _pool_size < threads - 1:
        if _pool is not None:
            _pool.shutdown(wait=False)  # its idle threads exit; a larger pool replaces it
        _pool, _pool_size = ThreadPoolExecutor(threads - 1, thread_name_prefix="npdrop"), threads - 1
    helpers = [_pool.submit(worker) for _ in range(threads - 1)]
    try:
        worker()
    finally:
        for helper in helpers:
            helper.result()  # wait for all; re-raises a helper's error
