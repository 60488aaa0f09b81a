"""What crosses between the judge and the implementation's process: plain data and NumPy arrays.

A message is ``None``, a bool, int, float, str, list, tuple, a dict with string keys, a
NumPy array of a numeric or bool dtype (bfloat16 and ml_dtypes' other types included) or a
NumPy scalar, nested. Nothing else crosses, and nothing that arrives is unpickled or
evaluated: the header is JSON, the arrays are raw bytes read into arrays of an allowed
dtype, so a message from the implementation's process can carry data but never code.

An array keeps its layout: a transposed, reversed or sliced view arrives with the same
strides (in a buffer of its own), as an implementation would have been handed it in the
same process. Arrays that arrive are writable copies.

A frame is an 8-byte little-endian length, a 4-byte header length, the JSON header and the
arrays' bytes.
"""
from __future__ import annotations

import json
import math
import struct

import numpy as np

#: dtype kinds that may cross: bool, integers, floats, complex (ml_dtypes' floats are kind 'V')
KINDS = "biufc"
#: the longest frame accepted: a 1e7-cell float64 array and its gradient fit many times over
MAX_FRAME = 2 ** 31


class WireError(ValueError):
    """A message that cannot be sent, or a frame that is not a message."""


def _dtype_name(dtype: np.dtype) -> str:
    if dtype.kind in KINDS:
        return dtype.str
    if type(dtype).__module__.startswith("ml_dtypes") or getattr(dtype.type, "__module__", "").startswith("ml_dtypes"):
        return "ml_dtypes:" + dtype.name
    raise WireError(f"an array of dtype {dtype} cannot be compared (numeric or bool dtypes only)")


def _dtype(name: str) -> np.dtype:
    if name.startswith("ml_dtypes:"):
        import ml_dtypes

        found = getattr(ml_dtypes, name.partition(":")[2], None)
        if found is None or not isinstance(found, type):
            raise WireError(f"unknown dtype {name!r}")
        return np.dtype(found)
    dtype = np.dtype(name)
    if dtype.kind not in KINDS or dtype.fields is not None:
        raise WireError(f"dtype {name!r} may not cross")
    return dtype


def _span(shape, strides, itemsize) -> tuple:
    """(lowest, highest) byte offsets an array's elements occupy, relative to its first element."""
    lo = sum(s * (n - 1) for n, s in zip(shape, strides) if s < 0)
    hi = sum(s * (n - 1) for n, s in zip(shape, strides) if s > 0) + itemsize
    return lo, hi


def encode(message) -> bytes:
    """``message`` as one frame."""
    return b"".join(pieces(message))


def pieces(message) -> list:
    """``message`` as one frame, in pieces to write one after the other (arrays uncopied)."""
    buffers: list = []

    def walk(value):
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, np.generic):
            return {"__array__": walk_array(np.asarray(value)), "scalar": True}
        if isinstance(value, np.ndarray):
            return {"__array__": walk_array(value), "scalar": False}
        if isinstance(value, tuple):
            return {"__tuple__": [walk(v) for v in value]}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return {"__dict__": {k: walk(v) for k, v in value.items()}}
        raise WireError(f"a {type(value).__name__} cannot cross (arrays and plain data only)")

    def walk_array(a: np.ndarray) -> dict:
        a = np.asarray(a)    # a subclass (np.matrix, a masked array) crosses as its plain array
        name = _dtype_name(a.dtype)
        contiguous = a.flags.c_contiguous or a.size == 0
        data = np.ascontiguousarray(a).reshape(-1).view(np.uint8) if a.size else b""
        buffers.append(memoryview(data))
        return {"dtype": name, "shape": list(a.shape), "index": len(buffers) - 1,
                "strides": None if contiguous else list(a.strides)}

    header = json.dumps({"message": walk(message), "sizes": [b.nbytes for b in buffers]}).encode()
    size = 4 + len(header) + sum(b.nbytes for b in buffers)
    return [struct.pack("<QI", size, len(header)) + header, *buffers]


def decode(body: bytearray):
    """The message of one frame's body (the bytes after its length)."""
    try:
        (size,) = struct.unpack_from("<I", body, 0)
        header = json.loads(bytes(body[4:4 + size]))
        offsets, start = [], 4 + size
        for n in header["sizes"]:
            offsets.append((start, int(n)))
            start += int(n)
        if start != len(body):
            raise WireError("frame length does not match its arrays")
        view = memoryview(body)
    except (struct.error, ValueError, KeyError, TypeError) as exc:
        raise WireError(f"not a message: {exc}") from None

    def walk(value):
        if isinstance(value, list):
            return [walk(v) for v in value]
        if not isinstance(value, dict):
            return value
        if "__tuple__" in value:
            return tuple(walk(v) for v in value["__tuple__"])
        if "__dict__" in value:
            return {str(k): walk(v) for k, v in value["__dict__"].items()}
        array = walk_array(value["__array__"])
        return array[()] if value.get("scalar") else array

    def walk_array(spec: dict) -> np.ndarray:
        dtype = _dtype(spec["dtype"])
        shape = tuple(int(n) for n in spec["shape"])
        start, n = offsets[int(spec["index"])]
        if n != math.prod(shape) * dtype.itemsize:   # exact: no int64 to wrap around
            raise WireError("array bytes do not match its shape")
        flat = np.frombuffer(view[start:start + n], dtype=dtype)
        data = flat.reshape(shape)
        if spec.get("strides") is None:
            return data
        strides = tuple(int(s) for s in spec["strides"])
        lo, hi = _span(shape, strides, dtype.itemsize)
        out = np.ndarray(shape, dtype, buffer=np.zeros(hi - lo, np.uint8), offset=-lo, strides=strides)
        out[...] = data
        return out

    try:
        return walk(header["message"])
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise WireError(f"not a message: {exc}") from None
