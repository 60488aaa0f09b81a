"""The fully connected layer ``y = x @ W.T + b``, forward and backward side by side."""
from __future__ import annotations

import math

import numpy as np

from npdrop.module import Module, Parameter
from npdrop.rng import RNGLike, as_source


def _check_features(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"Linear: {name} must be a non-negative int, got {value!r}")
    return int(value)


def init_bounds(in_features: int) -> tuple[float, float]:
    """(weight bound, bias bound) of torch's default ``Linear`` initialisation.

    Mirrors ``Linear.reset_parameters``: ``kaiming_uniform_(weight, a=sqrt(5))`` then
    ``uniform_(bias, -1/sqrt(fan_in), 1/sqrt(fan_in))``, with fan_in = in_features. Computed
    step by step in Python floats exactly as ``torch/nn/init.py`` does, so a replay of
    torch's generator gets bit-identical bounds (the closed form 1/sqrt(fan_in) can differ
    from this in the last bit).
    """
    if in_features == 0:
        return 0, 0  # torch's ints: uniform_(-0, 0) then draws +0.0, where -0.0 would give -0.0
    a = math.sqrt(5)
    gain = math.sqrt(2.0 / (1 + a**2))  # calculate_gain("leaky_relu", a)
    std = gain / math.sqrt(in_features)
    weight_bound = math.sqrt(3.0) * std
    bias_bound = 1 / math.sqrt(in_features)
    return weight_bound, bias_bound


class Linear(Module):
    """Affine map of the last axis, like ``torch.nn.Linear``.

    Shapes: input (*, in_features) -> output (*, out_features); ``*`` may be empty (a
    1-D unbatched input). ``weight`` is (out_features, in_features), ``bias``
    (out_features,) or ``None``.

    Initialisation draws from ``rng`` (see :func:`npdrop.rng.as_source`) in torch's order:
    the whole weight with one ``uniform(-bw, bw)`` call, then the whole bias with one
    ``uniform(-bb, bb)`` call (bounds from :func:`init_bounds`). Input, weights and
    output share one float dtype; a mismatched input is a ``TypeError``, as in torch.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        rng: RNGLike = None,
        dtype=np.float32,
    ) -> None:
        super().__init__()
        self.in_features = _check_features(in_features, "in_features")
        self.out_features = _check_features(out_features, "out_features")
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"Linear: dtype must be a floating dtype, got {dtype}")
        source = as_source(rng)
        weight_bound, bias_bound = init_bounds(self.in_features)
        shape = (self.out_features, self.in_features)
        if 0 in shape:
            # torch's kaiming_uniform_ returns early on a zero-element tensor: no draw.
            weight = np.zeros(shape, dtype=dtype)
        else:
            weight = source.uniform(-weight_bound, weight_bound, shape, dtype)
        self.weight = Parameter(np.asarray(weight, dtype=dtype))
        self.bias: Parameter | None = None
        if bias:
            b = source.uniform(-bias_bound, bias_bound, (self.out_features,), dtype)
            self.bias = Parameter(np.asarray(b, dtype=dtype))
        self._input: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """``y = x @ W.T + b`` over the last axis; saves ``x`` for :meth:`backward`."""
        x = np.asarray(x)
        if x.ndim == 0:
            raise ValueError("Linear: input must have at least 1 dimension, got a 0-d array")
        if x.shape[-1] != self.in_features:
            raise ValueError(
                f"Linear: input's last dimension must be in_features={self.in_features}, "
                f"got input of shape {x.shape}"
            )
        if x.dtype != self.weight.dtype:
            raise TypeError(
                f"Linear: input dtype {x.dtype} does not match weight dtype {self.weight.dtype}; "
                f"cast the input or call .to({x.dtype}) on the model"
            )
        y = x @ self.weight.data.T
        if self.bias is not None:
            y += self.bias.data
        self._input = x
        return y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        """dL/dx = grad @ W; accumulates dL/dW = grad^T x and dL/db = sum(grad).

        ``grad`` has the output's shape (*, out_features); leading axes are summed out of
        the parameter gradients.
        """
        x = self._input
        if x is None:
            raise RuntimeError("Linear.backward called before forward")
        grad = np.asarray(grad)
        expected = x.shape[:-1] + (self.out_features,)
        if grad.shape != expected:
            raise ValueError(f"Linear.backward: grad must have the output's shape {expected}, got {grad.shape}")
        grad = grad.astype(x.dtype, copy=False)
        grad2d = grad.reshape(-1, self.out_features)
        self.weight.accumulate(grad2d.T @ x.reshape(-1, self.in_features))
        if self.bias is not None:
            self.bias.accumulate(grad2d.sum(axis=0))
        return grad @ self.weight.data

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
