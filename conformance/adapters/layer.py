"""The class convention: ``NAME(p)`` objects with a forward-like method and, usually, a backward.

Built with the p parameter found by name (and ``rng=``/``seed=`` if taken); the forward and
backward methods are found by name (:mod:`.calls`), the mode from the forward's signature
or the object (:mod:`.modes`); one probing call shows whether results are returned or
stored on attributes (the "Neural Networks from Scratch" layers set ``self.output`` and
``self.dinputs``).
"""
from __future__ import annotations

import inspect

import numpy as np

from . import linen
from .calls import (BACKWARD_NAMES, FORWARD_NAMES, GRAD_ATTRIBUTES, KEY_NAMES, OUTPUT_ATTRIBUTES, SEED_NAMES,
                    Returned, arrays_of_shape, find_result, parameters, probe_failed, probe_input, probing, required,
                    signature_text, user_method)
from .conventions import Convention
from .meaning import P_NAMES, p_meaning
from .modes import find_mode
from .usercode import AdapterError, call, where


class LayerClass(Convention):
    """``NAME(p)`` objects with a forward-like method and, usually, a backward."""

    order = 10

    @staticmethod
    def matches(target, options) -> bool:
        return inspect.isclass(target)

    def __init__(self, cls, options):
        self.cls = cls
        self.arrays, self.kwargs = options.lib, dict(options.impl_kwargs)
        params = constructor_parameters(cls)
        named = [n for n, q in params.items()
                 if n not in SEED_NAMES and q.kind not in (q.VAR_POSITIONAL, q.VAR_KEYWORD)]
        if not named:
            raise AdapterError(f"{cls.__name__}{inspect.signature(cls)} takes no parameter for p; "
                               "the harness builds NAME(p)")
        self.p_name = next((n for n in named if n in P_NAMES), named[0])
        extra = required(params, (self.p_name,) + SEED_NAMES + tuple(self.kwargs))
        if extra:
            raise AdapterError(f"{cls.__name__}{inspect.signature(cls)} needs more than p to be built "
                               f"(required: {', '.join(extra)}); the harness builds NAME({self.p_name}=p); "
                               "give the others with --impl-kwargs 'name=value, ...'")
        self.seed_name = next((n for n in SEED_NAMES if n in params), None)
        self.meaning = p_meaning(self.p_name, options.p_means)
        try:
            with probing():
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
        stub = getattr(self.arrays, "stub_method", None)   # paddle.nn.Layer.backward only raises
        if self.bname and not options.backward and stub is not None and stub(cls, self.bname):
            self.bname = None
        if options.backward and self.bname is None:
            raise AdapterError(f"{cls.__name__} has no method '{options.backward}' (--backward)")
        self.unbound = _unbound_linen(cls) and self.fname == "__call__"
        # a Keras layer is called as its users call it, layer(x, training=...): Layer.__call__
        # applies the dtype policy (float16/float64 in, float32 out) before running call();
        # --forward call drives call() itself (on the torch backend a layer is also an nn.Module,
        # whose forward() passes no training flag)
        self.via_keras_call = not options.forward and _keras_layer(cls) and callable(getattr(obj, "call", None))
        if self.via_keras_call:
            self.fname = "call"
        forward_params = parameters(getattr(obj, self.fname))
        self.accepts_mask = "mask" in forward_params
        self.has_backward = self.bname is not None
        self.mode = find_mode(forward_params, obj, options.module, options.mode_global)
        self.key_name = next((n for n in KEY_NAMES if n in forward_params), None) if self.arrays.keyed else None
        self.rng_collections = ()   #: a linen module's make_rng collections, given keys through apply's rngs=
        self.calls = [signature_text(self.fname, getattr(obj, self.fname))]
        if self.via_keras_call:
            self.calls[0] = f"layer{self.calls[0][len('call'):]} (Layer.__call__, as Keras users call it)"
        if self.has_backward:
            self.calls.append(signature_text(self.bname, getattr(obj, self.bname)))
        self.output = self.grad = Returned()
        shape = options.probe_shape
        failure = None
        for shape in (shape, (shape[0], int(np.prod(shape[1:])))):  # some code takes 2-D input only
            failure = self._probe(obj, shape)
            while self.unbound and (needed := linen.missing_collection(failure, self.rng_collections)):
                self.rng_collections += (needed,)
                self.key_name = self.key_name or "rngs"
                failure = self._probe(obj, shape)
            if failure is None:
                break
        else:
            raise probe_failed(f"{self._forward_text()} (training, p=0.5)", failure, options)

    def _call_arguments(self, training: bool, key=None) -> dict:
        kwargs = self.mode.arguments(training)
        if self.rng_collections:   # apply's rngs=; a key parameter of the module's own keeps the key itself
            own = self.key_name != "rngs"
            kwargs["rngs"] = linen.rngs(self.rng_collections, key, start=int(own))
            if own:
                kwargs[self.key_name] = key
        elif self.key_name:
            kwargs[self.key_name] = key
        return kwargs

    def _probe(self, obj, shape: tuple):
        """One training forward (and backward) to see where results land; the exception if the
        forward raised (a backward that raises is left to the tests to show)."""
        x = self.arrays.native(probe_input(shape))
        with probing():
            try:
                self.mode.set(obj, True)
                key = self.arrays.keys(0)() if self.key_name else None
                returned = self._method(obj)(x, **self._call_arguments(True, key))
            except Exception as exc:
                return exc
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
                    returned = getattr(obj, self.bname)(self.arrays.native(np.ones(shape)))
                except Exception:
                    return None
                self.grad = find_result(obj, returned, shape, GRAD_ATTRIBUTES)
                if self.grad is None:
                    raise AdapterError(
                        f"{signature_text(self.bname, getattr(obj, self.bname))} returned None and stored no "
                        f"array of the input's shape under any of self.{', self.'.join(GRAD_ATTRIBUTES)}; "
                        "return the gradient or store it as self.dinputs")
        return None

    def _method(self, obj):
        """The forward to call: the method itself, or for a flax.linen module (unbound until
        applied) ``obj.apply({}, ...)``, which runs ``__call__`` with no variables."""
        if self.unbound:
            return lambda *args, **kwargs: obj.apply({}, *args, **kwargs)
        if self.via_keras_call:
            return obj
        return getattr(obj, self.fname)

    def _forward_text(self) -> str:
        return f"{self.cls.__name__}(...)(x)" if self.via_keras_call else f"{self.cls.__name__}.{self.fname}(x)"

    def build(self, value: float, seed: int):
        kwargs = {**self.kwargs, self.p_name: value}
        if self.seed_name:
            kwargs[self.seed_name] = seed % 2**31   # an int32: torch's and TensorFlow's backends take no more
        return self.cls(**kwargs)

    def forward(self, obj, x: np.ndarray, training: bool, mask=None, key=None):
        __tracebackhide__ = True
        kwargs = self._call_arguments(training, key)
        if mask is not None:
            kwargs["mask"] = mask
        shown = [f", {k}={'<key>' if k == self.key_name else '{...}' if k == 'rngs' else repr(v)}"
                 for k, v in kwargs.items() if k != "mask"]
        what = f"{'layer' if self.via_keras_call else self.fname}(x{''.join(shown)})"
        returned = call(what, self._method(obj), x, **kwargs)
        return self.output.take(obj, returned, what)

    def backward(self, obj, grad: np.ndarray):
        __tracebackhide__ = True
        what = f"{self.bname}(grad)"
        return self.grad.take(obj, call(what, getattr(obj, self.bname), grad), what)

    def describe(self) -> str:
        parts = [f"{self.calls[0]} -> {self.output.describe()}"]
        if self.has_backward:
            parts.append(f"{self.calls[1]} -> {self.grad.describe()}")
        elif self.arrays.autodiff:
            parts.append(f"backward: {self.arrays.autodiff}")
        else:
            parts.append("no backward found (backward checks n/a)")
        if self.unbound:
            parts.append(f"called as {self.cls.__name__}(...).apply({{}}, x, ...)")
        if self.rng_collections:
            parts.append(f"a fresh key per call in {linen.describe(self.rng_collections)}")
        if self.key_name and (self.key_name != "rngs" or not self.rng_collections):
            parts.append(f"a fresh key per call as '{self.key_name}'")
        if self.kwargs:
            parts.append("built with " + ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items()))
        return "; ".join(parts + [self.meaning.describe(), f"mode: {self.mode.describe()}"])


def _unbound_linen(cls) -> bool:
    """A flax.linen module: its ``__call__`` runs only inside ``apply``."""
    return any(k.__module__ == "flax.linen.module" and k.__name__ == "Module" for k in inspect.getmro(cls))


def constructor_parameters(cls) -> dict:
    """The parameters ``cls(...)`` takes; from ``__init__`` when a metaclass hides them behind
    ``(*args, **kwargs)`` (flax.nnx modules)."""
    params = parameters(cls)
    if params and all(q.kind in (q.VAR_POSITIONAL, q.VAR_KEYWORD) for q in params.values()):
        init = dict(list(parameters(cls.__init__).items())[1:])
        if init:
            return init
    return params


def _keras_layer(cls) -> bool:
    """Whether ``cls`` is a Keras layer (a subclass of ``keras.layers.Layer``)."""
    return any(k.__name__ == "Layer" and k.__module__.split(".")[0] in ("keras", "tf_keras")
               for k in inspect.getmro(cls))
