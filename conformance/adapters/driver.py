"""The one interface every test uses, whatever the implementation's shape and array library.

A :class:`Driver` is one instance of the implementation under test (one "layer"). Tests
call ``forward(x, mask=None)``, ``backward(grad)``, ``train()``/``eval()`` with NumPy
arrays and get NumPy arrays back, and ask what it can do: ``accepts_mask`` (the harness may
hand it the keep-mask), ``has_backward``, ``has_eval``. They never ask which shape it is.

The implementation is handed copies in its own library's arrays (:mod:`.arrays`); a copy
it changed is noted in ``modified`` (the ``input-unchanged`` property reads it), so the
harness's own arrays, from which torch's reference is built, stay as they were. Without a
backward of its own, the backward is the library's autodiff of the last forward.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .arrays import NumpyArrays, _same_bits
from .usercode import UserCodeError, call


class Driver:
    """One instance built by a shape (see :mod:`conformance.adapters.shapes`) for one p."""

    def __init__(self, shape, p: float, seed: int, arrays=None):
        self.shape = shape
        self.p = p
        self.arrays = arrays or NumpyArrays()
        self.target = shape.build(shape.meaning.value(p), seed)
        self.accepts_mask = shape.accepts_mask
        self.autodiff = not shape.has_backward and self.arrays.autodiff is not None
        self.has_backward = shape.has_backward or self.autodiff
        self.has_eval = shape.mode.has_eval
        self.next_key = self.arrays.keys(seed) if getattr(shape, "key_name", None) else None
        self.modified: list = []    #: what the implementation changed in place ("its input", ...)
        self._backward = None
        self.training = True
        self.train(True)

    def train(self, mode: bool = True) -> "Driver":
        self.training = mode
        call(f"setting {'training' if mode else 'eval'} mode ({self.shape.mode.describe()})",
             self.shape.mode.set, self.target, mode)
        return self

    def eval(self) -> "Driver":
        return self.train(False)

    def _note(self, given, original: np.ndarray, what: str) -> None:
        after = self.arrays.numpy(given)
        if isinstance(after, np.ndarray) and not _same_bits(after, np.asarray(original)):
            self.modified.append(what)

    def forward(self, x: np.ndarray, mask: Optional[np.ndarray] = None):
        __tracebackhide__ = True
        extra = {"key": self.next_key()} if self.next_key else {}
        native = self.arrays.native(x)

        def run(given):
            return self.shape.forward(self.target, given, self.training, mask, **extra)

        if self.autodiff:
            out, given, self._backward = self.arrays.forward_recording(run, native)
        else:
            out, given = run(native), native
        self._note(given, x, "its input (training forward)" if self.training else "its input (eval forward)")
        return self.arrays.numpy(out)

    def backward(self, grad: np.ndarray):
        __tracebackhide__ = True
        if self.autodiff:
            if self._backward is None:
                raise UserCodeError("backward called before any forward")
            what = f"the backward ({self.arrays.autodiff})"
            return self.arrays.numpy(call(what, self._backward, grad))
        native = self.arrays.native(grad)
        result = self.shape.backward(self.target, native)
        self._note(native, grad, "the upstream gradient (backward)")
        return self.arrays.numpy(result)
