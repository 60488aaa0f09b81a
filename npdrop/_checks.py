"""Argument checks shared by every layer: each failure names the argument and its value."""
from __future__ import annotations

import math
import numbers

import numpy as np

from .dtypes import NUMPY_FLOATS, is_bfloat16, is_float
from .errors import ComplexInputError, DropoutTypeError, DropoutValueError


def check_p(p, caller: str = "dropout") -> float:
    """Return ``p`` as a float in [0, 1]; ``ValueError`` naming p otherwise.

    Torch's check is ``p < 0 or p > 1``, which lets NaN through and then fails (or not) at
    forward time; npdrop rejects NaN up front.
    """
    if type(p) is float and 0.0 <= p <= 1.0:  # the common case, without the ABC check below
        return p
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"{caller}: dropout probability p must be a real number, got {type(p).__name__} {p!r}")
    p = float(p)
    if math.isnan(p) or p < 0.0 or p > 1.0:
        # torch: ValueError for p outside [0, 1] (a Python check), RuntimeError for NaN (ATen's)
        error = DropoutValueError if math.isnan(p) else ValueError
        raise error(f"dropout probability has to be between 0 and 1, but got {p}")
    return p


def check_input(x, caller: str) -> np.ndarray:
    """Return ``x`` as an ndarray of a supported float dtype, or raise ``TypeError``."""
    if not isinstance(x, np.ndarray):
        if hasattr(x, "__array__") or isinstance(x, (list, tuple, numbers.Number)):
            x = np.asarray(x)
        else:
            raise TypeError(f"{caller}: expected a numpy array, got {type(x).__name__}")
    if x.dtype not in NUMPY_FLOATS and not is_bfloat16(x.dtype):
        # integer/bool/complex dropout is meaningless (torch fails on it once it tries to scale)
        error = ComplexInputError if x.dtype.kind == "c" else DropoutTypeError
        raise error(
            f"{caller}: input dtype {x.dtype} is not supported; dropout needs float16, bfloat16 "
            "(ml_dtypes), float32 or float64 (cast integer, bool or complex data explicitly)"
        )
    return x


def check_floating(x, caller: str, what: str = "input") -> np.ndarray:
    """``x`` as an array of any float dtype (the MLP layers and losses), or ``TypeError``."""
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{caller}: {what} must be a floating-point array, got dtype {x.dtype}")
    return x


def check_grad(grad, shape: tuple[int, ...], dtype: np.dtype, caller: str) -> np.ndarray:
    """The upstream gradient: same shape as the forward output, cast to its dtype like autograd."""
    grad = np.asarray(grad)
    if not is_float(grad.dtype):
        raise TypeError(f"{caller}.backward: gradient dtype {grad.dtype} is not a float dtype")
    if grad.shape != tuple(shape):
        raise DropoutValueError(
            f"{caller}.backward: gradient shape {grad.shape} does not match the forward output shape {tuple(shape)}"
        )
    return grad.astype(dtype, copy=False)


def check_out(out, like: np.ndarray, caller: str) -> np.ndarray:
    """An ``out=`` buffer for a result shaped and typed like ``like``: checked before anything is written.

    It must be a writeable ndarray of exactly ``like``'s shape and dtype, and either be
    ``like`` itself (the same memory, viewed the same way) or not overlap it at all: a
    partial overlap would read elements the blocked loop has already overwritten.
    """
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{caller}: out= must be a numpy array, got {type(out).__name__}")
    if out.shape != like.shape or out.dtype != like.dtype:
        raise ValueError(
            f"{caller}: out= must have the result's shape {like.shape} and dtype {like.dtype}, "
            f"got shape {out.shape} and dtype {out.dtype}"
        )
    if not out.flags.writeable:
        raise ValueError(f"{caller}: out= is read-only")
    if out is not like and np.may_share_memory(out, like) and not _same_view(out, like):
        raise ValueError(f"{caller}: out= overlaps the input without being the input itself; "
                         "use a separate buffer (or inplace=True)")
    return out


def _same_view(a: np.ndarray, b: np.ndarray) -> bool:
    """The same memory seen the same way (same first byte and strides; shapes already equal)."""
    return a.__array_interface__["data"][0] == b.__array_interface__["data"][0] and a.strides == b.strides


def check_mask(mask, shape: tuple[int, ...], caller: str) -> np.ndarray:
    """A caller-supplied keep-mask: bool, exactly the layer's noise shape."""
    mask = np.asarray(mask)
    if mask.dtype != np.bool_:
        raise ValueError(f"{caller}: mask= must be a boolean keep-mask (True = kept), got dtype {mask.dtype}")
    if mask.shape != tuple(shape):
        raise ValueError(f"{caller}: mask= has shape {mask.shape}, but this input needs a keep-mask of shape {tuple(shape)}")
    return mask
