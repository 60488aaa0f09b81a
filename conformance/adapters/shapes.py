"""The shapes of dropout people write, and the ordered registry that recognises them.

Each shape knows how to tell whether an object has it (``matches``), how to build one
instance for a p (``build``), and how to run ``forward`` and ``backward`` on it, from the
parts in :mod:`.modes`, :mod:`.calls` and :mod:`.meaning`. :func:`detect` returns the
first shape in :data:`SHAPES` that matches; one that cannot be driven after all raises
:class:`.usercode.AdapterError` with what was found and the option that would help.

- :class:`LayerClass`: ``NAME(p)`` with a forward-like method, optionally a backward
  (results returned or stored on attributes; mode by keyword, methods or attribute);
- :class:`FunctionalPair`: ``out, cache = f(x, param_dict)`` and ``dx = g(dout, cache)``
  (the CS231n assignment), or ``f(x, p, ...)`` returning ``(out, cache)``;
- :class:`ForwardOnly`: ``f(x, p[, training])`` returning the output, no backward.
"""
from __future__ import annotations

import contextlib
import inspect
import warnings
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Optional

import numpy as np

from .calls import (BACKWARD_NAMES, FORWARD_NAMES, GRAD_ATTRIBUTES, OUTPUT_ATTRIBUTES, Returned,
                    arrays_of_shape, find_result, parameters, signature_text, user_method)
from .meaning import P_NAMES, Form, p_meaning
from .modes import Keyword, find_mode
from .usercode import AdapterError, UserCodeError, call, where

SEED_NAMES = ("rng", "seed")


@dataclass(frozen=True)
class Options:
    """What the command line says about the implementation (None: find it out)."""

    forward: Optional[str] = None
    backward: Optional[str] = None
    p_means: Optional[str] = None
    form: Form = Form("inverted")
    probe_shape: tuple = (6, 7, 5)
    module: object = None            #: where a function's backward partner is looked up


@contextlib.contextmanager
def _probing():
    """A probing call leaves the global numpy stream as it found it, and stays quiet."""
    state = np.random.get_state()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        np.random.set_state(state)


def _probe_input(shape: tuple) -> np.ndarray:
    return np.linspace(0.5, 1.5, int(np.prod(shape))).reshape(shape)


def _required(params: dict, skip: tuple) -> list:
    return [n for n, q in params.items() if n not in skip and q.default is q.empty
            and q.kind not in (q.VAR_POSITIONAL, q.VAR_KEYWORD)]


def _is_function(target) -> bool:
    return inspect.isfunction(target) or inspect.isbuiltin(target)


def _second_parameter(function) -> Optional[str]:
    names = [n for n, q in parameters(function).items() if q.kind not in (q.VAR_POSITIONAL, q.VAR_KEYWORD)]
    return names[1] if len(names) > 1 else None


def _as_pair(returned, what: str):
    if not (isinstance(returned, tuple) and len(returned) == 2):
        raise UserCodeError(f"{what} returned {type(returned).__name__}, not a pair (out, cache)")
    return returned


