"""Paddle code: ``paddle.Tensor`` in and out, ``paddle.seed``, ``paddle.grad`` for a missing backward.

Paddle's dropout refuses anything but its own tensors ("must be Tensor, but got
numpy.ndarray"). Its ``mode='upscale_in_train'`` (the default) is torch's inverted dropout;
``mode='downscale_in_infer'`` is the original form (training ``x * m``, evaluation
``x * (1 - p)``), which :meth:`PaddleArrays.implied_form` reads off ``--impl-kwargs``, so
``--form original`` need not be said as well.
"""
from __future__ import annotations

import sys
from typing import Optional

import numpy as np

from .arrays import NumpyArrays, _as_numpy, _copy
from .meaning import Form
from .usercode import UserCodeError


class PaddleArrays(NumpyArrays):
    """``paddle.Tensor`` in and out; ``paddle.grad`` of the forward's graph for a missing backward."""

    name = "paddle"
    autodiff = "paddle.grad of the forward's graph"

    def __init__(self):
        import paddle

        self.paddle = paddle

    def native(self, x: np.ndarray):
        from npdrop.dtypes import is_bfloat16

        copy = _copy(x)
        if is_bfloat16(copy.dtype):   # paddle reads no ml_dtypes array: its bits, as bfloat16
            return self.paddle.to_tensor(copy.view(np.uint16)).view(self.paddle.bfloat16)
        return self.paddle.to_tensor(copy)

    def numpy(self, value):
        paddle = self.paddle
        if not isinstance(value, paddle.Tensor):
            return _as_numpy(value)
        if value.dtype == paddle.bfloat16:   # its .numpy() gives bfloat16's bits as uint16
            from ml_dtypes import bfloat16

            return value.numpy().view(bfloat16)
        return value.numpy()

    def is_array(self, value) -> bool:
        return isinstance(value, self.paddle.Tensor)

    def forward_recording(self, function, x):
        """``(out, backward)``: the forward on ``x`` with gradients on, and ``backward(g)`` =
        ``paddle.grad(out, x, g)``; an output not built from the input has the gradient 0."""
        paddle = self.paddle
        x.stop_gradient = False
        out = function(x)

        def backward(grad):
            if not isinstance(out, paddle.Tensor):
                raise UserCodeError(f"the forward returned {type(out).__name__}, not a paddle Tensor: no "
                                    "gradient can flow back through paddle.grad")
            if out.stop_gradient:
                return paddle.zeros_like(x)
            g = self.native(grad).astype(out.dtype)
            (gx,) = paddle.grad([out], [x], [g], retain_graph=True, allow_unused=True)
            return paddle.zeros_like(x) if gx is None else gx

        return out, x, backward

    def stub_method(self, cls, name: str) -> bool:
        """Whether ``cls.<name>`` is ``paddle.nn.Layer``'s own, which only raises ("Layer
        shouldn't implement backward"): not a backward of the user's."""
        owner = next((k for k in cls.__mro__ if name in vars(k)), None)
        return owner is not None and owner.__module__.split(".")[0] == "paddle" and owner.__name__ == "Layer"

    def implied_form(self, kwargs: dict) -> Optional[Form]:
        """The original form for ``mode='downscale_in_infer'`` among the constructor's or call's
        arguments; ``None``: nothing implied."""
        return Form("original") if kwargs.get("mode") == "downscale_in_infer" else None

    def describe(self) -> str:
        return "paddle tensors"


def seed(seed32: int) -> None:
    """Seed Paddle's global generator, where the implementation imported Paddle."""
    paddle = sys.modules.get("paddle")
    if paddle is not None and callable(getattr(paddle, "seed", None)):
        paddle.seed(seed32)
