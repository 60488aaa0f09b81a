"""The torch twin: each layer as torch's own module, fed the weights the user's forward used.

A linear layer is ``nn.Linear`` (a weight stored (in, out), as most from-scratch code does,
is transposed; a square one is oriented by which product reproduces the user's output), an
activation torch's (``nn.ReLU``, ``nn.LeakyReLU`` with the slope found on the layer or read
off its output, ``nn.Sigmoid``, ``nn.Tanh``, ``nn.Softmax(dim=-1)``), a dropout
``nn.Dropout(p)`` whose draw is answered with the user's own keep-mask
(:func:`npdrop.testing.inject.inject_masks`, strict: exactly one draw per dropout call), and a
dropout wrapping a layer is ``nn.Dropout`` then that layer. ``--form original`` multiplies
torch's dropout by ``1 - p`` (training ``x * m``, evaluation ``x * (1 - p)``).

Everything runs in float64; weights are copied afresh for every call, so the twin follows the
user's training exactly, step by step.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from torch import nn

from npdrop.testing.inject import inject_masks

from .kinds import SLOPE_NAMES


def _t(a) -> torch.Tensor:
    return torch.tensor(np.asarray(a, dtype=np.float64))


def orient(layer, call) -> bool:
    """Whether the user's weight is stored (in, out), i.e. torch's weight is its transpose."""
    if "transposed" in layer.extra:
        return layer.extra["transposed"]
    W, n_in = call.params["weight"], call.x.shape[-1]
    if W.ndim != 2:
        raise ValueError(f"{layer.name}: weight of shape {W.shape} is not a matrix")
    if W.shape[0] != W.shape[1]:
        transposed = W.shape[0] == n_in
    else:   # square: the product that reproduces the user's output
        b = call.params.get("bias")
        b = 0 if b is None else b.reshape(-1)
        transposed = call.y is None or np.abs(call.x @ W + b - call.y).max() <= np.abs(call.x @ W.T + b - call.y).max()
    layer.extra["transposed"] = transposed
    return transposed


def slope(layer, call) -> float:
    if "slope" not in layer.extra:
        value = next((float(getattr(layer.obj, n)) for n in SLOPE_NAMES
                      if isinstance(getattr(layer.obj, n, None), (float, int)) and not isinstance(getattr(layer.obj, n), bool)),
                     None)
        if value is None:
            neg = call.x < 0
            value = float(np.median(call.y[neg] / call.x[neg])) if neg.any() and call.y is not None else 0.01
        layer.extra["slope"] = value
    return layer.extra["slope"]


class Twin:
    """torch's modules for one layer, and how a call of it is replayed."""

    def __init__(self, layer, form_original: bool = False):
        self.layer, self.original = layer, form_original
        self.linear: Optional[nn.Linear] = None

    def _linear(self, layer, call) -> nn.Linear:
        W = call.params["weight"]
        transposed = orient(layer, call)
        weight = W.T if transposed else W
        b = call.params.get("bias")
        lin = nn.Linear(weight.shape[1], weight.shape[0], bias=b is not None, dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(_t(weight))
            if b is not None:
                lin.bias.copy_(_t(b.reshape(-1)))
        return lin

    def modules(self, call, training: bool) -> list:
        """The torch modules that replay ``call`` (fresh, with the weights it used)."""
        layer, kind = self.layer, self.layer.kind
        if kind == "linear":
            self.linear = self._linear(layer, call)
            return [self.linear]
        if kind == "dropout":
            drop = nn.Dropout(layer.p)
            drop.train(training)
            mods = [drop]
            if self.original:
                scale = 1.0 - layer.p
                mods.append(_Scale(scale))
            if layer.inner is not None:
                self.linear = self._linear(layer.inner, call)
                mods.append(self.linear)
            return mods
        if kind == "leakyrelu":
            return [nn.LeakyReLU(slope(layer, call))]
        return [{"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}[kind]()] if kind != "softmax" \
            else [nn.Softmax(dim=-1)]

    def draws(self, training: bool) -> bool:
        """Whether torch draws a mask for this layer (it does not at p = 0 or in evaluation)."""
        return self.layer.kind == "dropout" and training and 0 < self.layer.p

    def param_grads(self, call) -> dict:
        """The twin's parameter gradients in the user's layout."""
        if self.linear is None:
            return {}
        transposed = (self.layer.inner or self.layer).extra["transposed"]
        out = {}
        if self.linear.weight.grad is not None and "weight" in call.params:
            g = self.linear.weight.grad.numpy()
            out["weight"] = g.T if transposed else g
        if self.linear.bias is not None and self.linear.bias.grad is not None and "bias" in call.params:
            out["bias"] = self.linear.bias.grad.numpy().reshape(call.params["bias"].shape)
        # a layer's own L1/L2 penalties, whose gradients its backward adds (l1 * sign, 2 * l2 * w)
        for (which, norm), strength in (self.layer.inner or self.layer).extra.get("penalties", {}).items():
            if which in out:
                w = np.asarray(call.params[which], dtype=np.float64)
                out[which] = out[which] + (strength * np.where(w < 0, -1.0, 1.0) if norm == "l1" else 2 * strength * w)
        return out


class _Scale(nn.Module):
    def __init__(self, scale: float):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return x * self.scale


def apply(mods: list, x: torch.Tensor) -> torch.Tensor:
    for m in mods:
        x = m(x)
    return x


def local(twin: Twin, call, training: bool = True) -> dict:
    """torch's module on the user's own recorded input, mask and upstream gradient:
    ``{"output", "input grad", "weight", "bias"}`` (those that apply)."""
    mods = twin.modules(call, training)
    x = _t(call.x).requires_grad_(True)
    masks = [call.mask] if twin.draws(training) else []
    with inject_masks(masks, strict=True):
        y = apply(mods, x)
    out = {"output": y.detach().numpy()}
    if call.g is not None and tuple(call.g.shape) == tuple(y.shape) and not call.dx_from_state:
        y.backward(_t(call.g))
        out["input grad"] = x.grad.numpy()
        out.update(twin.param_grads(call))
    return out
