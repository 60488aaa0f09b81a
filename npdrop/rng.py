"""Where randomness comes from: the mask-source interface and ``rng=`` resolution.

Every layer draws through a *mask source*, never through the global ``np.random``. A source
is any object with the three methods of :class:`MaskSource`; layers call nothing else, so a
faster generator or a replay of torch's own stream slots in without touching them.

``rng=`` accepts what scientific Python code expects:

- ``None``: fresh, unpredictable entropy from the operating system;
- an ``int`` (or ``numpy.random.SeedSequence``): a reproducible stream for that seed, drawn
  by :class:`npdrop.fastmask.FastSource` (exact keep probability, one byte per element);
- a ``numpy.random.Generator``: drawn from directly, so layers holding the same generator
  share one stream and draw independent masks;
- any :class:`MaskSource` (such as ``npdrop.TorchCPUGenerator``): used as it is.
"""
from __future__ import annotations

import numbers
from typing import Protocol, Union, runtime_checkable

import numpy as np

from .fastmask import FastSource


@runtime_checkable
class MaskSource(Protocol):
    """The three draws npdrop's layers make.

    ``keep_mask`` is only called with ``0 < p < 1`` and a non-empty shape, matching torch,
    which draws nothing at eval, at p == 0, at p == 1 or for an empty tensor.
    """

    def keep_mask(self, shape: tuple[int, ...], p: float) -> np.ndarray:
        """Boolean array of ``shape`` (C order): each entry True with probability ``1 - p``."""

    def uniform(self, low: float, high: float, shape: tuple[int, ...], dtype) -> np.ndarray:
        """Array of ``shape`` and ``dtype`` drawn uniformly from ``[low, high)``."""

    def normal(self, shape: tuple[int, ...], dtype) -> np.ndarray:
        """Array of ``shape`` and ``dtype`` of independent standard normal draws."""


class NumpySource:
    """A :class:`MaskSource` over a ``numpy.random.Generator``.

    ``keep_mask`` compares a 53-bit uniform double with ``1 - p``, so the keep probability
    equals ``1 - p`` to within 2**-53: there is no 8- or 16-bit quantisation.
    """

    def __init__(self, generator: np.random.Generator):
        self.generator = generator

    def keep_mask(self, shape: tuple[int, ...], p: float) -> np.ndarray:
        return self.generator.random(shape) < (1.0 - p)

    def uniform(self, low: float, high: float, shape: tuple[int, ...], dtype) -> np.ndarray:
        return self.generator.uniform(low, high, shape).astype(dtype, copy=False)

    def normal(self, shape: tuple[int, ...], dtype) -> np.ndarray:
        return self.generator.standard_normal(shape).astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"NumpySource({self.generator!r})"


RNGLike = Union[None, int, np.random.SeedSequence, np.random.Generator, MaskSource]


def default_source(seed=None) -> MaskSource:
    """The source ``rng=None`` and ``rng=<seed>`` resolve to: :class:`npdrop.fastmask.FastSource`.

    Its keep probability is exact to 2**-64 at about one random byte per element, and its
    masks do not depend on the thread count (see :mod:`npdrop.fastmask`).
    """
    return FastSource(seed)


_SOURCE_METHODS = ("keep_mask", "uniform", "normal")
_source_classes: set = set()  # classes whose instances all have the three methods


def _is_source(rng) -> bool:
    # Duck typing, not isinstance(rng, MaskSource): a runtime Protocol check is slow, and
    # layers resolve rng= on every call. A class that defines the methods is remembered.
    cls = type(rng)
    if cls in _source_classes:
        return True
    if all(callable(getattr(cls, name, None)) for name in _SOURCE_METHODS):
        _source_classes.add(cls)
        return True
    return all(callable(getattr(rng, name, None)) for name in _SOURCE_METHODS)


def as_source(rng: RNGLike) -> MaskSource:
    """Resolve an ``rng=`` argument to a :class:`MaskSource` (see the module docstring)."""
    if rng is None:
        return default_source()
    if _is_source(rng):
        return rng
    if isinstance(rng, np.random.Generator):
        return NumpySource(rng)
    if isinstance(rng, np.random.RandomState) or rng is np.random:
        raise TypeError(
            "rng= does not take numpy's legacy RandomState or the global np.random: "
            "pass a seed or a numpy.random.Generator"
        )
    if isinstance(rng, (numbers.Integral, np.random.SeedSequence)) and not isinstance(rng, bool):
        if isinstance(rng, numbers.Integral) and rng < 0:
            raise ValueError(f"rng seed must be non-negative, got {rng}")
        return default_source(rng)
    raise TypeError(
        "rng= takes None, an int seed, a numpy.random.SeedSequence, a numpy.random.Generator "
        f"or a mask source with keep_mask/uniform/normal; got {type(rng).__name__}"
    )


class MaskQueue:
    """A :class:`MaskSource` that hands out caller-supplied keep-masks, in order.

    This is how identical masks reach npdrop when a whole model runs (the conformance
    harness feeds the same list to torch): each ``keep_mask`` call takes the next mask and
    checks that its shape is the one the layer asked for. Running out, or a shape
    mismatch, is an error naming the call; nothing is silently redrawn.
    """

    def __init__(self, masks=(), *, fallback: RNGLike = "error"):
        self._masks = [np.asarray(m) for m in masks]
        self._next = 0
        self._fallback = None if isinstance(fallback, str) else as_source(fallback)

    def push(self, mask) -> None:
        self._masks.append(np.asarray(mask))

    @property
    def remaining(self) -> int:
        return len(self._masks) - self._next

    def keep_mask(self, shape: tuple[int, ...], p: float) -> np.ndarray:
        call = self._next
        if call >= len(self._masks):
            raise RuntimeError(
                f"MaskQueue ran out of masks: draw #{call} asked for shape {tuple(shape)} at p={p}, "
                f"but only {len(self._masks)} masks were supplied"
            )
        mask = self._masks[call]
        if mask.dtype != np.bool_ or mask.shape != tuple(shape):
            raise ValueError(
                f"MaskQueue draw #{call}: expected a bool mask of shape {tuple(shape)}, "
                f"got {mask.dtype} of shape {mask.shape}"
            )
        self._next += 1
        return mask

    def uniform(self, low, high, shape, dtype):
        return self._draw_fallback("uniform").uniform(low, high, shape, dtype)

    def normal(self, shape, dtype):
        return self._draw_fallback("normal").normal(shape, dtype)

    def _draw_fallback(self, what: str) -> MaskSource:
        if self._fallback is None:
            raise RuntimeError(f"MaskQueue only supplies keep-masks; a {what} draw needs fallback=<rng>")
        return self._fallback
