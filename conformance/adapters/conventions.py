"""The calling conventions dropout is written in, and the ordered registry that recognises them.

A calling convention is how an implementation is built and called. Each is one class that
satisfies :class:`Convention`, made from the parts in :mod:`.modes`, :mod:`.calls` and
:mod:`.meaning`; among them:

- :class:`.layer.LayerClass`: ``NAME(p)`` with a forward-like method, optionally a backward;
- :class:`.keyed.KeyedFunction`: JAX-style ``f(key, x, rate, deterministic=False)``;
- :class:`.functions.FunctionalPair`: ``out, cache = f(x, param_dict)`` and
  ``dx = g(dout, cache)`` (the CS231n assignment), or ``f(x, p, ...)`` returning ``(out, cache)``;
- :class:`.functions.ForwardOnly`: ``f(x, p[, training])`` returning the output (a backward,
  if any, takes the gradient alone);
- :class:`.factory.ModelFactory`: ``model = Dropout(rate)``, ``Y, backprop = model(X, is_train)`` (thinc).

:data:`CONVENTIONS` is found, not listed: every class in a module of this package with an
integer ``order`` and a ``matches`` (:func:`discover`), lowest ``order`` first. Adding a
convention is adding one module here. :func:`detect` returns the first convention that
matches an object; one that cannot be driven after all raises
:class:`.usercode.AdapterError` with what was found and the option that would help.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
from dataclasses import dataclass
from typing import Optional, Protocol

from .meaning import Form, PMeaning
from .modes import Mode
from .usercode import AdapterError, NotThisConvention


@dataclass(frozen=True)
class Options:
    """What the command line says about the implementation (None: find it out)."""

    forward: Optional[str] = None
    backward: Optional[str] = None
    p_means: Optional[str] = None
    form: Form = Form("inverted")
    probe_shape: tuple = (6, 7, 5)
    module: object = None            #: where a function's backward partner (and a global mode) is looked up
    arrays: object = None            #: the array library (:mod:`.arrays`); None: numpy
    impl_kwargs: tuple = ()          #: ``--impl-kwargs``: (name, value) pairs for the constructor or each call
    mode_global: Optional[str] = None  #: ``--mode-global MODULE:ATTR``

    @property
    def lib(self):
        """The array library, numpy unless another was found."""
        if self.arrays is None:
            from .arrays import NumpyArrays

            return NumpyArrays()
        return self.arrays


class Convention(Protocol):
    """What every calling convention provides: how it recognises an object, and how it drives one.

    Recognising, in two steps. ``matches(target, options)`` is the quick look, on the class:
    what the object is and its parameter names, no call. The constructor
    ``Convention(target, options)`` is the close look: it reads the signatures, finds p, the
    mode and the calls, and makes a probing training forward (in :func:`.calls.probing`) to
    see what comes back. It raises :class:`.usercode.NotThisConvention` if the object
    turns out not to be of this convention (the next one in :data:`CONVENTIONS` gets its
    turn), and :class:`.usercode.AdapterError` if it is but cannot be driven.

    Driving, as :class:`.driver.Driver` does for every test: ``build`` makes one instance
    (``state``) for the value ``meaning.value(p)`` and a seed; ``mode`` sets training or
    evaluation (``mode.set(state, training)`` and ``mode.arguments(training)`` for each call);
    ``forward`` and ``backward`` take and return arrays of the implementation's own library.

    Subclassing it is not needed to be found (see :func:`discover`); the conventions here do,
    for its defaults: no ``mask=``, no key.
    """

    #: where it is tried: lowest first; the first convention that matches is used
    order: int
    #: the forward takes ``mask=`` (the harness's keep-mask)
    accepts_mask: bool = False
    #: it has a backward of its own (without one, the array library's autodiff, if any)
    has_backward: bool
    #: the forward's parameter that takes a fresh random key each call; None: none
    key_name: Optional[str] = None
    #: what the harness's p becomes in its hands (drop or keep probability)
    meaning: PMeaning
    #: how training and evaluation mode reach it (:mod:`.modes`)
    mode: Mode

    @staticmethod
    def matches(target, options: Options) -> bool:
        """Whether ``target`` looks like this convention (without calling it)."""

    def build(self, value: float, seed: int):
        """One instance for the p value it is given (already in its meaning): its state."""

    def forward(self, state, x, training: bool, mask=None, key=None):
        """The output of one forward of ``state`` on ``x``, in ``training`` mode or not."""

    def backward(self, state, grad):
        """The input gradient for the upstream gradient ``grad`` of the last forward."""

    def describe(self) -> str:
        """What was found, for the report's first line: the calls, p's meaning, the mode."""


def discover() -> tuple:
    """The conventions defined in this package's modules, lowest ``order`` first: each class
    with an integer ``order`` and a ``matches``."""
    found = []
    for info in pkgutil.iter_modules(importlib.import_module(__package__).__path__):
        module = importlib.import_module(f"{__package__}.{info.name}")
        found += [value for value in vars(module).values()
                  if inspect.isclass(value) and value.__module__ == module.__name__
                  and isinstance(getattr(value, "order", None), int) and callable(getattr(value, "matches", None))]
    orders = [c.order for c in found]
    clashes = sorted(c.__name__ for c in found if orders.count(c.order) > 1)
    if clashes:
        raise RuntimeError(f"conventions {', '.join(clashes)} share an order: which is tried first is undefined")
    return tuple(sorted(found, key=lambda c: c.order))


#: The conventions, in the order they are tried: the first that matches is used.
CONVENTIONS = discover()


def detect(target, options: Options) -> Convention:
    """The first convention in :data:`CONVENTIONS` that matches ``target``, built for it."""
    if options.forward and not inspect.isclass(target):
        raise AdapterError("--forward names a method of a class; for a function, --impl names the forward")
    for convention in CONVENTIONS:
        if convention.matches(target, options):
            try:
                return convention(target, options)
            except NotThisConvention:
                continue
    try:
        found = f"{getattr(target, '__name__', type(target).__name__)}{inspect.signature(target)}"
    except (TypeError, ValueError):
        found = repr(target)
    raise AdapterError(
        f"{found} matches no known calling convention: a class NAME(p) with a forward method; a pair "
        "f(x, dropout_param) -> (out, cache) with a backward g(dout, cache) (--backward NAME); or a function "
        "f(x, p[, training]) whose second parameter names p (p, rate, dropout, keep_prob, ...)")
