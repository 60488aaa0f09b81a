"""The model-factory convention: ``Dropout(rate)`` returns a model, called as thinc's are.

``model = Dropout(rate)``; ``Y, backprop = model(X, is_train=True)``; ``dX = backprop(dY)``.
The factory is built once per instance with p by name; the backward is the ``backprop``
callback of the last forward.
"""
from __future__ import annotations

import inspect
from types import SimpleNamespace

import numpy as np

from .calls import first_parameter, is_function, probe
from .conventions import Convention
from .meaning import P_NAMES, p_meaning
from .modes import Keyword
from .usercode import AdapterError, UserCodeError, call


class ModelFactory(Convention):
    """``make(p)`` returning a model ``model(X, is_train) -> (Y, backprop)``."""

    order = 50
    has_backward = True

    @staticmethod
    def matches(target, options) -> bool:
        return is_function(target) and first_parameter(target) in P_NAMES

    def __init__(self, function, options):
        self.function = function
        self.p_name = first_parameter(function)
        self.meaning = p_meaning(self.p_name, options.p_means)
        self.mode = Keyword("is_train")
        self.kwargs = dict(options.impl_kwargs)
        returned = probe(self, f"{function.__name__}({self.p_name}=0.5)(X, is_train=True)", options,
                         lambda state, x: state.model(x, is_train=True))
        if not (isinstance(returned, tuple) and len(returned) == 2 and callable(returned[1])):
            raise AdapterError(f"{function.__name__}{inspect.signature(function)} returned a model whose call "
                               f"gave {type(returned).__name__}, not (Y, backprop) as a thinc model's does")

    def build(self, value: float, seed: int):
        return SimpleNamespace(model=self.function(**{**self.kwargs, self.p_name: value}), backprop=None)

    def forward(self, state, x: np.ndarray, training: bool, mask=None, key=None):
        __tracebackhide__ = True
        what = f"model(X, is_train={training})"
        returned = call(what, state.model, x, is_train=training)
        if not (isinstance(returned, tuple) and len(returned) == 2):
            raise UserCodeError(f"{what} returned {type(returned).__name__}, not (Y, backprop)")
        out, state.backprop = returned
        return out

    def backward(self, state, grad: np.ndarray):
        __tracebackhide__ = True
        if state.backprop is None:
            raise UserCodeError("backward called before any forward")
        return call("backprop(dY)", state.backprop, grad)

    def describe(self) -> str:
        return "; ".join([f"model = {self.function.__name__}({self.p_name}); model(X, is_train) -> (Y, backprop)",
                          "backprop(dY) -> returned", self.meaning.describe(), f"mode: {self.mode.describe()}"])
