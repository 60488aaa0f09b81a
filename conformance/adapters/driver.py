"""The one interface every test uses, whatever the implementation's shape.

A :class:`Driver` is one instance of the implementation under test (one "layer"). Tests
call ``forward(x, mask=None)``, ``backward(grad)``, ``train()``/``eval()``, and ask what it
can do: ``accepts_mask`` (the harness may hand it the keep-mask), ``has_backward``,
``has_eval``. They never ask which shape it is.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .usercode import UserCodeError, call


class Driver:
    """One instance built by a shape (see :mod:`conformance.adapters.shapes`) for one p."""

    def __init__(self, shape, p: float, seed: int):
        self.shape = shape
        self.p = p
        self.target = call(f"building the implementation (p={p})", shape.build, shape.meaning.value(p), seed)
        self.accepts_mask = shape.accepts_mask
        self.has_backward = shape.has_backward
        self.has_eval = shape.mode.has_eval
        self.training = True
        self.train(True)

    def train(self, mode: bool = True) -> "Driver":
        self.training = mode
        call(f"setting {'training' if mode else 'eval'} mode ({self.shape.mode.describe()})",
             self.shape.mode.set, self.target, mode)
        return self

    def eval(self) -> "Driver":
        return self.train(False)

    def forward(self, x: np.ndarray, mask: Optional[np.ndarray] = None):
        __tracebackhide__ = True
        return output(self.shape.forward(self.target, x, self.training, mask), x, "forward")

    def backward(self, grad: np.ndarray):
        __tracebackhide__ = True
        got = self.shape.backward(self.target, grad)
        if got is None:
            raise UserCodeError("backward returned None, not the input gradient")
        return got


def output(value, given: np.ndarray, what: str):
    """``value`` if it can be the output of ``what`` on ``given``: not None, not a list or
    tuple, not a bare number for an input with dimensions (a 0-d input may give a numpy
    scalar, as numpy arithmetic does). Anything else fails the test, saying what came back."""
    __tracebackhide__ = True
    if value is None:
        raise UserCodeError(f"{what} returned None, not an array (did it store its result without returning it?)")
    if isinstance(value, (list, tuple)):
        raise UserCodeError(f"{what} returned a {type(value).__name__} of {len(value)}, not an array")
    if isinstance(value, (int, float, complex, np.generic)) and np.ndim(given) > 0:
        raise UserCodeError(f"{what} returned the scalar {value!r} ({type(value).__name__}) for an input of "
                            f"shape {np.shape(given)}, not an array")
    return value
