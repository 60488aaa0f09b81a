"""Recording what each layer did in one training step: its input, output, parameters, mask and gradients.

Every layer's forward-like and backward-like method (the names the layer check knows,
:mod:`conformance.adapters.calls`) is wrapped on the instance, so the model's own training
step runs unmodified and every call lands in a :class:`Tape`. Arrays are copied when
recorded: from-scratch code often reuses and mutates them in place. A result is taken
where the layer check finds it: returned, or on ``self.output`` / ``self.dinputs``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..adapters.calls import BACKWARD_NAMES, FORWARD_NAMES, GRAD_ATTRIBUTES, OUTPUT_ATTRIBUTES, user_method
from .kinds import Layer


def _copy(a):
    return None if a is None else np.array(a, copy=True)


@dataclass
class Call:
    """One layer's forward in one step, and the backward that answered it."""

    layer: Layer
    x: np.ndarray
    y: Optional[np.ndarray] = None
    params: dict = field(default_factory=dict)       #: "weight"/"bias" -> the arrays the forward used
    state: dict = field(default_factory=dict)        #: arrays of x's shape the layer kept (masks)
    g: Optional[np.ndarray] = None                   #: the upstream gradient its backward got
    dx: Optional[np.ndarray] = None
    dx_from_state: bool = False                      #: dx set by someone else (a combined softmax+loss)
    grads: dict = field(default_factory=dict)        #: "weight"/"bias" -> gradients after its backward
    mask: Optional[np.ndarray] = None                #: the keep-mask, once read (dropout layers)
    backward_calls: int = 0


class Tape:
    """The calls of one phase (a training step, an evaluation forward), in order."""

    def __init__(self):
        self.calls: list = []
        self.recording = False

    def open(self, layer: Layer) -> list:
        return [c for c in self.calls if c.layer is layer]


def _result(obj, returned, names: tuple, like: Optional[tuple] = None):
    if returned is not None:
        return returned[0] if isinstance(returned, tuple) and len(returned) and \
            isinstance(returned[0], np.ndarray) else returned
    for name in names:
        value = getattr(obj, name, None)
        if isinstance(value, np.ndarray) and (like is None or value.shape == like):
            return value
    return None


def _state_arrays(obj, shape: tuple) -> dict:
    """Arrays of ``shape`` the layer holds, one level into dicts and lists (a wrapper's mask list)."""
    found = {}
    for name, value in vars(obj).items() if hasattr(obj, "__dict__") else ():
        items = [(name, value)]
        if isinstance(value, dict):
            items = [(f"{name}[{k!r}]", v) for k, v in value.items()]
        for sub, v in items:
            if isinstance(v, list) and v:
                v = v[-1]
            if isinstance(v, np.ndarray) and v.shape == shape:
                found[sub] = v.copy()
    return found


class Recorder:
    """Wraps the layers' methods; what they do lands on :attr:`tape`."""

    def __init__(self, layers: list):
        self.layers = layers
        self.tape = Tape()
        self._undo = []
        for layer in layers:
            self._wrap(layer)
            if layer.inner is not None:
                self._wrap(layer.inner, inner=True)

    def _wrap(self, layer: Layer, inner: bool = False) -> None:
        obj = layer.obj
        fname = user_method(obj, None, FORWARD_NAMES[:-1])   # not __call__: it calls forward itself
        bname = user_method(obj, None, BACKWARD_NAMES)
        if fname is None:
            return
        layer.extra["forward"], layer.extra["backward"] = fname, bname
        forward, backward = getattr(obj, fname), getattr(obj, bname) if bname else None
        tape = self

        def recorded_forward(*args, **kwargs):
            if not tape.tape.recording or inner:
                out = forward(*args, **kwargs)
                if inner and tape.tape.recording:
                    tape._inner_call(layer, args, out)
                return out
            x = args[0] if args else next(iter(kwargs.values()))
            call = Call(layer, _copy(np.asarray(x)))
            call.params = {k: _copy(q.array()) for k, q in (("weight", layer.weight), ("bias", layer.bias)) if q}
            if layer.inner is not None:
                call.params = {k: _copy(q.array()) for k, q in
                               (("weight", layer.inner.weight), ("bias", layer.inner.bias)) if q}
            tape.tape.calls.append(call)   # before the call: a wrapped layer's input lands on it
            out = forward(*args, **kwargs)
            call.y = _copy(_result(obj, out, OUTPUT_ATTRIBUTES))
            call.state.update(_state_arrays(obj, call.x.shape))
            return out

        def recorded_backward(*args, **kwargs):
            if not tape.tape.recording or inner:
                return backward(*args, **kwargs)
            g = args[0] if args else next(iter(kwargs.values()))
            open_calls = [c for c in tape.tape.open(layer) if c.backward_calls == 0]
            g = _copy(np.asarray(g))
            out = backward(*args, **kwargs)
            if not open_calls:
                return out
            call = open_calls[-1]
            call.backward_calls += 1
            call.g = g
            call.dx = _copy(_result(obj, out, GRAD_ATTRIBUTES, call.x.shape))
            params = layer.inner if layer.inner is not None else layer
            call.grads = {k: _copy(q.grad()) for k, q in (("weight", params.weight), ("bias", params.bias)) if q}
            return out

        setattr(obj, fname, recorded_forward)
        self._undo.append((obj, fname))
        if backward is not None:
            setattr(obj, bname, recorded_backward)
            self._undo.append((obj, bname))

    def _inner_call(self, layer: Layer, args, out) -> None:
        """A wrapped layer's input: what the wrapper handed it (its masked input)."""
        outer = [c for c in self.tape.calls if c.layer.inner is layer]
        if args and outer:
            outer[-1].state.setdefault("inner input", _copy(np.asarray(args[0])))

    def start(self) -> Tape:
        self.tape = Tape()
        self.tape.recording = True
        return self.tape

    def stop(self, training: bool = True) -> Tape:
        self.tape.recording = False
        for call in self.tape.calls if training else ():   # a combined softmax + loss sets a layer's dinputs itself
            if call.dx is None:
                value = _result(call.layer.obj, None, GRAD_ATTRIBUTES, call.x.shape)
                if value is not None:
                    call.dx, call.dx_from_state = _copy(value), True
        return self.tape

    def restore(self) -> None:
        for obj, name in self._undo:
            try:
                delattr(obj, name)
            except AttributeError:
                pass
