"""The same masks on both sides: inject keep-masks into torch's dropout, or record torch's own.

Importing this module imports torch (``npdrop`` itself never does)::

    from npdrop.testing.inject import inject_masks, record_masks, assert_same

    keep = np.random.default_rng(0).random((4, 5)) >= 0.3          # True = kept
    with inject_masks([keep]):
        expected = torch.nn.Dropout(0.3)(torch.from_numpy(x))      # torch uses `keep`
    assert_same(npdrop.Dropout(0.3)(x, mask=keep), expected, what="forward")

A ``TorchDispatchMode`` answers torch's random draw (``aten.bernoulli_.float``,
``aten.bernoulli.p`` under ``torch.func``, ``aten.native_dropout.default``) with the mask given;
every other op runs untouched. README.md, "Injecting masks into torch", says how and where
it falls short.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Optional

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from .compare import DEFAULT_TOLERANCE, Mismatch, assert_same, to_numpy, ulp_distance  # noqa: F401
from ..dtypes import is_bfloat16

__all__ = ["DrawSite", "MaskInjectionError", "Mismatch", "Recording", "assert_same",
           "inject_masks", "record_masks", "to_numpy", "to_tensor", "ulp_distance"]

_aten = torch.ops.aten
_DRAW_OPS = {
    _aten.bernoulli_.float: "bernoulli_.float",
    _aten.bernoulli.p: "bernoulli.p",
    _aten.native_dropout.default: "native_dropout",
}


def to_tensor(a: np.ndarray) -> torch.Tensor:
    """``torch.from_numpy(a)`` for every dtype npdrop takes: same memory, same strides.

    An ``ml_dtypes.bfloat16`` array, which ``from_numpy`` refuses, goes through a 16-bit
    integer view of the same bits; :func:`to_numpy` is the way back.
    """
    if is_bfloat16(a.dtype):
        return torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(a)


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

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # Else torch wraps __torch_dispatch__ in dynamo's disable, whose first call imports
        # torch._dynamo: about 1 s of CPU in every process that injects a mask, for a mode that
        # never runs under torch.compile. (A torch without this hook wraps nothing.)
        return False

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

    A mask (bool or 0/1, numpy or torch) is read in C order: one with the draw's element
    count but another shape is reshaped to it (npdrop's ``(C, 1)`` serves torch's unbatched
    ``(1, C, 1)``); another count is an error naming the draw.

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
