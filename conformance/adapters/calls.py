"""Which calls are made, and where their results land.

Method names are looked up in :data:`FORWARD_NAMES` / :data:`BACKWARD_NAMES`, first match
wins (``--forward`` / ``--backward`` name others). A result is either returned or, when
the call returns ``None``, stored on the object under one of :data:`OUTPUT_ATTRIBUTES` /
:data:`GRAD_ATTRIBUTES` (the "Neural Networks from Scratch" layers set ``self.output`` and
``self.dinputs``). Which of the two is found by one probing call when the implementation
is loaded (:func:`find_result`, inside :func:`probing`, which leaves ``np.random`` as it was).
The signature helpers here are what the conventions use to recognise an object.
"""
from __future__ import annotations

import contextlib
import inspect
import sys
import warnings
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .usercode import AdapterError, UserCodeError

SEED_NAMES = ("rng", "seed")
#: parameters that take a jax PRNG key (a fresh one each call); ``rngs`` also takes flax's nnx.Rngs
KEY_NAMES = ("key", "rng", "rngs", "prng_key", "dropout_rng", "rng_key")
FORWARD_NAMES = ("forward", "fprop", "forward_pass", "forward_propagation", "call", "__call__")
BACKWARD_NAMES = ("backward", "bprop", "backward_pass", "backward_propagation", "backprop")
OUTPUT_ATTRIBUTES = ("output", "out", "outputs", "y", "result", "activation", "a")
GRAD_ATTRIBUTES = ("dinputs", "dinput", "dx", "dX", "d_inputs", "grad_input", "grad_inputs", "input_grad",
                   "dvalues", "grad")


def parameters(function) -> dict:
    """The named parameters of ``function`` (bound methods without ``self``); {} if unknown."""
    try:
        return dict(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return {}


def named_parameters(function) -> list:
    """The names of ``function``'s parameters that take one value each (no ``*args``, ``**kwargs``)."""
    return [n for n, q in parameters(function).items() if q.kind not in (q.VAR_POSITIONAL, q.VAR_KEYWORD)]


def signature_text(name: str, function) -> str:
    """``name(a, b)`` with ``function``'s own parameter names, as the description shows them."""
    return f"{name}({', '.join(named_parameters(function))})"


def user_method(target, name: str, names=()):
    """The method ``name`` if given, else the first of ``names`` the object has; ``None`` if none.
    ``__call__`` counts only when the object's own class defines it."""
    for candidate in ([name] if name else names):
        if candidate == "__call__":
            if any("__call__" in vars(k) for k in type(target).__mro__[:-1]):
                return candidate
        elif callable(getattr(target, candidate, None)):
            return candidate
    return None


@dataclass(frozen=True)
class Returned:
    """The call returns its result."""

    def take(self, target, returned, what: str):
        return returned

    def describe(self) -> str:
        return "returned"


@dataclass(frozen=True)
class Stored:
    """The call returns ``None`` and stores its result on ``target.<name>``."""

    name: str

    def take(self, target, returned, what: str):
        if not hasattr(target, self.name):
            raise UserCodeError(f"{what} returned {returned!r} and left no self.{self.name}")
        return getattr(target, self.name)

    def describe(self) -> str:
        return f"self.{self.name}"


def arrays_of_shape(target, shape: tuple) -> list:
    """Names of ``target``'s attributes holding an array of ``shape`` (for messages)."""
    return [k for k, v in vars(target).items() if isinstance(v, np.ndarray) and v.shape == shape]


def find_result(target, returned, shape: tuple, names: tuple):
    """Where a probing call's result landed: returned, or the first of ``names`` holding an
    array of ``shape``; ``None`` if neither."""
    if returned is not None:
        return Returned()
    for name in names:
        value = getattr(target, name, None)
        if hasattr(value, "shape") and not callable(value) and tuple(value.shape) == shape:
            return Stored(name)
    return None


@contextlib.contextmanager
def probing():
    """A probing call leaves the global numpy stream (and torch's, if torch is in use) as it
    found it, and stays quiet."""
    state = np.random.get_state()
    torch = sys.modules.get("torch")
    torch_state = torch.random.get_rng_state() if torch is not None else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        np.random.set_state(state)
        if torch_state is not None:
            torch.random.set_rng_state(torch_state)


def probe_failed(what: str, exc: BaseException, options) -> AdapterError:
    """The usage error for a probing training forward that raised: what was tried, what it
    raised where, and the options that change how the implementation is driven."""
    from .arrays import LIBRARIES
    from .hints import for_error
    from .usercode import where

    lib = options.lib
    hints = [f"--array-lib {'|'.join(LIBRARIES)} if it takes another library's arrays (it was handed "
             f"{lib.describe()})",
             "--impl-kwargs 'name=value, ...' for constructor arguments it needs",
             "--forward NAME / --p-means keep / --mode-global MODULE:ATTR if those were guessed wrong"]
    text = str(exc)
    return AdapterError(f"the probing call {what} on a float64 array of shape {options.probe_shape} raised "
                        f"{type(exc).__name__}: {text}{for_error(text)}\n  at {where(exc)}\n  options that may help: "
                        + "; ".join(hints))


def probe_input(shape: tuple) -> np.ndarray:
    return np.linspace(0.5, 1.5, int(np.prod(shape))).reshape(shape)


def probe(convention, what: str, options, run):
    """What one probing training forward at p = 0.5 returns: ``run(state, x)`` for an instance
    ``state`` the convention builds and the probing input ``x`` in the implementation's arrays,
    inside :func:`probing`. An exception on the way is the usage error of :func:`probe_failed`
    (``what``: the call as the message shows it)."""
    with probing():
        try:
            state = convention.build(convention.meaning.value(0.5), 0)
            return run(state, options.lib.native(probe_input(options.probe_shape)))
        except Exception as exc:
            raise probe_failed(what, exc, options) from exc


def required(params: dict, skip: tuple) -> list:
    return [n for n, q in params.items() if n not in skip and q.default is q.empty
            and q.kind not in (q.VAR_POSITIONAL, q.VAR_KEYWORD)]


def is_function(target) -> bool:
    return inspect.isfunction(target) or inspect.isbuiltin(target)


def first_parameter(function) -> Optional[str]:
    names = named_parameters(function)
    return names[0] if names else None


def second_parameter(function) -> Optional[str]:
    names = named_parameters(function)
    return names[1] if len(names) > 1 else None
