"""The user's loss, wherever it is: an object with ``forward``/``calculate`` and ``backward``,
or a function ``loss(pred, y) -> (loss, dpred)`` (CS231n's ``softmax_loss``), given with
``--loss MODULE:NAME`` or found on the model (``loss``, ``criterion``, ``loss_fn``)."""
from __future__ import annotations

import importlib
import inspect

import numpy as np

from ..adapters.calls import GRAD_ATTRIBUTES, named_parameters, required
from ..adapters.usercode import AdapterError, call

VALUE_NAMES = ("forward", "calculate", "loss", "compute", "__call__")
GRAD_NAMES = ("backward", "grad", "gradient", "derivative")
TARGET_NAMES = ("y", "y_true", "target", "targets", "labels", "t", "truth")
MODEL_ATTRIBUTES = ("loss", "criterion", "loss_fn", "loss_function", "cost")


def _resolve(spec: str):
    module_name, sep, name = spec.partition(":")
    if not sep or not module_name or not name:
        raise AdapterError(f"--loss expects MODULE:NAME (e.g. mynet:CrossEntropy), got {spec!r}")
    target = importlib.import_module(module_name)
    for part in name.split("."):
        target = getattr(target, part)
    return target


class UserLoss:
    """``value_and_grad(pred, y) -> (loss, dpred)`` over whatever the user wrote."""

    def __init__(self, target, label: str):
        self.label = label
        if inspect.isclass(target):
            try:
                target = target()
            except Exception as exc:
                raise AdapterError(f"the loss {label} could not be built with no arguments: {exc}") from exc
        self.target = target
        self.function = inspect.isfunction(target) or inspect.isbuiltin(target)
        if self.function:
            self.describe = f"{label}(pred, y) -> (loss, dpred)"
            return
        self.value = next((n for n in VALUE_NAMES if callable(getattr(target, n, None))), None)
        self.grad = next((n for n in GRAD_NAMES if callable(getattr(target, n, None))), None)
        if self.value is None or self.grad is None:
            raise AdapterError(f"the loss {label} ({type(target).__name__}) has no "
                               f"{'value method (' + '/'.join(VALUE_NAMES) + ')' if self.value is None else ''}"
                               f"{' and no ' if self.value is None and self.grad is None else ''}"
                               f"{'gradient method (' + '/'.join(GRAD_NAMES) + ')' if self.grad is None else ''}")
        self.grad_args = len(required(dict(inspect.signature(getattr(target, self.grad)).parameters), ()))
        value_args = ", ".join(named_parameters(getattr(target, self.value))[:2])
        self.describe = (f"{label}: {self.value}({value_args}), "
                         f"{self.grad}({', '.join(named_parameters(getattr(target, self.grad))[:self.grad_args])})")

    def _order(self, method: str, pred, y) -> tuple:
        """(pred, y), or (y, pred) for a method whose first parameter names the targets (numpy-ml)."""
        names = named_parameters(getattr(self.target, method))
        return (y, pred) if names and names[0] in TARGET_NAMES else (pred, y)

    def value_and_grad(self, pred, y):
        if self.function:
            out = call(f"{self.label}(pred, y)", self.target, pred, y)
            if not (isinstance(out, tuple) and len(out) == 2):
                raise AdapterError(f"the loss function {self.label} returned {type(out).__name__}, "
                                   "not (loss, dpred)")
            return float(out[0]), out[1]
        value = call(f"{self.label}.{self.value}(...)", getattr(self.target, self.value), *self._order(self.value, pred, y))
        if isinstance(value, tuple):
            value = value[0]
        args = self._order(self.grad, pred, y)[:self.grad_args] if self.grad_args != 1 else (pred,)
        grad = call(f"{self.label}.{self.grad}(...)", getattr(self.target, self.grad), *args)
        if grad is None:
            grad = next((getattr(self.target, n) for n in GRAD_ATTRIBUTES
                         if isinstance(getattr(self.target, n, None), np.ndarray)), None)
        if grad is None:
            raise AdapterError(f"the loss {self.label}'s {self.grad} returned nothing and stored no gradient "
                               f"(looked for {', '.join(GRAD_ATTRIBUTES)})")
        return float(np.asarray(value)), grad


def find_loss(model, spec):
    """The loss: ``--loss`` if given, else an attribute of the model holding one; None if none."""
    if spec:
        return UserLoss(_resolve(spec), spec)
    for name in MODEL_ATTRIBUTES:
        value = getattr(model, name, None)
        if value is not None and not inspect.ismethod(value) and \
                any(callable(getattr(value, n, None)) for n in VALUE_NAMES[:-1]):
            try:
                return UserLoss(value, f"model.{name}")
            except AdapterError:
                continue
    return None
