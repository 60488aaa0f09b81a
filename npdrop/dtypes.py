"""The float dtypes npdrop computes in: float16, float32, float64, and bfloat16 from ``ml_dtypes``.

NumPy has no bfloat16; the optional ``ml_dtypes`` package (the NumPy dtype extensions JAX
uses, ``pip install npdrop[bfloat16]``) registers one, of kind ``'V'``. npdrop never imports
it: a bfloat16 array is recognised by its dtype's name, so the runtime stays numpy-only,
and whoever holds such an array has the package. Its arithmetic, like torch's CPU bfloat16
kernels, computes in float32 and rounds to nearest-even once per operation.
"""
from __future__ import annotations

import numpy as np

#: NumPy's own float dtypes that torch has too (no float128).
NUMPY_FLOATS = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))


def is_bfloat16(dtype) -> bool:
    """Whether ``dtype`` is ``ml_dtypes.bfloat16``."""
    dtype = np.dtype(dtype)
    return dtype.kind == "V" and dtype.name == "bfloat16" and dtype.itemsize == 2


def is_float(dtype) -> bool:
    """Any NumPy float kind, or bfloat16."""
    dtype = np.dtype(dtype)
    return dtype.kind == "f" or is_bfloat16(dtype)


def opmath(dtype) -> type:
    """The type torch computes a scalar step in for tensors of ``dtype`` (``at::opmath_type``):
    float32 for the 16-bit floats, otherwise the dtype itself."""
    dtype = np.dtype(dtype)
    return np.float32 if dtype == np.float16 or is_bfloat16(dtype) else dtype.type


def finfo(dtype):
    """``np.finfo`` for NumPy's floats, ``ml_dtypes.finfo`` for bfloat16."""
    if is_bfloat16(dtype):
        import ml_dtypes  # installed: there is a bfloat16 dtype to ask about

        return ml_dtypes.finfo(dtype)
    return np.finfo(dtype)
