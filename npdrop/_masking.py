"""The one masking path every dropout variant runs through.

A variant only decides the *shape* of its noise and an *affine rule*; this module applies
``out = x * noise (+ shift)`` and its backward ``grad_x = grad * noise``. The noise is kept
in the form backward needs and nothing more:

- :class:`BernoulliNoise`: a keep-mask (stored as packed bits, 1/8 byte per element) plus the
  value a kept unit is multiplied by and the shifts for kept and dropped units;
- :class:`ConstantNoise`: one scalar for every element (p == 1, or the eval scale of the
  original, non-inverted dropout);
- :class:`DenseNoise`: an arbitrary float noise array (Gaussian dropout).

Bit-exactness with torch: torch builds ``noise = keep.to(dtype) / (1 - p)`` and returns
``x * noise``. Multiplying by the 0/1 mask *first* and by the scale second gives the same
bits for every input, including ``inf * 0 = nan`` on dropped units and huge kept values
(``x * scale`` first would overflow a dropped ``x`` to inf and then give nan, not 0).

Speed: an element-wise mask is applied in cache-sized blocks of :data:`BLOCK` elements,
unpacking one block of bits at a time, so neither forward nor backward makes a full-size
temporary; arrays of several slabs are cut into slabs that can run on a few threads
(:mod:`npdrop._parallel`; each slab's result is fixed, so the thread count never changes a bit).
A mask still to be drawn (a pending :class:`PackedKeep`, from
:class:`npdrop.fastmask.FastSource`) is drawn *while* it is applied, block by block.
"""
from __future__ import annotations

import math
from typing import Callable, Iterator, Optional

import numpy as np

from ._parallel import parallel_for

#: Elements per block: a float32 block of x and of out plus its mask stay in L2 (256 KiB
#: each); below about 16K elements the per-call Python overhead of numpy dominates.
BLOCK = 1 << 16


class PackedKeep:
    """A keep-mask of ``shape`` held packed: ``packed`` is its ``np.packbits`` (C order, zero padding bits).

    A ``drawer`` means the mask is not drawn yet: ``drawer(packed, visit)`` fills it and, if
    ``visit`` is given, calls ``visit(lo, hi, keep)`` with each block's bool mask as it goes.
    They are drawn exactly once, by :meth:`fill`; every reader calls it first. ``unpacked``
    (optional) is the same mask as a flat bool array, handed to the first reader and dropped,
    which spares a small mask an unpack right after its draw.
    """

    def __init__(self, shape: tuple, packed: np.ndarray, drawer: Optional[Callable] = None,
                 unpacked: Optional[np.ndarray] = None):
        self.shape, self.packed, self._drawer, self._unpacked = tuple(shape), packed, drawer, unpacked
        self.size = math.prod(self.shape)

    @property
    def pending(self) -> bool:
        return self._drawer is not None

    def fill(self, visit: Optional[Callable[[int, int, np.ndarray], None]] = None) -> None:
        drawer, self._drawer = self._drawer, None
        if drawer is not None:
            try:
                drawer(self.packed, visit)
            except BaseException:
                self._drawer = drawer  # the drawer is replayable: its streams are fixed
                raise

    def take_flat(self) -> np.ndarray:
        """The mask as a new flat bool array (the draw's own copy, the first time)."""
        flat, self._unpacked = self._unpacked, None
        if flat is None:
            self.fill()
            flat = np.unpackbits(self.packed, count=self.size).view(np.bool_)
        return flat

    def unpack(self) -> np.ndarray:
        return self.take_flat().reshape(self.shape)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        # A rule may treat its keep-mask as an array (np.where(keep, ...)): give it the bools.
        keep = self.unpack()
        return keep if dtype is None else keep.astype(dtype)


