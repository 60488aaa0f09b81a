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
"""
from __future__ import annotations

import numpy as np


class BernoulliNoise:
    """``noise = keep * scale`` and ``shift = where(keep, shift_keep, shift_drop)``.

    ``keep`` has the variant's noise shape (broadcastable to the input); ``scale`` and the
    shifts are scalars of the input's dtype, already rounded the way torch rounds them.
    """

    def __init__(self, keep: np.ndarray, scale, shift=None, *, pack: bool = True):
        self.shape = keep.shape
        self.scale = scale
        self.shift = shift  # None, or (shift_keep, shift_drop)
        self.packed = pack
        self._keep = np.packbits(keep, axis=None) if pack else np.ascontiguousarray(keep)

    @property
    def keep(self) -> np.ndarray:
        """The boolean keep-mask, unpacked."""
        if not self.packed:
            return self._keep
        n = int(np.prod(self.shape, dtype=np.int64))
        return np.unpackbits(self._keep, count=n).reshape(self.shape).view(np.bool_)

    @property
    def nbytes(self) -> int:
        """Bytes held for backward."""
        return self._keep.nbytes

    def apply(self, x: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        keep = self.keep
        out = np.multiply(x, keep, out=out)
        np.multiply(out, self.scale, out=out)
        if self.shift is not None:
            shift_keep, shift_drop = self.shift
            np.add(out, np.where(keep, shift_keep, shift_drop), out=out)
        return out

    def grad(self, grad: np.ndarray) -> np.ndarray:
        # The shift does not depend on x, so it has no gradient.
        out = np.multiply(grad, self.keep)
        return np.multiply(out, self.scale, out=out)

    def dense(self, dtype) -> np.ndarray:
        """The float noise tensor torch would hold (for inspection and tests)."""
        return (self.keep * self.scale).astype(dtype)


class ConstantNoise:
    """``noise = value`` everywhere: ``x * value`` (torch's p == 1 path is ``x * 0``)."""

    def __init__(self, value):
        self.value = value
        self.shape = ()

    nbytes = 0

    def apply(self, x: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        return np.multiply(x, self.value, out=out)

    def grad(self, grad: np.ndarray) -> np.ndarray:
        return np.multiply(grad, self.value)


class DenseNoise:
    """An explicit float noise array, multiplied in: ``x * noise``."""

    def __init__(self, noise: np.ndarray):
        self.noise = noise
        self.shape = noise.shape

    @property
    def nbytes(self) -> int:
        return self.noise.nbytes

    def apply(self, x: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        return np.multiply(x, self.noise, out=out)

    def grad(self, grad: np.ndarray) -> np.ndarray:
        return np.multiply(grad, self.noise)


def apply_noise(x: np.ndarray, noise, inplace: bool) -> np.ndarray:
    """Forward: ``x * noise (+ shift)``, written into ``x`` itself when ``inplace``."""
    if noise is None:
        return x
    if inplace:
        if not x.flags.writeable:
            raise ValueError("inplace=True needs a writeable input array")
        if np.broadcast_shapes(x.shape, noise.shape) != x.shape:
            raise ValueError(f"inplace=True: noise of shape {noise.shape} does not broadcast to the input {x.shape}")
        return noise.apply(x, out=x)
    return noise.apply(x, out=None)


def noise_grad(grad: np.ndarray, noise) -> np.ndarray:
    """Backward: ``grad * noise``; the identity when the forward was."""
    if noise is None:
        return grad
    return noise.grad(grad)
