"""The same masks on both sides: inject keep-masks into torch's dropout, or record torch's own.

Importing this module imports torch (``npdrop`` itself never does)::

    from npdrop.torch import inject_masks, record_masks, assert_same

    keep = np.random.default_rng(0).random((4, 5)) >= 0.3          # True = kept
    with inject_masks([keep]):
        expected = torch.nn.Dropout(0.3)(torch.from_numpy(x))      # torch uses `keep`
    assert_same(npdrop.Dropout(0.3)(x, mask=keep), expected, what="forward")

How: torch's dropout modules are composite, so a ``TorchDispatchMode`` sees the random draw
as one ATen op. Three ops are answered ("draw sites"): ``aten.bernoulli_.float`` (eager
dropout of every variant, ``MultiheadAttention``, ``LSTM``, SDPA's math path),
``aten.bernoulli.p`` (the same draw under ``torch.func`` transforms) and
``aten.native_dropout.default`` (the fused path taken on CUDA; answered as
``x * (mask * (1/(1-p)))`` with the noise rounded to the dtype, which is what torch's CPU
kernel computes, bit for bit; CUDA's fused kernel is not yet compared). Every other op runs untouched.

Masks: one per draw site, in draw order, as numpy arrays or tensors of bool (or 0/1
values), True meaning *kept*. A mask is read in C order of the site's logical shape: one of
exactly that shape is used as is; one with the same number of elements but another shape is
reshaped (so npdrop's ``(C, 1)`` mask serves torch's unbatched ``(1, C, 1)`` draw and a
``(N, H, L, S)`` mask serves MultiheadAttention's ``(N*H, L, S)`` draw); any other element
count is an error naming the draw, its op and shape.

Pitfalls: the mode catches *every* ``bernoulli_`` in the region, not only dropout's (narrow
it with ``match=``); activation checkpointing re-runs the forward during backward and asks
for the masks again; any dispatch mode makes ``torch.compile`` fall back to eager.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Optional

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["DrawSite", "MaskInjectionError", "Mismatch", "Recording", "assert_same",
           "inject_masks", "record_masks", "to_numpy", "ulp_distance"]

_aten = torch.ops.aten
_DRAW_OPS = {
    _aten.bernoulli_.float: "bernoulli_.float",
    _aten.bernoulli.p: "bernoulli.p",
    _aten.native_dropout.default: "native_dropout",
}


class MaskInjectionError(RuntimeError):
    """A draw found no usable mask, or masks were left over (strict mode)."""


@dataclass(frozen=True)
class DrawSite:
    """One random draw torch made (or would have made) inside a region."""

    index: int            #: position among the region's draw sites, from 0
    op: str               #: "bernoulli_.float", "bernoulli.p" or "native_dropout"
    shape: tuple          #: the drawn tensor's logical shape
    keep_prob: float      #: probability of a 1 (for dropout: 1 - p)
    dtype: torch.dtype
    device: str

    def __str__(self) -> str:
        return (f"draw #{self.index} (aten.{self.op}, shape {self.shape}, "
                f"keep probability {self.keep_prob:g}, {self.dtype}, {self.device})")


def to_numpy(value) -> np.ndarray:
    """A numpy view of a tensor (detached, on the CPU) or ``np.asarray`` of anything else."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().resolve_conj().resolve_neg().numpy()
    return np.asarray(value)


def _as_mask(mask, number: int) -> torch.Tensor:
    """Mask ``number`` as a CPU bool tensor; only bool or 0/1 values are accepted."""
    t = mask.detach().cpu() if isinstance(mask, torch.Tensor) else torch.from_numpy(np.array(mask))
    if t.dtype != torch.bool:
        if t.is_complex() or not bool(((t == 0) | (t == 1)).all()):
            raise MaskInjectionError(f"mask {number}: expected bool (or 0/1) keep-mask values, got {t.dtype}")
        t = t != 0
    return t


def _site(func, args, kwargs, index: int) -> Optional[DrawSite]:
    """The draw ``func(*args)`` makes, or None when it draws nothing (native_dropout in eval)."""
    name = _DRAW_OPS[func]
    t = args[0]
    if name == "native_dropout":
        train = args[2] if len(args) > 2 else kwargs.get("train")
        if train is False or t.numel() == 0:
            return None
        keep = 1.0 - float(args[1] if len(args) > 1 else kwargs["p"])
    else:
        keep = float(args[1] if len(args) > 1 else kwargs.get("p", 0.5))
    return DrawSite(index, name, tuple(t.shape), keep, t.dtype, str(t.device))


class _DrawMode(TorchDispatchMode):
    """Shared bookkeeping: which ops draw, which sites the caller wants (``match``)."""

    def __init__(self, match: Optional[Callable[[DrawSite], bool]]):
        super().__init__()
        self.match = match
        self.sites: list[DrawSite] = []     # sites this mode answered / recorded
        self.passed: list[DrawSite] = []    # sites left to torch (not matched)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func not in _DRAW_OPS:
            return func(*args, **kwargs)
        site = _site(func, args, kwargs, len(self.sites) + len(self.passed))
        if site is None:
            return func(*args, **kwargs)
        if self.match is not None and not self.match(site):
            self.passed.append(site)
            return func(*args, **kwargs)
        return self.draw(func, args, kwargs, site)

    def draw(self, func, args, kwargs, site: DrawSite):  # pragma: no cover - abstract
        raise NotImplementedError


