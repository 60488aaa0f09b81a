"""MLX code: ``mx.array`` in and out, MLX's global generator, ``mx.vjp`` for a missing backward.

Handed NumPy arrays, MLX code computes nonsense: ``mx_bool_array * ndarray`` is NumPy's
product of an ``mx.array`` it cannot read, which returns the mask itself. With its own arrays
``mlx.nn.Dropout`` multiplies like torch.

``mx.vjp(f, primals, cotangents)`` runs the forward and the pullback together, given the
cotangent; the suite knows the upstream gradient only after it has read the forward's
output. So each forward runs with MLX's global generator freshly seeded (from a draw of that
generator, seeded per test), and its backward reruns it under ``mx.vjp`` with the same seed:
the same mask, for a forward whose only randomness is MLX's generator. A rerun that gives
another output (a forward with state of its own) cannot be differentiated this way, and says so.
"""
from __future__ import annotations

import sys

import numpy as np

from .arrays import NumpyArrays, _as_numpy, _copy, _same_bits
from .usercode import UserCodeError


class MlxArrays(NumpyArrays):
    """``mlx.core.array`` in and out; ``mx.vjp`` of a rerun of the forward for a missing backward."""

    name = "mlx"
    autodiff = "mx.vjp of the forward, rerun under the same MLX seed"

    def __init__(self):
        import mlx.core as mx

        self.mx = mx

    def native(self, x: np.ndarray):
        from npdrop.dtypes import is_bfloat16

        copy = _copy(x)
        if is_bfloat16(copy.dtype):   # MLX reads no ml_dtypes array: its bits, as bfloat16
            return self.mx.array(copy.view(np.uint16)).view(self.mx.bfloat16)
        if copy.dtype == np.float64:   # mx.array(ndarray) makes float64 float32 unless told: float64 runs on CPU
            return self.mx.array(copy, dtype=self.mx.float64)
        return self.mx.array(copy)

    def numpy(self, value):
        mx = self.mx
        if not isinstance(value, mx.array):
            return _as_numpy(value)
        if value.dtype == mx.bfloat16:
            from ml_dtypes import bfloat16

            return np.array(value.view(mx.uint16)).view(bfloat16)
        return np.array(value)

    def is_array(self, value) -> bool:
        return isinstance(value, self.mx.array)

    def forward_recording(self, function, x):
        mx = self.mx
        seed = int(mx.random.randint(0, 2 ** 31 - 1, ()).item())
        mx.random.seed(seed)
        out = function(x)
        first = self.numpy(out) if isinstance(out, mx.array) else None

        def backward(grad):
            if first is None:
                raise UserCodeError(f"the forward returned {type(out).__name__}, not an mx.array: no gradient "
                                    "can flow back through mx.vjp")
            mx.random.seed(seed)
            (again,), (gx,) = mx.vjp(function, [x], [self.native(grad).astype(out.dtype)])
            if not _same_bits(self.numpy(again), first):
                raise UserCodeError("the forward, rerun under the same MLX seed to be differentiated by mx.vjp, gave "
                                    "another output: it draws from more than MLX's global generator, or keeps state "
                                    "between calls; give it a backward of its own")
            return gx

        return out, x, backward

    def describe(self) -> str:
        return "mlx arrays"


def seed(seed32: int) -> None:
    """Seed MLX's global generator, where the implementation imported MLX."""
    core = sys.modules.get("mlx.core")
    if core is not None and hasattr(getattr(core, "random", None), "seed"):
        core.random.seed(seed32)