class LayerClass:
    """``NAME(p)`` objects with a forward-like method and, usually, a backward."""

    kind = "class"

    @staticmethod
    def matches(target, options: Options) -> bool:
        return inspect.isclass(target)

    def __init__(self, cls, options: Options):
        self.cls, self.form = cls, options.form
        params = parameters(cls)
        named = [n for n, q in params.items() if n not in SEED_NAMES and q.kind not in (q.VAR_POSITIONAL, q.VAR_KEYWORD)]
        if not named:
            raise AdapterError(f"{cls.__name__}{inspect.signature(cls)} takes no parameter for p; "
                               "the harness builds NAME(p)")
        self.p_name = next((n for n in named if n in P_NAMES), named[0])
        extra = _required(params, (self.p_name,) + SEED_NAMES)
        if extra:
            raise AdapterError(f"{cls.__name__}{inspect.signature(cls)} needs more than p to be built "
                               f"(required: {', '.join(extra)}); the harness builds NAME({self.p_name}=p)")
        self.seed_name = next((n for n in SEED_NAMES if n in params), None)
        self.meaning = p_meaning(self.p_name, options.p_means)
        try:
            with _probing():
                obj = self.build(self.meaning.value(0.5), 0)
        except Exception as exc:
            raise AdapterError(f"building {cls.__name__}({self.p_name}=0.5) raised {type(exc).__name__}: {exc}"
                               f"\n  at {where(exc)}") from exc
        self.fname = user_method(obj, options.forward, FORWARD_NAMES)
        if self.fname is None:
            found = sorted(n for n in dir(obj) if not n.startswith("_") and callable(getattr(obj, n, None)))
            wanted = f"no method '{options.forward}'" if options.forward else \
                f"no forward-like method (looked for {', '.join(FORWARD_NAMES)})"
            raise AdapterError(f"{cls.__name__} has {wanted}; its methods: {', '.join(found) or 'none'}. "
                               "Name the forward with --forward NAME")
        self.bname = user_method(obj, options.backward, BACKWARD_NAMES)
        if options.backward and self.bname is None:
            raise AdapterError(f"{cls.__name__} has no method '{options.backward}' (--backward)")
        forward_params = parameters(getattr(obj, self.fname))
        self.accepts_mask = "mask" in forward_params
        self.has_backward = self.bname is not None
        self.mode = find_mode(forward_params, obj)
        self.output = self.grad = Returned()
        self._probe(obj, options.probe_shape)

    def _probe(self, obj, shape: tuple) -> None:
        """One training forward (and backward) to see where results land."""
        x = _probe_input(shape)
        with _probing():
            try:
                self.mode.set(obj, True)
                returned = getattr(obj, self.fname)(x, **self.mode.arguments(True))
            except Exception:  # the tests will show it, with the user's file and line
                return
            if isinstance(returned, tuple):
                raise AdapterError(f"{self._forward_text()} returned a tuple of {len(returned)}; the harness "
                                   "expects the output array (returned, or stored on self.output)")
            self.output = find_result(obj, returned, shape, OUTPUT_ATTRIBUTES)
            if self.output is None:
                raise AdapterError(
                    f"{self._forward_text()} returned None and stored no array of the input's shape under "
                    f"any of self.{', self.'.join(OUTPUT_ATTRIBUTES)} (arrays of that shape it holds: "
                    f"{', '.join(arrays_of_shape(obj, shape)) or 'none'}); return the output or store it "
                    "as self.output")
            if self.has_backward:
                try:
                    returned = getattr(obj, self.bname)(np.ones(shape))
                except Exception:
                    return
                self.grad = find_result(obj, returned, shape, GRAD_ATTRIBUTES)
                if self.grad is None:
                    raise AdapterError(
                        f"{signature_text(self.bname, getattr(obj, self.bname))} returned None and stored no "
                        f"array of the input's shape under any of self.{', self.'.join(GRAD_ATTRIBUTES)}; "
                        "return the gradient or store it as self.dinputs")

    def _forward_text(self) -> str:
        return f"{self.cls.__name__}.{self.fname}(x)"

    def build(self, value: float, seed: int):
        kwargs = {self.p_name: value}
        if self.seed_name:
            kwargs[self.seed_name] = seed
        return self.cls(**kwargs)

    def forward(self, obj, x: np.ndarray, training: bool, mask=None):
        __tracebackhide__ = True
        kwargs = self.mode.arguments(training)
        if mask is not None:
            kwargs["mask"] = mask
        what = f"{self.fname}(x{''.join(f', {k}={v!r}' for k, v in kwargs.items() if k != 'mask')})"
        returned = call(what, getattr(obj, self.fname), x, **kwargs)
        return self.output.take(obj, returned, what)

    def backward(self, obj, grad: np.ndarray):
        __tracebackhide__ = True
        what = f"{self.bname}(grad)"
        return self.grad.take(obj, call(what, getattr(obj, self.bname), grad), what)

    def describe(self) -> str:
        method = lambda name: getattr(self.cls, name, None) or getattr(self.cls, "__call__")  # noqa: E731
        parts = [f"{signature_text(self.fname, method(self.fname)).replace('(self, ', '(').replace('(self)', '()')}"
                 f" -> {self.output.describe()}"]
        if self.has_backward:
            text = signature_text(self.bname, method(self.bname)).replace("(self, ", "(")
            parts.append(f"{text} -> {self.grad.describe()}")
        else:
            parts.append("no backward found (backward checks n/a)")
        return "; ".join(parts + [self.meaning.describe(), f"mode: {self.mode.describe()}"])


def _partner(function, options: Options):
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
    second = _second_parameter(function)
    if second and ("param" in second or second in ("config", "cfg", "options", "opts", "settings")):
        return second
    return None