class _Injector(_DrawMode):
    """Answers each matched draw site with the next caller-supplied mask."""

    def __init__(self, masks, strict: bool, match):
        super().__init__(match)
        self.masks = [_as_mask(m, i) for i, m in enumerate(masks)]
        self.strict = strict
        self.used = 0

    @property
    def remaining(self) -> int:
        """Masks not yet used."""
        return len(self.masks) - self.used

    def draw(self, func, args, kwargs, site: DrawSite):
        if self.used >= len(self.masks):
            if self.strict:
                raise MaskInjectionError(
                    f"ran out of masks at {site}: {len(self.masks)} supplied, all used "
                    "(pass strict=False to let unmatched draws run for real)")
            self.passed.append(site)
            return func(*args, **kwargs)
        mask = self.masks[self.used]
        if mask.numel() != int(np.prod(site.shape, dtype=np.int64)):
            raise MaskInjectionError(
                f"mask {self.used} has shape {tuple(mask.shape)} ({mask.numel()} elements), but {site} "
                f"needs shape {site.shape}")
        mask = mask.reshape(site.shape)
        if self.strict and site.keep_prob in (0.0, 1.0) and bool(mask.all()) != (site.keep_prob == 1.0):
            raise MaskInjectionError(f"mask {self.used} contradicts the certain outcome of {site}")
        self.used += 1
        self.sites.append(site)
        x = args[0]
        mask = mask.to(x.device)
        if site.op == "bernoulli_.float":
            return x.copy_(mask)
        if site.op == "bernoulli.p":
            return mask.to(x.dtype)
        scale = 0.0 if site.keep_prob == 0.0 else 1.0 / site.keep_prob
        # Measured against torch's CPU kernel (2.13, float16/bfloat16 included): the noise
        # mask * (1/(1-p)) is rounded to the dtype first, then multiplied in.
        return x * (mask.to(x.dtype) * scale), mask.clone()


@contextlib.contextmanager
def inject_masks(masks: Iterable, *, strict: bool = True,
                 match: Optional[Callable[[DrawSite], bool]] = None) -> Iterator[_Injector]:
    """Within the block, torch's dropout draws take ``masks`` (True = kept), in order.

    Yields the injector: ``.sites`` (the :class:`DrawSite` s answered), ``.used``,
    ``.remaining``, ``.passed`` (sites left to torch). ``match(site)`` picks the draws to
    answer (default: all); unmatched ones draw for real. Strict (the default): running out
    of masks, or a mask contradicting a keep probability of 0 or 1, raises
    :class:`MaskInjectionError` at that draw, and masks left unused raise it at exit.
    ``strict=False`` lets draws beyond the last mask run for real and tolerates leftovers.

    The mode is removed on every exit, the body's exception included (the leftover check is
    skipped then, so the body's error is the one you see). Answered draws consume nothing
    from torch's generators: a region whose only random ops are injected leaves
    ``torch.get_rng_state()`` unchanged.
    """
    injector = _Injector(list(masks), strict, match)
    with injector:
        yield injector
    if strict and injector.remaining:
        left = [tuple(m.shape) for m in injector.masks[injector.used:]]
        raise MaskInjectionError(
            f"{injector.remaining} of {len(injector.masks)} masks were never used (shapes {left}); "
            f"the region drew {len(injector.sites)} time(s): {[str(s) for s in injector.sites]}")


class Recording(_DrawMode):
    """Lets torch draw and keeps a bool copy of each keep-mask: ``.masks`` and ``.sites``."""

    def __init__(self, match):
        super().__init__(match)
        self.masks: list[np.ndarray] = []

    def draw(self, func, args, kwargs, site: DrawSite):
        out = func(*args, **kwargs)
        drawn = out[1] if site.op == "native_dropout" else out
        self.masks.append((drawn != 0).cpu().numpy().copy())
        self.sites.append(site)
        return out


@contextlib.contextmanager
def record_masks(*, match: Optional[Callable[[DrawSite], bool]] = None) -> Iterator[Recording]:
    """Within the block torch draws as usual; the yielded :class:`Recording` keeps each
    keep-mask (numpy bool, the site's shape) in draw order, ready for ``inject_masks`` or
    npdrop's ``mask=``/``MaskQueue``."""
    recording = Recording(match)
    with recording:
        yield recording


# -- comparing results --------------------------------------------------------------------------

#: ``torch.testing.assert_close``'s default (rtol, atol) per dtype.
DEFAULT_TOLERANCE = {np.dtype(np.float16): (1e-3, 1e-5), np.dtype(np.float32): (1.3e-6, 1e-5),
                     np.dtype(np.float64): (1e-7, 1e-7)}


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
    if a.dtype != b.dtype or a.dtype.kind != "f":
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
    where = f"[{variant}, p={p}, {dtype}, shape {shape}]"
    tail = repro if repro is not None else _repro_hint()
    tail = f"\n  repro: {tail}" if tail else ""
    if a.shape != e.shape:
        raise Mismatch(f"{what}: shape {a.shape}, but should be {e.shape} {where}{tail}", what, "shape")
    if a.dtype != e.dtype:
        raise Mismatch(f"{what}: dtype {a.dtype}, but should be {e.dtype} {where}{tail}", what, "dtype")
    if a.dtype.kind != "f":
        ok = a == e
    elif exact:
        ok = _same_bits(a, e)
    else:
        r, t = DEFAULT_TOLERANCE.get(a.dtype, (0.0, 0.0))
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
    if finite.any() and a.dtype.kind == "f":
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
