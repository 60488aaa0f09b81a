"""Exact keep-masks at memory speed: one random byte per element, more bits only on a tie.

Each element is kept with probability ``T / 2**64``, ``T = floor((1 - p) * 2**64)``: a byte
``b`` is compared with ``T``'s leading byte, and only on a tie (1 in 256) does a 64-bit word
decide against the remaining 56 bits. Masks larger than a slab are drawn from one SFC64
stream per slab, so they do not depend on the thread count. README.md, "How the fast mask
stays exact", gives the construction. Mirrors ``bernoulli_(1 - p)`` statistically, not bit
for bit (for torch's own stream see :mod:`npdrop.torchrng`).
"""
from __future__ import annotations

import math
import threading
from functools import lru_cache
from typing import Callable, NamedTuple, Optional

import numpy as np

from ._masking import BLOCK, PackedKeep
from ._parallel import SLAB, get_num_threads, parallel_for, set_num_threads

__all__ = ["FastSource", "Threshold", "threshold", "set_num_threads", "get_num_threads"]


class Threshold(NamedTuple):
    """Keep iff ``byte < lead``, or ``byte == lead`` and ``word < tie`` (see the module)."""

    lead: np.uint8  # T >> 56
    tie: np.uint64  # (T mod 2**56) * 2**8: a fresh word is below it with probability rest / 2**56
    one_bit: bool  # q == 1/2: keep iff the element's bit is set
    every: bool  # q == 1 (1 - p rounds to 1, so T == 2**64): keep all, draw nothing


