"""Convention B: a params dict and ``loss(X, y) -> (loss, grads)`` built from module-level
``*_forward`` / ``*_backward`` function pairs (the CS231n ``FullyConnectedNet``).

The functions are traced, not the model: every module-level function named ``*_forward``,
``*_backward`` or ``*_loss`` in the model's module, and in the modules those functions come
from, is wrapped for the duration of each call (composites such as ``affine_relu_forward``
call the plain ones through their own module, which is wrapped too). Only the innermost calls
count: a composite is the layers it calls. Each backward is paired with its forward by the
cache object the forward returned; a parameter is named by identity with the params dict
(``W1`` is the array passed to the first ``affine_forward``). The training step is the
model's own ``loss(X, y)``; its evaluation forward is ``loss(X)``.
"""
from __future__ import annotations

import inspect
import sys
from contextlib import contextmanager

import numpy as np

from ..adapters.usercode import AdapterError, call as user_call
from .kinds import KIND_WORDS, Layer, Param, model_l2, sgd
from .record import Call, Tape, _copy

SUFFIXES = ("_forward", "_backward", "_loss")


def _kind(name: str):
    base = name.rsplit("_", 1)[0].lower()
    for words, kind in KIND_WORDS:
        if any(w == base or base.startswith(w) for w in words):
            return kind
    return None


