"""Figures the conformance tests measure as they run, kept for :mod:`conformance.diagnose`.

A failing property says *what* broke; the figures recorded here say *how*: the ratio of the
output to torch's under the same mask, the kept fraction, the dtypes that came out, what
backward did after an evaluation forward. Each test records what it already computed (a
few cheap reductions on top). A record goes to the sink of the test that is running
(:func:`recording`): the conformance plugin opens one per test and puts its records on
that test's report (``user_properties``), so the process that assembles the matrix (the
only one, or pytest-xdist's controller) reads every figure from reports, and a run split
over workers diagnoses from the same evidence as a serial one. Outside a sink nothing is
recorded. :class:`Records` holds a run's records, keyed by kind and variant name.

Recording never changes a test's outcome: a figure that cannot be measured (a wrong
shape, a non-float output) is simply not recorded, so its diagnosis cannot fire.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterable, Optional

import numpy as np

from .variants import Variant

#: the name a test's records go under in its report's ``user_properties``
PROPERTY = "npdrop-evidence"

#: the list the running test's records are appended to (None: no test is recording)
_SINK: ContextVar = ContextVar("npdrop_evidence_sink", default=None)


class Records:
    """A run's records, ``(kind, variant name) -> [record, ...]`` in the order they were added."""

    def __init__(self, rows: Iterable = ()):
        self.by_key: dict = {}
        for kind, name, row in rows:
            self.by_key.setdefault((kind, name), []).append(row)

    def __call__(self, kind: str, name: str) -> list:
        """Everything recorded of ``kind`` for the variant named ``name``."""
        return self.by_key.get((kind, name), [])

    def __len__(self) -> int:
        return sum(len(v) for v in self.by_key.values())


@contextmanager
def recording(rows: Optional[list] = None):
    """Records made inside go to ``rows`` (a new list if None), which is yielded: rows of
    ``[kind, variant name, record]`` with plain JSON values, fit for a report."""
    rows = [] if rows is None else rows
    token = _SINK.set(rows)
    try:
        yield rows
    finally:
        _SINK.reset(token)


def recorded() -> Records:
    """The records made so far in the current sink (empty outside one)."""
    return Records(_SINK.get() or ())


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def _add(kind: str, variant: Variant, row: dict) -> None:
    sink = _SINK.get()
    if sink is not None:
        sink.append([kind, variant.name, {k: _plain(v) for k, v in row.items()}])


def _floats(*arrays) -> Optional[list]:
    """The arrays as numpy arrays if they all have one shape and a float dtype, else None."""
    arrays = [np.asarray(a) for a in arrays]
    if any(a.dtype.kind != "f" or a.shape != arrays[0].shape for a in arrays):
        return None
    return arrays


def _ratio(num: np.ndarray, den: np.ndarray) -> tuple:
    """``(median, spread, n)`` of num/den where both are finite and den is nonzero;
    spread is the largest relative distance of a ratio from the median."""
    a, b = num.astype(np.float64), den.astype(np.float64)
    use = np.isfinite(a) & np.isfinite(b) & (b != 0)
    if not use.any():
        return None, 0.0, 0
    r = a[use] / b[use]
    median = float(np.median(r))
    spread = float(np.max(np.abs(r - median))) / abs(median) if median else float(np.max(np.abs(r)))
    return median, spread, int(use.sum())


def compared(kind: str, variant: Variant, p: float, given, got, expected) -> None:
    """An output (``kind`` "forward") or input gradient ("backward") next to torch's under
    the same mask: their ratio, the dtypes, and NaNs where torch has none.

    ``given`` is what went in (the input, or the upstream gradient): its dtype is the one
    that should come out, and NaNs are only counted where it was finite.
    """
    arrays = _floats(given, got, expected)
    if arrays is None:
        return
    given, got, expected = arrays
    ratio, spread, n = _ratio(got, expected) if not variant.alpha else (None, 0.0, 0)
    nan = int((np.isnan(got) & ~np.isnan(expected) & np.isfinite(given)).sum())
    _add(kind, variant, dict(p=p, dtype=given.dtype.name, out_dtype=got.dtype.name, ratio=ratio,
                                        spread=spread, n=n, nan=nan, size=int(got.size)))


