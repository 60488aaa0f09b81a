"""Comparing results the way the conformance suite reports them: shape, dtype, then values.

Numpy only (a torch tensor is accepted and converted, without importing torch), so
:func:`assert_same` serves any test; :mod:`npdrop.testing.inject` re-exports it.
"""
from __future__ import annotations

import os
from typing import Optional

import numpy as np

from ..dtypes import is_float


def to_numpy(value) -> np.ndarray:
    """A numpy view of a tensor (detached, on the CPU) or ``np.asarray`` of anything else.

    A bfloat16 tensor, which ``Tensor.numpy()`` refuses, comes back as an ``ml_dtypes.bfloat16``
    array through a 16-bit integer view (same bits, same strides).
    """
    if hasattr(value, "detach") and hasattr(value, "resolve_conj"):  # a torch tensor, duck-typed
        t = value.detach().cpu().resolve_conj().resolve_neg()
        if str(t.dtype) == "torch.bfloat16":
            import ml_dtypes  # a bfloat16 tensor to compare: the optional bfloat16 extra is needed
            import torch  # there is a tensor, so torch is there

            return t.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
        return t.numpy()
    return np.asarray(value)


#: ``torch.testing.assert_close``'s default (rtol, atol) per dtype name.
DEFAULT_TOLERANCE = {"float16": (1e-3, 1e-5), "bfloat16": (1.6e-2, 1e-5), "float32": (1.3e-6, 1e-5),
                     "float64": (1e-7, 1e-7)}


class Mismatch(AssertionError):
    """A failed :func:`assert_same`; ``.what`` names the property, ``.kind`` is "shape",
    "dtype" or "values"."""

    def __init__(self, message: str, what: str, kind: str):
        super().__init__(message)
        self.what, self.kind = what, kind


def ulp_distance(a, b) -> np.ndarray:
    """Element-wise distance in units in the last place between two arrays of one float dtype.

    Counts the representable values between ``a`` and ``b`` (+0 and -0 are one value), as
    float64: exact below 2**53. NaN against anything gives NaN.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or not is_float(a.dtype):
        raise TypeError(f"ulp_distance needs two arrays of one float dtype, got {a.dtype} and {b.dtype}")
    signed = np.dtype(f"i{a.dtype.itemsize}")
    lowest = np.iinfo(signed).min

    def ordered(v):
        bits = np.ascontiguousarray(v).view(signed).astype(np.int64)
        return np.where(bits < 0, lowest - bits, bits).astype(np.float64)

    out = np.abs(ordered(a) - ordered(b))
    return np.where(np.isnan(a) | np.isnan(b), np.nan, out)


def _same_bits(a: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Bit equality, every NaN counting as one value (IEEE leaves a new NaN's payload and sign
    to the hardware)."""
    unsigned = np.dtype(f"u{a.dtype.itemsize}")
    bits = np.ascontiguousarray(a).view(unsigned) == np.ascontiguousarray(e).view(unsigned)
    return bits | (np.isnan(a) & np.isnan(e))


def _describe(v) -> str:
    v = np.asarray(v)
    bits = v.reshape(1).view(f"u{v.itemsize}")[0]
    return f"{v[()]!r}".replace("np.", "") + f" (bits 0x{int(bits):0{2 * v.itemsize}x})"


def _repro_hint() -> str:
    test = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]
    return f"python -m pytest '{test}'" if test else ""


def assert_same(actual, expected, *, exact: bool = True, rtol: Optional[float] = None,
                atol: Optional[float] = None, what: str = "output", variant: str = "?", p=None,
                dtype=None, shape=None, repro: Optional[str] = None, against: str = "torch") -> None:
    """Check ``actual`` (numpy, or a tensor) against ``expected`` (a tensor, or numpy).

    Shape first, then dtype, then values, like tinygrad's ``helper_test_op``. ``exact``:
    equal bits (NaNs equal, +0 and -0 differ); otherwise ``|a - e| <= atol + rtol * |e|``
    with NaN where NaN and infinities equal (default tolerances: torch.testing's for the
    dtype). On failure raises :class:`Mismatch` whose message names the property
    (``what``), the variant, ``p``, dtype and shape, says how far off (mismatch count,
    largest ULP distance and absolute error, first mismatching index) and ends with a
    reproduction hint (``repro``, or the current pytest node id). ``against`` names what
    ``expected`` is ("torch", "the input", ...).
    """
    a, e = to_numpy(actual), to_numpy(expected)
    dtype = np.dtype(dtype) if dtype is not None else e.dtype
    shape = tuple(shape) if shape is not None else e.shape
    where = f"[{variant}, {p if isinstance(p, str) else f'p={p}'}, {dtype}, shape {shape}]"
    tail = repro if repro is not None else _repro_hint()
    tail = f"\n  repro: {tail}" if tail else ""
    if a.shape != e.shape:
        raise Mismatch(f"{what}: shape {a.shape}, but should be {e.shape} {where}{tail}", what, "shape")
    if a.dtype != e.dtype:
        raise Mismatch(f"{what}: dtype {a.dtype}, but should be {e.dtype} {where}{tail}", what, "dtype")
    if not is_float(a.dtype):
        ok = a == e
    elif exact:
        ok = _same_bits(a, e)
    else:
        r, t = DEFAULT_TOLERANCE.get(a.dtype.name, (0.0, 0.0))
        r, t = r if rtol is None else rtol, t if atol is None else atol
        with np.errstate(invalid="ignore", over="ignore"):
            diff = np.abs(a.astype(np.float64) - e.astype(np.float64))
            ok = (diff <= t + r * np.abs(e.astype(np.float64))) | (np.isnan(a) & np.isnan(e)) | (a == e)
    if ok.all():
        return
    bad = ~ok
    first = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), a.shape))
    finite = bad & np.isfinite(a) & np.isfinite(e)
    parts = [f"{int(bad.sum())} of {a.size} elements differ"]
    if finite.any() and is_float(a.dtype):
        with np.errstate(over="ignore"):
            err = np.abs(a[finite].astype(np.float64) - e[finite].astype(np.float64))
        parts.append(f"max {np.nanmax(ulp_distance(a[finite], e[finite])):.0f} ULP")
        parts.append(f"max abs error {err.max():.3g}")
    if (bad & ~(np.isfinite(a) & np.isfinite(e))).any():
        parts.append(f"{int((bad & ~(np.isfinite(a) & np.isfinite(e))).sum())} involve NaN/inf")
    if exact and finite.any() and not (a[finite] != e[finite]).any():
        parts.append("only the sign of zero differs")
    mode = "bit for bit" if exact else f"within rtol={r:g}, atol={t:g}"
    raise Mismatch(
        f"{what} differs from {against} {mode} {where}: " + ", ".join(parts)
        + f"; first at index {first}: got {_describe(a[first])}, expected {_describe(e[first])}{tail}",
        what, "values")
