"""The function conventions: a functional pair with a cache (the Stanford CS231n assignment's
``dropout_forward``/``dropout_backward``), and a forward-only function ``f(x, p[, training])``.
"""
from __future__ import annotations

import inspect
from types import SimpleNamespace
from typing import Optional

import numpy as np

from .calls import is_function, parameters, probe, required, second_parameter, signature_text
from .conventions import Convention
from .meaning import P_NAMES, p_meaning
from .modes import Keyword, find_mode
from .usercode import AdapterError, NotThisConvention, UserCodeError, call

#: a function parameter that takes a numpy Generator: one per instance, so calls draw anew
GENERATOR_NAMES = ("rng", "generator")


def generator_parameter(function) -> Optional[str]:
    return next((n for n in GENERATOR_NAMES if n in parameters(function)), None)


def generator_argument(convention, state) -> dict:
    return {convention.rng_name: state.rng} if convention.rng_name else {}


def as_pair(returned, what: str):
    if not (isinstance(returned, tuple) and len(returned) == 2):
        raise UserCodeError(f"{what} returned {type(returned).__name__}, not a pair (out, cache)")
    return returned


def _partner(function, options):
    """The backward of a functional pair: ``--backward`` or the forward's name with
    forward -> backward (``fwd`` -> ``bwd``, ``fprop`` -> ``bprop``); ``(name, function)``."""
    name = function.__name__
    guesses = [options.backward] if options.backward else [
        name.replace(a, b) for a, b in (("forward", "backward"), ("fwd", "bwd"), ("fprop", "bprop")) if a in name]
    for guess in guesses:
        candidate = getattr(options.module, guess, None)
        if callable(candidate):
            return guess, candidate
    if options.backward:
        raise AdapterError(f"module {getattr(options.module, '__name__', '?')} has no function "
                           f"'{options.backward}' (--backward)")
    return None, None


def _dict_parameter(function) -> Optional[str]:
    """The name of a CS231n-style parameter dict (``dropout_param``, ``config``, ...), if any."""
    second = second_parameter(function)
    if second and ("param" in second or second in ("config", "cfg", "options", "opts", "settings")):
        return second
    return None


class FunctionalPair(Convention):
    """``out, cache = forward(x, dropout_param)`` with a fresh ``{'p': ..., 'mode': ...}`` per
    call (never a ``'seed'``: it would fix every call's mask), and ``dx = backward(dout,
    cache)``; or ``forward(x, p[, mode])`` returning ``(out, cache)``."""

    order = 30
    has_backward = True

    @staticmethod
    def matches(target, options) -> bool:
        if not is_function(target):
            return False
        if _dict_parameter(target):
            return True
        return second_parameter(target) in P_NAMES and _partner(target, options)[1] is not None

    def __init__(self, function, options):
        self.function = function
        self.dict_name = _dict_parameter(function)
        self.bname, self.backward_function = _partner(function, options)
        if self.backward_function is None:
            raise AdapterError(f"{function.__name__}{inspect.signature(function)} takes a parameter dict "
                               "but no backward was found beside it; name it with --backward NAME")
        # a backward that takes p again after (dout, cache), as some courses write it
        self.backward_p = [n for n in list(parameters(self.backward_function))[2:] if n in P_NAMES]
        if self.dict_name:
            self.p_name = "p"
            self.meaning = p_meaning("p", options.p_means, label=f"{self.dict_name}['p']")
            self.mode = Keyword("mode", "train", "test")
        else:
            self.p_name = second_parameter(function)
            self.meaning = p_meaning(self.p_name, options.p_means)
            self.mode = find_mode(parameters(function), None, options.module, options.mode_global)
        self.rng_name = None if self.dict_name else generator_parameter(function)
        self.kwargs = dict(options.impl_kwargs)

        def run(state, x):
            args, kwargs = self._arguments(state, True)
            return function(x, *args, **kwargs)

        returned = probe(self, f"{function.__name__}(x, ...) (training, p=0.5)", options, run)
        if not (isinstance(returned, tuple) and len(returned) == 2):
            if not self.dict_name:  # f(x, p) returning only the output: a forward-only function
                raise NotThisConvention()
            raise AdapterError(f"{signature_text(function.__name__, function)} returned "
                               f"{type(returned).__name__}, not (out, cache) for {self.bname}(dout, cache)")

    def _arguments(self, state, training: bool) -> tuple:
        """``(args, kwargs)`` after ``x``: a fresh dict, or p, the mode (and a generator) as keywords."""
        if self.dict_name:
            return ({"p": state.p, **self.mode.arguments(training)},), dict(self.kwargs)
        return (), {**self.kwargs, self.p_name: state.p, **self.mode.arguments(training),
                    **generator_argument(self, state)}

    def build(self, value: float, seed: int):
        return SimpleNamespace(p=value, cache=None, rng=np.random.default_rng(seed))

    def forward(self, state, x: np.ndarray, training: bool, mask=None, key=None):
        __tracebackhide__ = True
        args, kwargs = self._arguments(state, training)
        shown = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
        what = f"{self.function.__name__}(x, {', '.join(shown)})"
        out, state.cache = as_pair(call(what, self.function, x, *args, **kwargs), what)
        return out

    def backward(self, state, grad: np.ndarray):
        __tracebackhide__ = True
        again = {name: state.p for name in self.backward_p}
        return call(f"{self.bname}(dout, cache)", self.backward_function, grad, state.cache, **again)

    def describe(self) -> str:
        mode = (f"{self.dict_name}['mode'] ('train'/'test')" if self.dict_name else self.mode.describe())
        return "; ".join([f"{signature_text(self.function.__name__, self.function)} -> (out, cache)",
                          f"{signature_text(self.bname, self.backward_function)} -> returned",
                          self.meaning.describe(), f"mode: {mode}"])