def _snapshot(value):
    """``value`` with every array copied, one level into tuples (results and caches)."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, tuple):
        return tuple(_snapshot(v) if isinstance(v, (np.ndarray, tuple)) else v for v in value)
    return value


def is_functional(model) -> bool:
    loss = getattr(model, "loss", None)
    return isinstance(getattr(model, "params", None), dict) and inspect.ismethod(loss) \
        and "y" in inspect.signature(loss).parameters


class Tracer:
    """Wraps the ``*_forward``/``*_backward``/``*_loss`` functions while a call runs."""

    def __init__(self, model):
        self.model = model
        self.modules = self._modules(sys.modules[type(model).__module__])
        self.depth = 0
        self.events = []

    @staticmethod
    def _modules(first) -> list:
        found, todo = [], [first]
        while todo:
            module = todo.pop()
            if module is None or module in found:
                continue
            found.append(module)
            for name, value in vars(module).items():
                if inspect.isfunction(value) and name.endswith(SUFFIXES):
                    todo.append(sys.modules.get(value.__module__))
        return found

    def _wrap(self, name, function):
        tracer = self

        def traced(*args, **kwargs):
            event = {"name": name, "args": args, "inner": False}
            tracer.events.append(event)
            tracer.depth += 1
            start = len(tracer.events)
            try:
                out = function(*args, **kwargs)
            finally:
                tracer.depth -= 1
            event["inner"] = all(not e["name"].endswith(name[name.rfind("_"):]) for e in tracer.events[start:])
            # copied now: the caller may change them in place afterwards (grads[k] += reg * W)
            event["out"], event["values"] = out, _snapshot(out)
            event["arg_values"] = _snapshot(args)
            return out

        traced.__wrapped__ = function
        return traced

    @contextmanager
    def tracing(self):
        self.events = []
        saved = []
        wrappers = {}
        for module in self.modules:
            for name, value in list(vars(module).items()):
                if inspect.isfunction(value) and name.endswith(SUFFIXES):
                    wrapper = wrappers.setdefault(value, self._wrap(name, value))
                    saved.append((module, name, value))
                    setattr(module, name, wrapper)
        try:
            yield self.events
        finally:
            for module, name, value in saved:
                setattr(module, name, value)


class FunctionalNetwork:
    """The same interface as :class:`.drive.Network`, over traced functions."""

    def __init__(self, model):
        self.model = model
        self.tracer = Tracer(model)
        self.params = model.params
        self.grads = {}
        self.where = f"{type(model).__name__}.params + loss(X, y), traced *_forward/*_backward functions"
        self.layers = []
        self.recorder = self    # restore() lives here
        weights = sorted((k for k, v in self.params.items() if isinstance(v, np.ndarray) and v.ndim == 2),
                         key=lambda k: (len(k), k))
        if not weights:
            raise AdapterError(f"{type(model).__name__}.params holds no weight matrix")
        X = np.linspace(-1, 1, 2 * self.params[weights[0]].shape[0]).reshape(2, -1)
        with self.tracer.tracing() as events:
            try:
                user_call("model.loss(X)", model.loss, X)
            except AssertionError as exc:
                raise AdapterError(f"the probing evaluation call model.loss(X) with X of shape {X.shape} (from "
                                   f"params['{weights[0]}']) failed: {exc}") from exc
        forwards = [e for e in events if e["name"].endswith("_forward") and e["inner"]]
        for i, e in enumerate(forwards):
            layer = Layer(f"#{i}", e["name"], _kind(e["name"]))
            layer.extra["title"] = e["name"]
            if layer.kind is None:
                raise AdapterError(f"{self.where}: cannot tell what {e['name']} is (known: affine/linear/fc, "
                                   "relu/leaky_relu/sigmoid/tanh, dropout)")
            if layer.kind == "linear":
                names = [self._name(a) for a in e["args"][1:3]]
                if names[0] is None:
                    raise AdapterError(f"{e['name']}'s weight is not an array of model.params")
                layer.weight = self._param(names[0])
                layer.bias = self._param(names[1]) if names[1] else None
                layer.extra["title"] = f"{e['name']}({', '.join(n for n in names if n)})"
            self.layers.append(layer)
        self.kind = "functional"

    def _name(self, array):
        return next((k for k, v in self.params.items() if v is array), None)

    def _param(self, name) -> Param:
        return Param(self.params, f"params['{name}']", lambda: self.params[name], lambda: self.grads.get(name))

    def model_l2(self):
        return model_l2(self.model)

    def sgd(self, lr: float) -> None:
        """``W -= lr * dW`` on the model's own arrays."""
        sgd(self.layers, lr)

    def describe(self) -> str:
        return f"{self.where}: " + " -> ".join(l.kind for l in self.layers) + "; own step loss(X, y)"

    def restore(self) -> None:
        pass

    def _tape(self, events, training: bool):
        tape = Tape()
        forwards = [e for e in events if e["name"].endswith("_forward") and e["inner"]]
        if len(forwards) != len(self.layers):
            raise AdapterError(f"{self.where}: {len(forwards)} layer functions called in one step, "
                               f"{len(self.layers)} in the first")
        by_cache = {}
        for layer, e in zip(self.layers, forwards):
            out, cache = (e["values"] if isinstance(e["values"], tuple) else (e["values"], None))
            args = e["arg_values"]
            c = Call(layer, _copy(args[0]), _copy(out))
            if layer.kind == "linear":
                c.params = {"weight": args[1]}
                if layer.bias is not None:
                    c.params["bias"] = args[2]
            for item in (cache if isinstance(cache, tuple) else (cache,)):
                if isinstance(item, np.ndarray) and item.shape == c.x.shape:
                    c.state[f"cache[{len(c.state)}]"] = item
            original = e["out"][1] if isinstance(e["out"], tuple) and len(e["out"]) > 1 else None
            by_cache[id(original)] = c
            tape.calls.append(c)
        for e in events:
            if training and e["name"].endswith("_backward") and e["inner"] and len(e["args"]) > 1:
                c = by_cache.get(id(e["args"][1]))
                if c is None:
                    continue
                out = e["values"] if isinstance(e["values"], tuple) else (e["values"],)
                c.g, c.dx = e["arg_values"][0], out[0]
                c.backward_calls += 1
                if c.layer.kind == "linear" and len(out) >= 2:
                    c.grads = {"weight": _copy(out[1])}
                    if len(out) > 2:
                        c.grads["bias"] = _copy(out[2])
        return tape

    def train_step(self, X, y):
        with self.tracer.tracing() as events:
            out = user_call("model.loss(X, y)", self.model.loss, X, y)
        if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict)):
            raise AdapterError("model.loss(X, y) did not return (loss, grads)")
        self.grads = out[1]
        return float(out[0]), self._tape(events, True)

    def eval_forward(self, X):
        with self.tracer.tracing() as events:
            out = user_call("model.loss(X)", self.model.loss, X)
        return np.asarray(out), self._tape(events, False)
