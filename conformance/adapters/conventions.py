"""The calling conventions dropout is written in, and the ordered registry that recognises them.

Each convention knows whether an object follows it (``matches``), how to build one instance
for a p (``build``), and how to run ``forward`` and ``backward`` on it, from the parts in
:mod:`.modes`, :mod:`.calls` and :mod:`.meaning`. :func:`detect` returns the first convention
in :data:`CONVENTIONS` that matches; one that cannot be driven after all raises
:class:`.usercode.AdapterError` with what was found and the option that would help.

- :class:`.layer.LayerClass`: ``NAME(p)`` with a forward-like method, optionally a backward;
- :class:`.functions.FunctionalPair`: ``out, cache = f(x, param_dict)`` and
  ``dx = g(dout, cache)`` (the CS231n assignment), or ``f(x, p, ...)`` returning ``(out, cache)``;
- :class:`.functions.ForwardOnly`: ``f(x, p[, training])`` returning the output, no backward;
- :class:`.factory.ModelFactory`: ``model = Dropout(rate)``, ``Y, backprop = model(X, is_train)`` (thinc).
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Optional

from .factory import ModelFactory
from .functions import ForwardOnly, FunctionalPair
from .keyed import KeyedFunction
from .layer import LayerClass
from .meaning import Form
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


#: The conventions, in the order they are tried: the first that matches is used.
CONVENTIONS = (LayerClass, KeyedFunction, FunctionalPair, ForwardOnly, ModelFactory)


def detect(target, options: Options):
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
