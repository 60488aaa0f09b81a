"""tinygrad code: its own ``Tensor`` in and out, its global ``TRAINING`` switch, ``Tensor.gradient``.

tinygrad's ``Tensor.dropout(p)`` drops only while ``tinygrad.helpers.TRAINING`` is set
(``Context(TRAINING=1)`` or the ``TRAINING=1`` environment variable); otherwise it returns
its input, so handed NumPy arrays, or left with TRAINING off, it would never drop. Its
randomness is a global seed (``Tensor.manual_seed``), taken from the clock at import: the
suite seeds it per test (:func:`conformance.streams.seed_frameworks`). Its autodiff is
``Tensor.gradient``, what ``Tensor.backward()`` runs, which leaves nothing on the input.

tinygrad compiles every kernel: its CPU device needs ``clang`` on the PATH.
"""
from __future__ import annotations

import inspect
import sys

import numpy as np

from .arrays import NumpyArrays, _as_numpy, _copy
from .modes import Global
from .usercode import UserCodeError


class TinygradArrays(NumpyArrays):
    """``tinygrad.Tensor`` in and out; ``Tensor.gradient`` of the forward for a missing backward."""

    name = "tinygrad"
    autodiff = "tinygrad's Tensor.gradient of the forward (what .backward() runs)"

    def __init__(self):
        from tinygrad import Tensor, dtypes

        self.Tensor, self.dtypes = Tensor, dtypes

    def native(self, x: np.ndarray):
        from npdrop.dtypes import is_bfloat16

        copy = _copy(x)
        if is_bfloat16(copy.dtype):   # tinygrad reads no ml_dtypes array: its bits, as bfloat16
            return self.Tensor(copy.view(np.uint16)).bitcast(self.dtypes.bfloat16)
        return self.Tensor(copy)

    def numpy(self, value):
        if not isinstance(value, self.Tensor):
            return _as_numpy(value)
        if value.dtype == self.dtypes.bfloat16:   # its .numpy() widens bfloat16 to float32, exactly
            from ml_dtypes import bfloat16

            return value.numpy().astype(bfloat16)
        return value.numpy()

    def is_array(self, value) -> bool:
        return isinstance(value, self.Tensor)

    def forward_recording(self, function, x):
        """``(out, backward)``: ``backward(g)`` is ``out.gradient(x, gradient=g)``; an output built
        without the input (``const_like(0)`` at p = 1) has the gradient 0, as tinygrad gives it."""
        out = function(x)

        def backward(grad):
            if not isinstance(out, self.Tensor):
                raise UserCodeError(f"the forward returned {type(out).__name__}, not a tinygrad Tensor: no "
                                    "gradient can flow back through tinygrad's autodiff")
            g = self.native(grad).cast(out.dtype)
            (gx,) = out.gradient(x, gradient=g)
            return gx

        return out, x, backward

    def describe(self) -> str:
        return "tinygrad tensors"


def _mentions_dropout(place) -> bool:
    """Whether ``place`` (a module or class) is tinygrad's own, or its source calls tinygrad's
    dropout or reads its TRAINING switch."""
    name = getattr(place, "__module__", None) if inspect.isclass(place) else getattr(place, "__name__", None)
    if isinstance(name, str) and name.split(".")[0] == "tinygrad":
        return True
    try:
        source = inspect.getsource(place)
    except (OSError, TypeError):
        return False
    return ".dropout(" in source or "TRAINING" in source


def training_switch(place):
    """tinygrad's ``TRAINING`` as the mode of code that has none of its own and uses tinygrad's
    dropout (it drops only while TRAINING is set); ``None`` for any other code."""
    if "tinygrad" not in sys.modules or place is None or not _mentions_dropout(place):
        return None
    from tinygrad.helpers import TRAINING

    return Global(TRAINING, "value", "tinygrad TRAINING, as Context(TRAINING=...) sets it")


def seed(seed32: int) -> None:
    """Seed tinygrad's global generator, where the implementation imported tinygrad."""
    tinygrad = sys.modules.get("tinygrad")
    if tinygrad is not None and hasattr(getattr(tinygrad, "Tensor", None), "manual_seed"):
        tinygrad.Tensor.manual_seed(seed32)
