"""The one interface every test uses, whatever the implementation's shape.

A :class:`Driver` is one instance of the implementation under test (one "layer"). Tests
call ``forward(x, mask=None)``, ``backward(grad)``, ``train()``/``eval()``, and ask what it
can do: ``accepts_mask`` (the harness may hand it the keep-mask), ``has_backward``,
``has_eval``. They never ask which shape it is.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .usercode import call


class Driver:
    """One instance built by a shape (see :mod:`conformance.adapters.shapes`) for one p."""

    def __init__(self, shape, p: float, seed: int):
        self.shape = shape
        self.p = p
        self.target = shape.build(shape.meaning.value(p), seed)
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
        return self.shape.forward(self.target, x, self.training, mask)

    def backward(self, grad: np.ndarray):
        __tracebackhide__ = True
        return self.shape.backward(self.target, grad)
