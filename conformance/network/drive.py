"""Convention A: an ordered container of layer objects, and the training step that drives it.

Found from names: the layers are the model itself (a list or tuple), ``model.layers`` (a list,
tuple or OrderedDict), or the model's own items (a torch-like ``Sequential``). The training
step is the model's own where it has one:

- ``gradient(x, t)`` with a ``last_layer`` loss ("Deep Learning from Scratch");
- ``forward(X, training)`` / ``loss.calculate(output, y)`` / ``backward(output, y)``
  ("Neural Networks from Scratch");

otherwise each layer's forward in order, the loss (``--loss`` or ``model.loss``), and each
layer's backward in reverse. Gradients are cleared before each step where the model or its
layers have ``zero_grad()`` or ``flush_gradients()`` (they accumulate otherwise).
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ..adapters.calls import (BACKWARD_NAMES, FORWARD_NAMES, GRAD_ATTRIBUTES, OUTPUT_ATTRIBUTES, named_parameters,
                              parameters, user_method)
from ..adapters.modes import find_mode
from ..adapters.usercode import AdapterError, call
from .kinds import describe_layer, model_l2, sgd
from .record import Recorder
from .userloss import find_loss

FLUSH_NAMES = ("zero_grad", "flush_gradients", "zero_grads", "clear_gradients")


def find_layers(model) -> tuple:
    """(labelled layer objects, where they were found), or raises :class:`AdapterError`."""
    if isinstance(model, (list, tuple)):
        return [(f"[{i}]", o) for i, o in enumerate(model)], "the model is a list of layers"
    for name in ("layers", "_layers", "modules"):
        value = getattr(model, name, None)
        if isinstance(value, (list, tuple)) and value:
            return [(f"{name}[{i}]", o) for i, o in enumerate(value)], f"model.{name} (a {type(value).__name__})"
        if isinstance(value, (dict, OrderedDict)) and value:
            return [(f"{name}[{k!r}]", o) for k, o in value.items()], f"model.{name} (an {type(value).__name__})"
    if hasattr(model, "__iter__") and hasattr(model, "__len__") and not isinstance(model, (dict, str, np.ndarray)):
        items = list(model)
        if items and all(user_method(o, None, FORWARD_NAMES) for o in items):
            return [(f"[{i}]", o) for i, o in enumerate(items)], f"the items of {type(model).__name__}"
    raise AdapterError(f"{type(model).__name__}: found no layers (looked for a list or tuple model, model.layers "
                       "as a list/tuple/OrderedDict, or an iterable of objects with forward)")


def _flush(objects) -> None:
    for obj in objects:
        for name in FLUSH_NAMES:
            method = getattr(obj, name, None)
            if callable(method) and not any(q.default is q.empty for q in parameters(method).values()):
                call(f"{type(obj).__name__}.{name}()", method)
                break


class Network:
    """The model, its layers (:class:`.kinds.Layer`) and how one training step and one
    evaluation forward are run; what the layers did lands on the recorder's tape."""

    def __init__(self, model, loss_spec=None):
        self.model = model
        found, where = find_layers(model)
        self.layers = [describe_layer(obj, label) for label, obj in found]
        unknown = [l for l in self.layers if l.kind is None]
        if unknown:
            raise AdapterError(f"{where}: {len(self.layers)} layers; cannot tell what "
                               + ", ".join(l.name for l in unknown) + " is (known: a class name with Dense/Affine/"
                               "Linear/FullyConnected, ReLU/LeakyReLU/Sigmoid/Tanh/Softmax or Dropout in it)")
        self.where = where
        self.recorder = Recorder(self.layers)
        self.loss = None
        self.last_value = None
        gradient = getattr(model, "gradient", None)
        if callable(gradient) and len(named_parameters(gradient)) == 2 and hasattr(model, "last_layer"):
            self.kind = "gradient"
            self._wrap_last_layer(model.last_layer)
            self.step_text = "own step gradient(x, t) with last_layer " + type(model.last_layer).__name__
        elif self._nnfs(model):
            self.kind = "nnfs"
            self.step_text = "own step forward(X, training) / loss.calculate(output, y) / backward(output, y)"
        else:
            self.kind = "layers"
            self.loss = find_loss(model, loss_spec)
            if self.loss is None:
                raise AdapterError(f"{where}: {len(self.layers)} layers (" + ", ".join(l.kind for l in self.layers)
                                   + "), no training step of its own and no loss (looked for model.loss/criterion/"
                                   "loss_fn): name the loss with --loss MODULE:NAME")
            self.step_text = f"each layer's forward, loss {self.loss.describe}, each layer's backward"
        if loss_spec and self.kind != "layers":
            self.loss = find_loss(model, loss_spec)

    @staticmethod
    def _nnfs(model) -> bool:
        loss = getattr(model, "loss", None)
        forward, backward = getattr(model, "forward", None), getattr(model, "backward", None)
        return (loss is not None and callable(getattr(loss, "calculate", None)) and callable(forward)
                and callable(backward) and len(named_parameters(backward)) == 2)

    def _wrap_last_layer(self, last) -> None:
        fname = user_method(last, None, FORWARD_NAMES[:-1])
        forward = getattr(last, fname)
        net = self

        def recorded(*args, **kwargs):
            out = forward(*args, **kwargs)
            net.last_value = out
            return out

        setattr(last, fname, recorded)

    def model_l2(self):
        return model_l2(self.model)

    def sgd(self, lr: float) -> None:
        """``W -= lr * dW`` on the model's own arrays."""
        sgd(self.layers, lr)

    def describe(self) -> str:
        kinds = " -> ".join(l.kind + (f"({l.inner.kind})" if l.inner else "") for l in self.layers)
        penalties = [f"{l.label} " + ", ".join(f"{w}_regularizer_{n}={v:g}" for (w, n), v in l.extra["penalties"].items())
                     for l in self.layers if "penalties" in l.extra]
        extra = f"; penalty gradients added to torch's: {'; '.join(penalties)}" if penalties else ""
        return f"{self.where}: {kinds}; {self.step_text}{extra}"

    # -- one training step -----------------------------------------------------------
    def train_step(self, X, y):
        """Run one training step; returns (loss value, tape)."""
        _flush([self.model] + [l.obj for l in self.layers] + [l.inner.obj for l in self.layers if l.inner])
        tape = self.recorder.start()
        try:
            if self.kind == "gradient":
                call("model.gradient(x, t)", self.model.gradient, X, y)
                value = self.last_value
            elif self.kind == "nnfs":
                mode = find_mode(parameters(self.model.forward))
                out = call("model.forward(X, training=True)", self.model.forward, X, **mode.arguments(True))
                if callable(getattr(self.model.loss, "new_pass", None)):   # the book's loss accumulates per epoch
                    call("model.loss.new_pass()", self.model.loss.new_pass)
                value = call("model.loss.calculate(output, y)", self.model.loss.calculate, out, y)
                call("model.backward(output, y)", self.model.backward, out, y)
            else:
                out = self._forward(X, True)
                value, grad = self.loss.value_and_grad(out, y)
                for layer in reversed(self.layers):
                    grad = self._layer_call(layer, "backward", grad)
        finally:
            self.recorder.stop(training=True)
        if isinstance(value, tuple):
            value = value[0]
        return float(np.asarray(value)), tape

    def eval_forward(self, X):
        """One evaluation forward; returns (output, tape)."""
        tape = self.recorder.start()
        try:
            if self.kind == "gradient" and callable(getattr(self.model, "predict", None)):
                mode = find_mode(parameters(self.model.predict))
                out = call("model.predict(x, train_flg=False)", self.model.predict, X, **mode.arguments(False))
            elif self.kind == "nnfs":
                mode = find_mode(parameters(self.model.forward))
                out = call("model.forward(X, training=False)", self.model.forward, X, **mode.arguments(False))
            else:
                out = self._forward(X, False)
        finally:
            self.recorder.stop(training=False)
            for layer in self.layers:   # leave the layers in training mode
                find_mode(parameters(getattr(layer.obj, layer.extra.get("forward", "forward"), None)),
                          layer.obj).set(layer.obj, True)
        return np.asarray(out), tape

    def _forward(self, X, training: bool):
        for layer in self.layers:
            X = self._layer_call(layer, "forward", X, training)
        return X

    def _layer_call(self, layer, which: str, value, training: bool = True):
        obj = layer.obj
        name = layer.extra.get(which)
        if name is None:
            raise AdapterError(f"{layer.name} has no {which}-like method (looked for "
                               f"{', '.join(FORWARD_NAMES if which == 'forward' else BACKWARD_NAMES)})")
        method = getattr(obj, name)
        kwargs = {}
        if which == "forward":
            original = getattr(type(obj), name, method)
            mode = find_mode(parameters(original), obj)
            switches = getattr(obj, "freeze", None), getattr(obj, "unfreeze", None)
            if not mode.has_eval and all(callable(f) for f in switches):   # numpy-ml's trainable switch
                (switches[1] if training else switches[0])()
            mode.set(obj, training)
            kwargs = mode.arguments(training)
        out = call(f"{layer.name}.{name}(...)", method, value, **kwargs)
        if out is None:
            names = OUTPUT_ATTRIBUTES if which == "forward" else GRAD_ATTRIBUTES
            out = next((getattr(obj, n) for n in names if isinstance(getattr(obj, n, None), np.ndarray)), None)
        if isinstance(out, tuple):
            out = out[0]
        return out