@lru_cache(maxsize=256)
def threshold(p: float) -> Threshold:
    """The exact threshold ``T = floor((1 - p) * 2**64)`` as ``lead = T >> 56`` and ``tie``."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"keep-masks are drawn for 0 < p < 1 (p == 0 keeps all, p == 1 none), got p={p}")
    num, den = (1.0 - p).as_integer_ratio()  # den is a power of two: this is exact
    t = (num << 64) // den
    if t == 1 << 64:
        return Threshold(np.uint8(0), np.uint64(0), False, True)
    return Threshold(np.uint8(t >> 56), np.uint64((t & ((1 << 56) - 1)) << 8), t == 1 << 63, False)


def draw_block(bitgen: np.random.SFC64, thr: Threshold, keep: np.ndarray) -> Optional[np.ndarray]:
    """Fill the bool array ``keep`` (one block) with keep flags drawn from ``bitgen``.

    On the one-bit path the random bytes are the packed mask: they are returned (padding
    bits zeroed, as ``np.packbits`` leaves them), saving the packing; otherwise ``None``.
    """
    m = keep.size
    if thr.every:
        keep.fill(True)
        return None
    if thr.one_bit:
        raw = bitgen.random_raw((m + 63) // 64).view(np.uint8)[:(m + 7) // 8]
        if m % 8:
            raw[-1] &= 0xFF << (8 - m % 8) & 0xFF
        keep[:] = np.unpackbits(raw, count=m).view(np.bool_)
        return raw
    raw = bitgen.random_raw((m + 7) // 8).view(np.uint8)[:m]
    np.less(raw, thr.lead, out=keep)
    if thr.tie:
        where = (raw == thr.lead).nonzero()[0]
        if where.size:  # a word's top 56 bits are below rest  <=>  word < rest * 2**8
            keep[where] = bitgen.random_raw(where.size) < thr.tie
    return None


_local = threading.local()  # per thread: a keep buffer and an SFC64 re-seeded per slab


def _scratch() -> np.ndarray:
    buf = getattr(_local, "keep", None)
    if buf is None:
        buf = _local.keep = np.empty(BLOCK, dtype=np.bool_)
    return buf


def _draw_range(bitgen, thr: Threshold, lo: int, hi: int, keep: Optional[np.ndarray],
                packed: Optional[np.ndarray], visit: Optional[Callable]) -> None:
    """Draw flat elements ``[lo, hi)`` block by block into ``keep`` (bool) and/or ``packed``
    (its ``np.packbits``), visiting each."""
    for a in range(lo, hi, BLOCK):
        b = min(a + BLOCK, hi)
        block = keep[a:b] if keep is not None else _scratch()[:b - a]
        drawn = draw_block(bitgen, thr, block)
        if packed is not None:
            packed[a // 8:(b + 7) // 8] = np.packbits(block) if drawn is None else drawn
        if visit is not None:
            visit(a, b, block)


class _SlabDraw:
    """A multi-slab draw, fixed at creation (its seeds), run whenever and on any threads."""

    def __init__(self, thr: Threshold, n: int, seeds: np.ndarray):
        self.thr, self.n, self.seeds = thr, n, seeds

    def __call__(self, packed: Optional[np.ndarray], visit: Optional[Callable] = None,
                 keep: Optional[np.ndarray] = None) -> None:
        def slab(lo: int, hi: int) -> None:
            bitgen = getattr(_local, "bitgen", None)
            if bitgen is None:
                bitgen = _local.bitgen = np.random.SFC64(0)
            a, b, c = self.seeds[lo // SLAB]
            state = np.array([a, b, c, 1], dtype=np.uint64)
            bitgen.state = {"bit_generator": "SFC64", "state": {"state": state},
                            "has_uint32": 0, "uinteger": 0}
            bitgen.random_raw(12)  # numpy's own SFC64 seeding discards 12 outputs
            _draw_range(bitgen, self.thr, lo, hi, keep, packed, visit)

        parallel_for(self.n, slab)


class FastSource:
    """A :class:`~npdrop.rng.MaskSource`: exact, blocked, packed, multi-threaded keep-masks.

    ``seed`` is anything ``numpy.random.SeedSequence`` takes (``None``: fresh OS entropy).
    ``uniform`` and ``normal`` draw from a ``numpy.random.Generator`` on the same SFC64.
    """

    def __init__(self, seed=None):
        self.seed_sequence = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        self.bit_generator = np.random.SFC64(self.seed_sequence)
        self.generator = np.random.Generator(self.bit_generator)

    def _slabs(self, thr: Threshold, n: int) -> _SlabDraw:
        key = self.bit_generator.random_raw(2)
        words = np.random.SeedSequence([int(k) for k in key]).generate_state(3 * -(-n // SLAB), np.uint64)
        return _SlabDraw(thr, n, words.reshape(-1, 3))

    def keep_mask(self, shape: tuple, p: float) -> np.ndarray:
        """Bool keep-mask of ``shape``, each element True with probability ``1 - p`` (exact)."""
        keep = np.empty(shape, dtype=np.bool_)
        flat, thr = keep.reshape(-1), threshold(p)
        if flat.size <= SLAB:
            _draw_range(self.bit_generator, thr, 0, flat.size, flat, None, None)
        else:
            self._slabs(thr, flat.size)(None, keep=flat)
        return keep

    def packed_keep_mask(self, shape: tuple, p: float) -> PackedKeep:
        """The same mask as :meth:`keep_mask` would draw, packed; large ones drawn lazily."""
        n, thr = math.prod(shape), threshold(p)
        if n <= BLOCK:  # one block: its bool mask is handed on with the packed one, saving an unpack
            keep = np.empty(n, dtype=np.bool_)
            packed = draw_block(self.bit_generator, thr, keep)
            return PackedKeep(shape, np.packbits(keep) if packed is None else packed, unpacked=keep)
        packed = np.empty((n + 7) // 8, dtype=np.uint8)
        if n > SLAB:
            return PackedKeep(shape, packed, self._slabs(thr, n))
        _draw_range(self.bit_generator, thr, 0, n, None, packed, None)
        return PackedKeep(shape, packed)

    def uniform(self, low: float, high: float, shape: tuple, dtype) -> np.ndarray:
        return self.generator.uniform(low, high, shape).astype(dtype, copy=False)

    def normal(self, shape: tuple, dtype) -> np.ndarray:
        return self.generator.standard_normal(shape).astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"FastSource(entropy={self.seed_sequence.entropy!r})"
