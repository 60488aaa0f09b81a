"""The haiku module convention: ``hk.Module`` subclasses, which exist only inside ``hk.transform``.

Haiku refuses to build a module outside a transform ("All `hk.Module`s must be initialized
inside an `hk.transform`"), so the harness does what a haiku user does: it wraps building
and calling the module in a function and transforms that, with state (a module that keeps
none has an empty state)::

    f = hk.transform_with_state(lambda x, **mode: Module(rate)(x, **mode))
    params, state = f.init(key, x)                              # once, on the first input
    out, state = f.apply(params, state, key, x, is_training=True)   # a fresh key every call

so ``hk.next_rng_key()`` inside the module draws from the call's key. The backward is
``jax.vjp`` of that apply; the mode is a keyword of the module's ``__call__`` (haiku has no
``train()``/``eval()``), or none.
"""
from __future__ import annotations

import inspect
from types import SimpleNamespace

import numpy as np

from .calls import FORWARD_NAMES, SEED_NAMES, parameters, probe, required
from .conventions import Convention
from .layer import constructor_parameters
from .meaning import P_NAMES, p_meaning
from .modes import find_mode
from .usercode import AdapterError, call


def is_haiku_module(cls) -> bool:
    return inspect.isclass(cls) and any(k.__module__.startswith("haiku.") and k.__name__ == "Module"
                                        for k in inspect.getmro(cls)[1:])


class HaikuModule(Convention):
    """An ``hk.Module`` subclass ``Module(rate)``, built and called inside ``hk.transform_with_state``."""

    order = 5                      # before LayerClass: haiku modules cannot be built as classes are
    has_backward = False
    key_name = "rng"

    @staticmethod
    def matches(target, options) -> bool:
        return options.lib.keyed and is_haiku_module(target)

    def __init__(self, cls, options):
        import haiku as hk

        self.cls, self.hk, self.arrays = cls, hk, options.lib
        if options.backward:
            raise AdapterError(f"{cls.__name__} is differentiated by {self.arrays.autodiff}; --backward does not apply")
        self.kwargs = dict(options.impl_kwargs)
        params = {n: q for n, q in constructor_parameters(cls).items() if n != "name"}
        named = [n for n, q in params.items() if q.kind not in (q.VAR_POSITIONAL, q.VAR_KEYWORD)]
        self.p_name = next((n for n in named if n in P_NAMES), named[0] if named else None)
        if self.p_name is None:
            raise AdapterError(f"{cls.__name__}{inspect.signature(cls)} takes no parameter for p; "
                               "the harness builds NAME(p) inside hk.transform")
        extra = required(params, (self.p_name,) + SEED_NAMES + tuple(self.kwargs))
        if extra:
            raise AdapterError(f"{cls.__name__}{inspect.signature(cls)} needs more than p to be built "
                               f"(required: {', '.join(extra)}); give the others with --impl-kwargs 'name=value, ...'")
        self.meaning = p_meaning(self.p_name, options.p_means)
        self.fname = options.forward or next((n for n in FORWARD_NAMES if _defines(cls, n)), None)
        if self.fname is None or not callable(getattr(cls, self.fname, None)):
            raise AdapterError(f"{cls.__name__} has no forward-like method (looked for "
                               f"{options.forward or ', '.join(FORWARD_NAMES)}); name it with --forward NAME")
        method = getattr(cls, self.fname)
        self.forward_params = dict(list(parameters(method).items())[1:])   # without self
        self.mode = find_mode(self.forward_params, None, options.module, options.mode_global)
        self.call_text = f"{self.fname}({', '.join(self.forward_params)})"
        probe(self, f"{cls.__name__}({self.p_name}=0.5).{self.fname}(x) inside hk.transform_with_state "
                    "(training, p=0.5)", options,
              lambda state, x: self.forward(state, x, True, key=self.arrays.keys(1)()))

    def build(self, value: float, seed: int):
        hk, cls, fname = self.hk, self.cls, self.fname
        kwargs = {**self.kwargs, self.p_name: value}

        def run(x, **mode):
            return getattr(cls(**kwargs), fname)(x, **mode)

        return SimpleNamespace(f=hk.transform_with_state(run), params=None, hkstate=None,
                               init_key=self.arrays.keys(seed ^ 0x5EED)())

    def forward(self, state, x, training: bool, mask=None, key=None):
        __tracebackhide__ = True
        mode = self.mode.arguments(training)
        shown = "".join(f", {k}={v!r}" for k, v in mode.items())
        if state.params is None:
            state.params, state.hkstate = call(f"f.init(key, x{shown}) (hk.transform_with_state of "
                                               f"{self.cls.__name__}(...).{self.fname})",
                                               state.f.init, state.init_key, x, **mode)
        out, new_state = call(f"f.apply(params, state, <key>, x{shown})", state.f.apply, state.params,
                              state.hkstate, key, x, **mode)
        if not _traced(new_state):   # under jax.vjp a state computed from x is a tracer: not kept
            state.hkstate = new_state
        return out

    def backward(self, state, grad: np.ndarray):
        raise NotImplementedError("differentiated by the array library")

    def describe(self) -> str:
        return "; ".join([f"{self.cls.__name__}({self.p_name}).{self.call_text} built and called inside "
                          "hk.transform_with_state -> returned", "a fresh key per call as apply's rng "
                          "(hk.next_rng_key draws from it)", f"backward: {self.arrays.autodiff}",
                          self.meaning.describe(), f"mode: {self.mode.describe()}"])


def _defines(cls, name: str) -> bool:
    """Whether the user's class (or a base of its own, not haiku's) defines the method ``name``."""
    return any(name in vars(k) for k in cls.__mro__[:-1] if not k.__module__.startswith("haiku."))


def _traced(tree) -> bool:
    import jax

    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(tree))