def unpack_range(packed: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """The keep-mask (bool) of flat elements ``[lo, hi)`` from the ``np.packbits`` array ``packed``."""
    first = lo // 8
    return np.unpackbits(packed[first:(hi + 7) // 8])[lo - 8 * first:hi - 8 * first].view(np.bool_)


def flat_view(a: np.ndarray) -> Optional[np.ndarray]:
    """``a`` as a 1-D view in C order, or ``None`` when that would need a copy."""
    return a.reshape(-1) if a.flags.c_contiguous else None


def chunks(shape: tuple, block: int) -> Iterator[tuple]:
    """``(index, lo, hi)``: C-order pieces ``a[index]`` of about ``block`` elements, flat ``[lo, hi)``."""
    axis, inner = len(shape), 1
    while axis > 0 and inner * shape[axis - 1] <= block:
        axis -= 1
        inner *= shape[axis]
    if axis == 0:
        yield (), 0, inner
        return
    axis -= 1  # split this axis in steps of `step`, one outer index at a time
    step, span = max(1, block // inner), inner * shape[axis]
    for k, outer in enumerate(np.ndindex(*shape[:axis])):
        for j in range(0, shape[axis], step):
            j1 = min(j + step, shape[axis])
            yield outer + (slice(j, j1),), k * span + j * inner, k * span + j1 * inner


class BernoulliNoise:
    """``noise = keep * scale`` and ``shift = where(keep, shift_keep, shift_drop)``.

    ``keep`` has the variant's noise shape (broadcastable to the input): a bool array, or a
    :class:`PackedKeep` (bits already packed, possibly still to be drawn). ``scale`` and the
    shifts are scalars of the input's dtype, already rounded the way torch rounds them.
    """

    def __init__(self, keep, scale, shift=None):
        self.shape = tuple(keep.shape)
        self.scale = scale
        self.shift = shift  # None, or (shift_keep, shift_drop)
        self._keep = keep if isinstance(keep, PackedKeep) else PackedKeep(self.shape, np.packbits(keep, axis=None))

    @property
    def keep(self) -> np.ndarray:
        """The boolean keep-mask, unpacked."""
        return self._keep.unpack()

    @property
    def nbytes(self) -> int:
        """Bytes held for backward."""
        return self._keep.packed.nbytes

    def _block(self, src: np.ndarray, keep: np.ndarray, dst: np.ndarray, shift: bool) -> None:
        # Mask first, then scale: see the module docstring.
        np.multiply(src, keep, out=dst)
        np.multiply(dst, self.scale, out=dst)
        if shift and self.shift is not None:
            shift_keep, shift_drop = self.shift
            np.add(dst, np.where(keep, shift_keep, shift_drop), out=dst)

    def _blocked(self, src: np.ndarray, dst: np.ndarray, shift: bool) -> np.ndarray:
        """``dst = src * keep * scale (+ shift)`` over an element-wise mask, block by block."""
        keep = self._keep
        if src.size <= BLOCK:  # one block, any layout: no slabs, no views
            self._block(src, keep.take_flat().reshape(src.shape), dst, shift)
            return dst
        fsrc, fdst = flat_view(src), flat_view(dst)
        if fsrc is not None and fdst is not None:
            if keep.pending:  # the fused path: draw each block and apply it at once
                keep.fill(lambda lo, hi, block: self._block(fsrc[lo:hi], block, fdst[lo:hi], shift))
                return dst

            def run(lo: int, hi: int) -> None:
                for a in range(lo, hi, BLOCK):
                    b = min(a + BLOCK, hi)
                    self._block(fsrc[a:b], unpack_range(keep.packed, a, b), fdst[a:b], shift)

            parallel_for(fsrc.size, run)
            return dst
        keep.fill()  # a non-contiguous view: C-order pieces of about one block each
        for index, lo, hi in chunks(src.shape, BLOCK):
            piece = unpack_range(keep.packed, lo, hi).reshape(src[index].shape)
            self._block(src[index], piece, dst[index], shift)
        return dst

    def _run(self, src: np.ndarray, dst: np.ndarray, shift: bool) -> np.ndarray:
        if self.shape != src.shape:  # broadcast (channel) noise: the mask is small, unpack it whole
            self._block(src, self.keep, dst, shift)
            return dst
        return self._blocked(src, dst, shift)

    def apply(self, x: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        return self._run(x, np.empty(x.shape, dtype=x.dtype) if out is None else out, shift=True)

    def grad(self, grad: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        # The shift does not depend on x, so it has no gradient.
        return self._run(grad, np.empty(grad.shape, dtype=grad.dtype) if out is None else out, shift=False)


class ConstantNoise:
    """``noise = value`` everywhere: ``x * value`` (torch's p == 1 path is ``x * 0``)."""

    def __init__(self, value):
        self.value = value
        self.shape = ()

    nbytes = 0

    def apply(self, x: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        return np.multiply(x, self.value, out=out)

    def grad(self, grad: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        return np.multiply(grad, self.value, out=out)


class DenseNoise:
    """An explicit float noise array, multiplied in: ``x * noise``.

    ``keep`` optionally records the keep-mask the noise was built from (for inspection).
    """

    def __init__(self, noise: np.ndarray, keep: Optional[np.ndarray] = None):
        self.noise = noise
        self.shape = noise.shape
        self.keep = keep

    @property
    def nbytes(self) -> int:
        return self.noise.nbytes

    def apply(self, x: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        return np.multiply(x, self.noise, out=out)

    def grad(self, grad: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        return np.multiply(grad, self.noise, out=out)


def apply_noise(x: np.ndarray, noise, inplace: bool, out: np.ndarray | None = None) -> np.ndarray:
    """Forward: ``x * noise (+ shift)``, written into ``x`` itself when ``inplace``, else into ``out``.

    ``out`` (checked by the caller: :func:`npdrop._checks.check_out`) spares a large forward
    the kernel's zeroing of a fresh output; with no noise (the identity) ``x`` is copied into it.
    """
    if noise is None:
        if out is not None:
            np.copyto(out, x)
            return out
        return x
    if inplace:
        if not x.flags.writeable:
            raise ValueError("inplace=True needs a writeable input array")
        if np.broadcast_shapes(x.shape, noise.shape) != x.shape:
            raise ValueError(f"inplace=True: noise of shape {noise.shape} does not broadcast to the input {x.shape}")
        return noise.apply(x, out=x)
    return noise.apply(x, out=out)


def noise_grad(grad: np.ndarray, noise, out: np.ndarray | None = None) -> np.ndarray:
    """Backward: ``grad * noise``, into ``out`` if given; the identity when the forward was."""
    if noise is None:
        if out is not None:
            np.copyto(out, grad)
            return out
        return grad
    return noise.grad(grad, out)
