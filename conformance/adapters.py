"""Adapting an implementation under test to one calling convention.

Two kinds of implementation are driven the same way:

- *mask-capable* ones, whose ``forward`` takes ``mask=`` (a bool keep-mask of the
  variant's noise shape), such as npdrop: the harness picks each mask and injects the same
  one into torch, strictly;
- *black boxes*, the shape most from-scratch code has, unmodified::

      obj = NAME(p)                        # NAME(p, rng=seed) / NAME(p, seed=seed) if accepted
      out = obj.forward(x, training=True)  # or forward(x) with obj.train()/obj.eval(),
                                           # or with an obj.training attribute
      gx = obj.backward(grad)

  drawing masks from their own ``np.random`` calls: the harness reads each call's mask off
  the output (:mod:`conformance.observe`) and injects that into torch. ``np.random`` is
  seeded before every test and restored after it (see ``conftest.py``).
"""
from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from .reference import VARIANTS


def _parameters(func) -> dict:
    try:
        return dict(inspect.signature(func).parameters)
    except (TypeError, ValueError):
        return {}


class Layer:
    """One instance of the implementation under test, behind a fixed interface."""

    def __init__(self, obj):
        self.obj = obj
        forward = getattr(obj, "forward", None) or obj
        params = _parameters(forward)
        self.accepts_mask = "mask" in params
        self.mode_argument = next((n for n in ("training", "train") if n in params), None)
        if self.mode_argument:
            self.mode_style = "argument"
        elif callable(getattr(obj, "train", None)) and callable(getattr(obj, "eval", None)):
            self.mode_style = "methods"
        elif hasattr(obj, "training"):
            self.mode_style = "attribute"
        else:
            self.mode_style = None
        self.has_backward = callable(getattr(obj, "backward", None))
        self.training = True
        self.train(True)

    def train(self, mode: bool = True) -> "Layer":
        self.training = mode
        if self.mode_style == "methods":
            self.obj.train() if mode else self.obj.eval()
        elif self.mode_style == "attribute":
            self.obj.training = mode
        return self

    def eval(self) -> "Layer":
        return self.train(False)

    def forward(self, x: np.ndarray, mask: Optional[np.ndarray] = None):
        kwargs = {}
        if self.mode_argument:
            kwargs[self.mode_argument] = self.training
        if mask is not None:
            kwargs["mask"] = mask
        forward = getattr(self.obj, "forward", None) or self.obj
        return forward(x, **kwargs)

    def backward(self, grad: np.ndarray):
        return self.obj.backward(grad)


@dataclass
class Impl:
    """The implementation under test: how to build it for a variant, and how it is judged."""

    spec: str                          #: "npdrop" or "module:Name"
    build: Callable[[str, float, int], object]
    variants: tuple                    #: the torch variants it is compared with
    exact: bool                        #: bit equality (npdrop) or dtype-suited tolerances

    def make(self, variant: str, p: float, seed: int = 0) -> Layer:
        return Layer(self.build(variant, p, seed))

    def describe(self) -> str:
        try:
            layer = self.make(self.variants[0], 0.5)
        except Exception as exc:  # reported here; every test will show the error too
            return f"{self.spec}: constructing it with p=0.5 failed: {exc!r}"
        kind = "mask-capable (mask= injected)" if layer.accepts_mask else "black box (masks read off outputs)"
        mode = {"argument": f"forward(x, {layer.mode_argument}=...)", "methods": "train()/eval()",
                "attribute": "a training attribute", None: "no eval mode found"}[layer.mode_style]
        judged = "bit for bit" if self.exact else "with dtype-suited tolerances"
        return f"{self.spec} vs torch.nn.{'/'.join(self.variants)}: {kind}; mode via {mode}; compared {judged}"


def _construct(cls, p: float, seed: int):
    params = _parameters(cls)
    for name in ("rng", "seed"):
        if name in params:
            return cls(p, **{name: seed})
    return cls(p)


def load_impl(spec: Optional[str], reference: str = "Dropout") -> Impl:
    """The implementation named by ``--impl MODULE:NAME`` (``None``: npdrop, all six variants)."""
    if reference not in VARIANTS:
        raise ValueError(f"--reference must be one of {', '.join(VARIANTS)}; got {reference!r}")
    if spec in (None, "", "npdrop"):
        import npdrop

        return Impl("npdrop", lambda v, p, seed: getattr(npdrop, v)(p, rng=seed), VARIANTS, exact=True)
    module_name, sep, name = spec.partition(":")
    if not sep or not module_name or not name:
        raise ValueError(f"--impl expects MODULE:NAME (e.g. mypkg.layers:MyDropout), got {spec!r}")
    target = importlib.import_module(module_name)
    for part in name.split("."):
        target = getattr(target, part)
    exact = module_name.split(".")[0] == "npdrop"
    return Impl(spec, lambda v, p, seed: _construct(target, p, seed), (reference,), exact=exact)