def nonfinite(variant: Variant, p: float, given, got, expected) -> None:
    """A forward on input with inf/NaN planted: how many non-finite inputs torch turned into
    NaN (a dropped inf: inf * 0) did not come out as NaN here, and how many of those were 0
    (a select, not a product)."""
    arrays = _floats(given, got, expected)
    if arrays is None:
        return
    given, got, expected = arrays
    lost = np.isnan(expected) & ~np.isfinite(given) & ~np.isnan(got)
    _add("nonfinite", variant, dict(p=p, lost=int(lost.sum()), zero=int((lost & (got == 0)).sum())))


@contextmanager
def raising(variant: Variant, p: float):
    """Around a training forward at ``p``: records the exception it raises (then re-raised)."""
    try:
        yield
    except Exception as exc:
        # the adapters wrap the user's exception (UserCodeError ... from exc): record the user's own
        own = exc.__cause__ if isinstance(exc.__cause__, Exception) else exc
        _add("raised", variant, dict(p=p, type=type(own).__name__, message=str(own)[:200]))
        raise


def dtype_out(variant: Variant, what: str, given, got) -> None:
    """The dtype ``what`` (training forward, backward, eval forward) returned for a ``given`` dtype."""
    _add("dtype", variant, dict(what=what, dtype=np.dtype(given).name,
                                           out_dtype=np.asarray(got).dtype.name))


def eval_output(variant: Variant, p: float, x, out) -> None:
    """An evaluation forward: the ratio of its output to its input, and over the finite nonzero
    inputs, how many came out 0 and how many scaled by 1/(1-p) (dropout still on)."""
    arrays = _floats(x, out)
    if arrays is None:
        return
    ratio, spread, n = _ratio(arrays[1], arrays[0])
    given, got = (a.astype(np.float64) for a in arrays)
    finite = np.isfinite(given) & (given != 0)
    zeros = int((finite & (got == 0)).sum())
    scaled = 0
    if p < 1:
        with np.errstate(all="ignore"):
            scaled = int((finite & (np.abs(got * (1 - p) - given) <= 1e-2 * np.abs(given))).sum())
    _add("eval", variant, dict(p=p, dtype=arrays[0].dtype.name, ratio=ratio, spread=spread, n=n,
                               finite=int(finite.sum()), zeros=zeros, scaled=scaled))


def no_eval_mode(variant: Variant) -> None:
    """The implementation has no evaluation mode the harness could find."""
    _add("eval", variant, dict(p=None, dtype=None, ratio=None, spread=0.0, n=0, missing=True))


def backward_after_eval(variant: Variant, layer, grad: np.ndarray, last_keep: Optional[np.ndarray] = None):
    """``layer.backward(grad)`` right after an evaluation forward, recording whether it
    raised, or was zero exactly where the last training forward (mask ``last_keep``,
    broadcast to ``grad``'s shape) dropped units. Returns the gradient; re-raises."""
    try:
        got = layer.backward(grad)
    except Exception as exc:
        _add("eval-backward", variant, dict(raised=f"{type(exc).__name__}: {exc}"[:200]))
        raise
    if last_keep is not None and _floats(got, grad) is not None:
        keep = np.broadcast_to(last_keep, grad.shape)
        pattern = np.asarray(got) != 0
        stale = bool(not keep.all() and np.array_equal(pattern, keep))
        _add("eval-backward", variant, dict(stale=stale, zeros=int((~pattern).sum()), size=grad.size))
    return got


def backward_pattern(variant: Variant, p: float, keep: np.ndarray, grad_in, shape: tuple) -> None:
    """``backward(ones)`` for an input of ``shape`` after a training forward with mask
    ``keep`` (noise-shaped): how many noise cells it let through, and on how many it agrees
    with the forward's mask."""
    got = np.asarray(grad_in)
    if got.shape != tuple(shape) or got.dtype.kind != "f":
        return
    through = np.any(got != 0, axis=variant.broadcast_axes(got.shape), keepdims=True).reshape(keep.shape)
    _add("pattern", variant, dict(p=p, cells=int(keep.size), through=int(through.sum()),
                                             agree=int((through == keep).sum())))


def kept(variant: Variant, p: float, count: int, cells: int) -> None:
    """The implementation's own draw at ``p`` kept ``count`` of ``cells`` noise cells."""
    _add("kept", variant, dict(p=p, count=int(count), cells=int(cells)))


def agreement(kind: str, variant: Variant, p: float, a: np.ndarray, b: np.ndarray) -> None:
    """Two masks that should be independent ("call": consecutive calls, "batch": samples
    of one batch): on how many cells they agree."""
    _add(kind, variant, dict(p=p, agree=int((a == b).sum()), cells=int(a.size),
                                        dropped=int(a.size - np.count_nonzero(a))))
