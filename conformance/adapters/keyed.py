"""The keyed function convention: JAX-style ``f(key, x, rate, deterministic=False)``.

JAX code takes its randomness as an explicit key, often first: a from-scratch
``dropout(key, x, rate, deterministic=False)``, Haiku's ``hk.dropout(rng, rate, x)``. The
parameters are recognised by name wherever they stand (the key by :data:`.calls.KEY_NAMES`,
p by :data:`.meaning.P_NAMES`, the mode by :data:`.modes.KEYWORDS`; the input is the one
required parameter left), and every call passes them by keyword, with a fresh key per call.
Only code in an array library whose randomness is keyed (:mod:`.arrays`) has this convention.
"""
from __future__ import annotations

import inspect
from types import SimpleNamespace

import numpy as np

from .calls import KEY_NAMES, is_function, parameters, probe, required, signature_text
from .conventions import Convention
from .meaning import P_NAMES, p_meaning
from .modes import find_mode
from .usercode import AdapterError, call


def _named(function, names) -> list:
    return [n for n in parameters(function) if n in names]


class KeyedFunction(Convention):
    """``f(key, x, p[, mode])`` in any order, parameters passed by keyword; backward: the
    library's autodiff."""

    order = 20
    has_backward = False

    @staticmethod
    def matches(target, options) -> bool:
        return (is_function(target) and options.lib.keyed and bool(_named(target, KEY_NAMES))
                and bool(_named(target, P_NAMES)))

    def __init__(self, function, options):
        self.function, self.arrays = function, options.lib
        if options.backward:
            raise AdapterError(f"{function.__name__} is differentiated by {self.arrays.autodiff}; "
                               "--backward does not apply")
        params = parameters(function)
        self.key_name = _named(function, KEY_NAMES)[0]
        self.p_name = _named(function, P_NAMES)[0]
        self.meaning = p_meaning(self.p_name, options.p_means)
        self.mode = find_mode(params, None, options.module, options.mode_global)
        self.kwargs = dict(options.impl_kwargs)
        taken = (self.key_name, self.p_name, getattr(self.mode, "name", "")) + tuple(self.kwargs)
        rest = required(params, taken)
        if len(rest) != 1:
            raise AdapterError(f"{function.__name__}{inspect.signature(function)}: after the key "
                               f"'{self.key_name}' and p '{self.p_name}', expected one required parameter "
                               f"for the input, found {len(rest)} ({', '.join(rest) or 'none'}); give the "
                               "others with --impl-kwargs 'name=value, ...'")
        self.x_name = rest[0]
        returned = probe(self, f"{function.__name__}({self.x_name}=x, ...) (training, p=0.5)", options,
                         lambda state, x: function(**self._arguments(state, x, True, self.arrays.keys(0)())))
        if returned is None or isinstance(returned, tuple):
            raise AdapterError(f"{signature_text(function.__name__, function)} returned "
                               f"{type(returned).__name__}; it must return the output")

    def _arguments(self, state, x, training: bool, key) -> dict:
        return {**self.kwargs, self.key_name: key, self.x_name: x, self.p_name: state.p,
                **self.mode.arguments(training)}

    def build(self, value: float, seed: int):
        return SimpleNamespace(p=value)

    def forward(self, state, x, training: bool, mask=None, key=None):
        __tracebackhide__ = True
        kwargs = self._arguments(state, x, training, key)
        shown = ", ".join(f"{k}={'<key>' if k == self.key_name else 'x' if k == self.x_name else repr(v)}"
                          for k, v in kwargs.items())
        return call(f"{self.function.__name__}({shown})", self.function, **kwargs)

    def backward(self, state, grad: np.ndarray):
        raise NotImplementedError("differentiated by the array library")

    def describe(self) -> str:
        return "; ".join([f"{signature_text(self.function.__name__, self.function)} -> returned",
                          f"a fresh key per call as '{self.key_name}'", f"backward: {self.arrays.autodiff}",
                          self.meaning.describe(), f"mode: {self.mode.describe()}"])
