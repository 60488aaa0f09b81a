"""Exact fused multiply-add in NumPy: ``a * b + c`` with a single rounding, and the exact product.

NumPy has no fma ufunc, and torch's vectorised ``uniform_`` kernels round ``x * (b - a) + a``
once; :mod:`npdrop.torchrng` needs the same bits. The single rounding comes from error-free
transformations and rounding to odd (Boldo & Melquiond, "Emulation of FMA and correctly
rounded sums: proved algorithms using rounding to odd", IEEE Trans. Computers 57(4), 2008).
Valid while nothing overflows or underflows, which holds for uniform_'s |x| <= 1 and bounds
far from 1e±300.
"""
from __future__ import annotations

import numpy as np


def _two_sum(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(s, e) with s = RN(a + b) and a + b = s + e exactly (Knuth's TwoSum)."""
    s = a + b
    bb = s - a
    e = (a - (s - bb)) + (b - bb)
    return s, e


def two_prod(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(p, e) with p = RN(a * b) and a * b = p + e exactly (Veltkamp split + Dekker)."""
    split = 134217729.0  # 2**27 + 1 splits a double into two 26-bit halves
    t = split * a
    ah = t - (t - a)
    al = a - ah
    t = split * b
    bh = t - (t - b)
    bl = b - bh
    p = a * b
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    return p, e


def _add_round_to_odd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a + b`` rounded to odd in double: exact sums stay, inexact ones take the neighbour
    whose last mantissa bit is 1.

    Why it helps: rounding to odd at 53 bits and then to nearest at p <= 51 bits equals one
    rounding to nearest at p bits (no double-rounding error), and it is the inner step of
    the emulated FMA.
    """
    s, e = _two_sum(a, b)
    even = (s.view(np.int64) & 1) == 0
    fix = (e != 0) & even
    if fix.any():
        # Adjacent doubles of one sign are consecutive integers in their bit pattern, so
        # exactly one of s and its neighbour towards the true sum (the side e points to) is odd.
        s = np.where(fix, np.nextafter(s, np.where(e > 0, np.inf, -np.inf)), s)
    return s


def fma64(a: np.ndarray, b: np.ndarray, c) -> np.ndarray:
    """``a * b + c`` in float64 with one rounding, like C's ``fma``."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    uh, ul = two_prod(a, b)
    th, tl = _two_sum(c, uh)
    return th + _add_round_to_odd(tl, ul)


def fma32(a: np.ndarray, b: np.ndarray, c) -> np.ndarray:
    """``a * b + c`` on float32 operands with one rounding to float32, like C's ``fmaf``.

    The product of two 24-bit significands is exact in a double; the sum rounded to odd at
    53 >= 24 + 2 bits then rounds to the correctly rounded float32.
    """
    a = np.asarray(a, dtype=np.float32).astype(np.float64)
    b = np.asarray(b, dtype=np.float32).astype(np.float64)
    c = np.asarray(c, dtype=np.float32).astype(np.float64)
    return _add_round_to_odd(a * b, c).astype(np.float32)
