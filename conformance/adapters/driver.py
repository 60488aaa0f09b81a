"""The one interface every test uses, whatever the implementation's calling convention and array library.

A :class:`Driver` is one instance of the implementation under test (one "layer"). Tests
call ``forward(x, mask=None)``, ``backward(grad)``, ``train()``/``eval()`` with NumPy
arrays and get NumPy arrays back, and ask what it can do: ``accepts_mask`` (the harness may
hand it the keep-mask), ``has_backward``, ``has_eval``. They never ask which convention it is.

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
    """One instance built by a convention (see :mod:`conformance.adapters.conventions`) for one p."""

    def __init__(self, convention, p: float, seed: int, arrays=None):
        self.convention = convention
        self.p = p
        self.arrays = arrays or NumpyArrays()
        self.target = call(f"building the implementation (p={p})", convention.build, convention.meaning.value(p), seed)
        self.accepts_mask = convention.accepts_mask
        self.autodiff = not convention.has_backward and self.arrays.autodiff is not None
        self.has_backward = convention.has_backward or self.autodiff
        self.has_eval = convention.mode.has_eval
        self.next_key = self.arrays.keys(seed) if convention.key_name else None
        self.modified: list = []    #: what the implementation changed in place ("its input", ...)
        self._backward = None
        self.training = True
        self.train(True)

    def train(self, mode: bool = True) -> "Driver":
        self.training = mode
        call(f"setting {'training' if mode else 'eval'} mode ({self.convention.mode.describe()})",
             self.convention.mode.set, self.target, mode)
        return self

    def eval(self) -> "Driver":
        return self.train(False)

    def _note(self, given, original: np.ndarray, what: str) -> None:
        after = self.arrays.numpy(given)
        if isinstance(after, np.ndarray) and not _same_bits(after, np.asarray(original)):
            self.modified.append(what)

    def _native(self, x: np.ndarray, what: str):
        """``x`` as the implementation's library's array; a library that cannot hold its dtype
        (bfloat16, say) refuses it as the implementation's own code would (unsupported, n/a)."""
        __tracebackhide__ = True
        try:
            return self.arrays.native(x)
        except Exception as exc:
            raise UserCodeError(f"{self.arrays.describe()} cannot hold the {np.asarray(x).dtype} {what}: "
                                f"{type(exc).__name__}: {exc}") from exc

    def forward(self, x: np.ndarray, mask: Optional[np.ndarray] = None):
        __tracebackhide__ = True
        key = self.next_key() if self.next_key else None
        native = self._native(x, "input")

        def run(given):
            return self.convention.forward(self.target, given, self.training, mask, key)

        if self.autodiff and _differentiable(x):
            out, given, self._backward = self.arrays.forward_recording(run, native)
        else:
            out, given = run(native), native
        self._note(given, x, "its input (training forward)" if self.training else "its input (eval forward)")
        return output(out, x, "forward", self.arrays)

    def backward(self, grad: np.ndarray):
        __tracebackhide__ = True
        if self.autodiff:
            if self._backward is None:
                raise UserCodeError("backward called before any forward")
            what = f"the backward ({self.arrays.autodiff})"
            return self.arrays.numpy(call(what, self._backward, grad))
        native = self._native(grad, "upstream gradient")
        got = self.convention.backward(self.target, native)
        if got is None:
            raise UserCodeError("backward returned None, not the input gradient")
        self._note(native, grad, "the upstream gradient (backward)")
        return self.arrays.numpy(got)


def output(value, given: np.ndarray, what: str, arrays=None):
    """``value`` read as NumPy (an array of the implementation's library -- a torch tensor, a
    jax array, a Variable holding ``.data`` -- converted by ``arrays``) if it can be the output
    of ``what`` on ``given``: not None, not a list or tuple, not a bare number for an input with
    dimensions (a 0-d input may give a numpy scalar, as numpy arithmetic does). Anything else
    fails the test, saying what came back."""
    __tracebackhide__ = True
    if value is None:
        raise UserCodeError(f"{what} returned None, not an array (did it store its result without returning it?)")
    if isinstance(value, (list, tuple)):
        raise UserCodeError(f"{what} returned a {type(value).__name__} of {len(value)}, not an array")
    if isinstance(value, (int, float, complex, np.generic)) and np.ndim(given) > 0:
        raise UserCodeError(f"{what} returned the scalar {value!r} ({type(value).__name__}) for an input of "
                            f"shape {np.shape(given)}, not an array")
    return (arrays or NumpyArrays()).numpy(value)


def _differentiable(x) -> bool:
    """A float input (bfloat16 included), which autodiff can record; an integer one (the
    ``integer-input`` edge) is run as it is: no library differentiates with respect to it."""
    dtype = np.asarray(x).dtype
    return dtype.kind == "f" or dtype.name == "bfloat16"