class FunctionalPair:
    """``out, cache = forward(x, dropout_param)`` with a fresh ``{'p': ..., 'mode': ...}`` per
    call (never a ``'seed'``: it would fix every call's mask), and ``dx = backward(dout,
    cache)``; or ``forward(x, p[, mode])`` returning ``(out, cache)``."""

    kind = "functional pair"
    accepts_mask = False
    has_backward = True

    @staticmethod
    def matches(target, options: Options) -> bool:
        if not _is_function(target):
            return False
        if _dict_parameter(target):
            return True
        return _second_parameter(target) in P_NAMES and _partner(target, options)[1] is not None

    def __init__(self, function, options: Options):
        self.function, self.form = function, options.form
        self.dict_name = _dict_parameter(function)
        self.bname, self.backward_function = _partner(function, options)
        if self.backward_function is None:
            raise AdapterError(f"{function.__name__}{inspect.signature(function)} takes a parameter dict "
                               "but no backward was found beside it; name it with --backward NAME")
        if self.dict_name:
            self.p_name = "p"
            self.meaning = p_meaning("p", options.p_means, label=f"{self.dict_name}['p']")
            self.mode = Keyword("mode", "train", "test")
        else:
            self.p_name = _second_parameter(function)
            self.meaning = p_meaning(self.p_name, options.p_means)
            self.mode = find_mode(parameters(function))
        with _probing():
            try:
                args, kwargs = self._arguments(0.5, True)
                returned = self.function(_probe_input(options.probe_shape), *args, **kwargs)
            except Exception:
                return
        if not (isinstance(returned, tuple) and len(returned) == 2):
            raise AdapterError(f"{signature_text(function.__name__, function)} returned "
                               f"{type(returned).__name__}, not (out, cache) for {self.bname}(dout, cache)")

    def _arguments(self, value: float, training: bool) -> tuple:
        """``(args, kwargs)`` after ``x``: a fresh dict, or p and the mode as keywords."""
        if self.dict_name:
            return ({"p": value, **self.mode.arguments(training)},), {}
        return (), {self.p_name: value, **self.mode.arguments(training)}

    def build(self, value: float, seed: int):
        return SimpleNamespace(p=value, cache=None)

    def forward(self, state, x: np.ndarray, training: bool, mask=None):
        __tracebackhide__ = True
        args, kwargs = self._arguments(state.p, training)
        shown = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
        what = f"{self.function.__name__}(x, {', '.join(shown)})"
        out, state.cache = _as_pair(call(what, self.function, x, *args, **kwargs), what)
        return out

    def backward(self, state, grad: np.ndarray):
        __tracebackhide__ = True
        return call(f"{self.bname}(dout, cache)", self.backward_function, grad, state.cache)

    def describe(self) -> str:
        mode = (f"{self.dict_name}['mode'] ('train'/'test')" if self.dict_name else self.mode.describe())
        return "; ".join([f"{signature_text(self.function.__name__, self.function)} -> (out, cache)",
                          f"{signature_text(self.bname, self.backward_function)} -> returned",
                          self.meaning.describe(), f"mode: {mode}"])


class ForwardOnly:
    """``f(x, p[, training])`` returning the output; no backward (backward checks are n/a)."""

    kind = "forward-only function"
    accepts_mask = False
    has_backward = False

    @staticmethod
    def matches(target, options: Options) -> bool:
        return _is_function(target) and _second_parameter(target) in P_NAMES

    def __init__(self, function, options: Options):
        self.function, self.form = function, options.form
        if options.backward:
            raise AdapterError(f"{function.__name__} returns only the output, so there is no cache to hand "
                               f"'{options.backward}'; a functional pair's forward returns (out, cache)")
        params = parameters(function)
        self.p_name = _second_parameter(function)
        self.meaning = p_meaning(self.p_name, options.p_means)
        self.mode = find_mode(params)
        first = next(iter(params))
        extra = _required(params, (first, self.p_name, getattr(self.mode, "name", "")))
        if extra:
            raise AdapterError(f"{function.__name__}{inspect.signature(function)} needs more than x, p and a "
                               f"mode flag (required: {', '.join(extra)})")
        with _probing():
            try:
                returned = function(_probe_input(options.probe_shape), **self._arguments(0.5, True))
            except Exception:
                return
        if returned is None or isinstance(returned, tuple):
            raise AdapterError(f"{signature_text(function.__name__, function)} returned "
                               f"{type(returned).__name__}; a forward-only function must return the output "
                               "(a pair (out, cache) needs its backward: --backward NAME)")

    def _arguments(self, value: float, training: bool) -> dict:
        return {self.p_name: value, **self.mode.arguments(training)}

    def build(self, value: float, seed: int):
        return SimpleNamespace(p=value)

    def forward(self, state, x: np.ndarray, training: bool, mask=None):
        __tracebackhide__ = True
        kwargs = self._arguments(state.p, training)
        what = f"{self.function.__name__}(x, {', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
        return call(what, self.function, x, **kwargs)

    def backward(self, state, grad: np.ndarray):
        raise NotImplementedError("a forward-only function has no backward")

    def describe(self) -> str:
        return "; ".join([f"{signature_text(self.function.__name__, self.function)} -> returned",
                          "no backward (backward checks n/a)", self.meaning.describe(),
                          f"mode: {self.mode.describe()}"])


#: The shapes, in the order they are tried: the first that matches is used.
SHAPES = (LayerClass, FunctionalPair, ForwardOnly)


def detect(target, options: Options):
    """The first shape in :data:`SHAPES` that matches ``target``, built for it."""
    if options.forward and not inspect.isclass(target):
        raise AdapterError("--forward names a method of a class; for a function, --impl names the forward")
    for shape in SHAPES:
        if shape.matches(target, options):
            return shape(target, options)
    try:
        found = f"{getattr(target, '__name__', type(target).__name__)}{inspect.signature(target)}"
    except (TypeError, ValueError):
        found = repr(target)
    raise AdapterError(
        f"{found} matches no known shape: a class NAME(p) with a forward method; a pair "
        "f(x, dropout_param) -> (out, cache) with a backward g(dout, cache) (--backward NAME); or a function "
        "f(x, p[, training]) whose second parameter names p (p, rate, dropout, keep_prob, ...)")