def _cacheless(function) -> bool:
    """Whether ``function`` takes the upstream gradient alone (``backward(dout)``)."""
    params = parameters(function)
    return bool(params) and not required(params, (next(iter(params)),))


class ForwardOnly(Convention):
    """``f(x, p[, training])`` returning the output. Its backward, if it has one, takes the
    upstream gradient alone (``dropout_backward(dout)``, found beside it by name or named
    with ``--backward``): a notebook's pair that keeps the mask in a module-level variable.
    Without one the backward checks are n/a."""

    order = 40

    @staticmethod
    def matches(target, options) -> bool:
        return is_function(target) and second_parameter(target) in P_NAMES

    def __init__(self, function, options):
        self.function = function
        self.bname, self.backward_function = _partner(function, options)
        if self.backward_function is not None and not _cacheless(self.backward_function):
            if options.backward:
                raise AdapterError(
                    f"{function.__name__} returns only the output, so there is no cache to hand "
                    f"{signature_text(self.bname, self.backward_function)}; a functional pair's forward returns "
                    "(out, cache), and a backward without a cache takes the gradient alone")
            self.bname = self.backward_function = None
        self.has_backward = self.backward_function is not None
        params = parameters(function)
        self.p_name = second_parameter(function)
        self.meaning = p_meaning(self.p_name, options.p_means)
        self.mode = find_mode(params, None, options.module, options.mode_global)
        self.rng_name = generator_parameter(function)
        self.kwargs, self.autodiff = dict(options.impl_kwargs), options.lib.autodiff
        first = next(iter(params))
        taken = (first, self.p_name, getattr(self.mode, "name", ""), self.rng_name) + tuple(self.kwargs)
        extra = required(params, taken)
        if extra:
            raise AdapterError(f"{function.__name__}{inspect.signature(function)} needs more than x, p and a "
                               f"mode flag (required: {', '.join(extra)})")
        returned = probe(self, f"{function.__name__}(x, ...) (training, p=0.5)", options,
                         lambda state, x: function(x, **self._arguments(state, True)))
        if returned is None or isinstance(returned, tuple):
            raise AdapterError(f"{signature_text(function.__name__, function)} returned "
                               f"{type(returned).__name__}; a forward-only function must return the output "
                               "(a pair (out, cache) needs its backward: --backward NAME)")

    def _arguments(self, state, training: bool) -> dict:
        return {**self.kwargs, self.p_name: state.p, **self.mode.arguments(training), **generator_argument(self, state)}

    def build(self, value: float, seed: int):
        return SimpleNamespace(p=value, rng=np.random.default_rng(seed))

    def forward(self, state, x: np.ndarray, training: bool, mask=None, key=None):
        __tracebackhide__ = True
        kwargs = self._arguments(state, training)
        what = f"{self.function.__name__}(x, {', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
        return call(what, self.function, x, **kwargs)

    def backward(self, state, grad: np.ndarray):
        __tracebackhide__ = True
        if not self.has_backward:
            raise NotImplementedError("a forward-only function has no backward")
        return call(f"{self.bname}(dout)", self.backward_function, grad)

    def describe(self) -> str:
        if self.has_backward:
            backward = (f"{signature_text(self.bname, self.backward_function)} -> returned (no cache: it reads "
                        "what the forward left behind)")
        else:
            backward = f"backward: {self.autodiff}" if self.autodiff else "no backward (backward checks n/a)"
        return "; ".join([f"{signature_text(self.function.__name__, self.function)} -> returned",
                          backward, self.meaning.describe(), f"mode: {self.mode.describe()}"])
