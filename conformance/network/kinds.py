"""What each layer of a from-scratch network is: its kind, its parameters and their gradients.

Found from names and shapes, never from a list of known classes: the kind from the class
name (``Dense``/``Affine``/``Linear``/``FullyConnected`` are linear, ``Relu``/``LeakyReLU``/
``Sigmoid``/``Tanh``/``Softmax`` activations, anything with ``dropout`` in its name a dropout),
confirmed later when torch's module is run on the layer's own recorded input. Parameters
live under the common names (``W``/``weights``/``weight``, ``b``/``biases``/``bias``, or a
``params``/``parameters`` dict), their gradients likewise (``dW``/``dweights``/``dLdW``, a
``grads``/``gradients`` dict, or a torch-like parameter's ``.grad``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

WEIGHT_NAMES = ("W", "weights", "weight", "w")
BIAS_NAMES = ("b", "biases", "bias", "w0")
GRAD_PREFIXES = ("d", "dLd", "grad_", "d_")
DICT_NAMES = ("params", "parameters")
GRAD_DICTS = ("grads", "gradients")

#: (words in the lower-cased class name, kind): first match wins
KIND_WORDS = (
    (("dropout",), "dropout"),
    (("leaky",), "leakyrelu"),
    (("relu",), "relu"),
    (("sigmoid", "logistic"), "sigmoid"),
    (("tanh",), "tanh"),
    (("softmax",), "softmax"),
    (("dense", "affine", "linear", "fullyconnected", "fully_connected", "fc"), "linear"),
)
ACTIVATIONS = ("relu", "leakyrelu", "sigmoid", "tanh", "softmax")
#: a leaky ReLU's attributes that may hold its slope
SLOPE_NAMES = ("alpha", "negative_slope", "slope", "leak", "leakiness", "a")
#: model attributes holding the strength of an L2 penalty added to the loss value
L2_NAMES = ("reg", "weight_decay_lambda", "l2", "l2_reg", "lambd", "weight_decay")
#: ``Layer.extra`` key of a dropout's p-like attributes, read where the layer lives
P_ATTRIBUTES = "p_attributes"


def kind_of(obj) -> Optional[str]:
    name = type(obj).__name__.lower()
    for words, kind in KIND_WORDS:
        if any(w in name for w in words):
            return kind
    return None


def _array(value):
    """The ndarray a parameter holds: itself, or a torch-like parameter's ``.data``."""
    if isinstance(value, np.ndarray):
        return value
    data = getattr(value, "data", None)
    return data if isinstance(data, np.ndarray) else None


@dataclass
class Param:
    """One parameter of a layer: where its live array is, and where its gradient lands."""

    owner: object
    name: str                  #: the user's name ("W", "weights", "params['W']")
    get: object                #: () -> the live array
    grad: object               #: () -> the gradient array, or None

    def array(self) -> np.ndarray:
        return self.get()

    def step(self, lr: float) -> None:
        """``W -= lr * dW`` in place, so every holder of the array sees it."""
        g = self.grad()
        if g is not None:
            a = self.get()
            a -= np.asarray(lr * g, dtype=a.dtype).reshape(a.shape)


def _grad_of(obj, name: str, value):
    """A getter of ``name``'s gradient, looked up at each call: it appears only after a backward
    (``self.dweights``, ``self.dW``, ``grads['W']``, a parameter's ``.grad``)."""
    attrs = [prefix + n for n in dict.fromkeys((name, name.upper(), name.lower())) for prefix in GRAD_PREFIXES]

    def grad():
        for attr in attrs:
            found = _array(getattr(obj, attr, None))
            if found is not None:
                return found
        if hasattr(value, "grad"):
            return _array(getattr(value, "grad", None))
        for dict_name in GRAD_DICTS:
            holder = getattr(obj, dict_name, None)
            if isinstance(holder, dict) and _array(holder.get(name)) is not None:
                return _array(holder[name])
        return None

    return grad


def find_param(obj, names: tuple) -> Optional[Param]:
    """The first of ``names`` holding an array on ``obj`` (attribute or params dict)."""
    for name in names:
        value = getattr(obj, name, None) if not callable(getattr(obj, name, None)) else None
        if _array(value) is not None:
            return Param(obj, name, lambda obj=obj, name=name: _array(getattr(obj, name)), _grad_of(obj, name, value))
    for dict_name in DICT_NAMES:
        holder = getattr(obj, dict_name, None)
        if isinstance(holder, dict):
            for name in names:
                if _array(holder.get(name)) is not None:
                    return Param(obj, f"{dict_name}['{name}']", lambda h=holder, n=name: _array(h[n]),
                                 _grad_of(obj, name, holder[name]))
    return None


@dataclass
class Layer:
    """One layer of the network as found: a label for reports, the object, its kind."""

    label: str                 #: where it sits: "layers[2]", "layers['Affine1']"
    obj: object
    kind: Optional[str]
    weight: Optional[Param] = None
    bias: Optional[Param] = None
    inner: Optional["Layer"] = None    #: the layer a dropout wrapper wraps
    p: Optional[float] = None          #: a dropout's drop probability, once resolved
    p_source: str = ""
    extra: dict = field(default_factory=dict)   #: e.g. a leaky ReLU's slope

    @property
    def name(self) -> str:
        return f"{self.label} {self.extra.get('title') or type(self.obj).__name__}"

    @property
    def params(self) -> list:
        return [q for q in (self.weight, self.bias) if q is not None]


def model_l2(model):
    """(strength, where) of an L2 penalty the model adds to its loss value, from its attributes."""
    for name in L2_NAMES:
        value = getattr(model, name, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return float(value), f"model.{name}"
    return None


def weight_of(layer):
    """(shape, dtype) of a linear layer's weight, from the live array or the layer's description."""
    if layer.weight is not None:
        a = layer.weight.array()
        return tuple(a.shape), a.dtype
    described = layer.extra.get("weight")
    return None if described is None else (tuple(described["shape"]), np.dtype(described["dtype"]))


def sgd(layers: list, lr: float) -> None:
    """One SGD step of every layer's parameters, in place."""
    for layer in layers:
        for q in (layer.inner or layer).params:
            q.step(lr)


def wrapped(obj) -> Optional[object]:
    """The layer a dropout wrapper holds (an attribute that is itself a linear layer)."""
    for value in vars(obj).values() if hasattr(obj, "__dict__") else ():
        if value is not obj and not isinstance(value, (np.ndarray, dict, list, tuple, str, int, float)) \
                and kind_of(value) == "linear":
            return value
    return None


def describe_layer(obj, label: str) -> Layer:
    kind = kind_of(obj)
    layer = Layer(label, obj, kind)
    if kind == "linear":
        layer.weight, layer.bias = find_param(obj, WEIGHT_NAMES), find_param(obj, BIAS_NAMES)
        if layer.weight is None:   # "NonLinearity" is no linear layer: its kind stays unknown
            layer.kind = None
        penalties = {(which, norm): float(getattr(obj, f"{which}_regularizer_{norm}"))
                     for which in ("weight", "bias") for norm in ("l1", "l2")
                     if isinstance(getattr(obj, f"{which}_regularizer_{norm}", None), (int, float))
                     and getattr(obj, f"{which}_regularizer_{norm}") > 0}
        if penalties:   # "Neural Networks from Scratch": the backward adds them to dweights/dbiases
            layer.extra["penalties"] = penalties
    elif kind == "dropout":
        inner = wrapped(obj)
        if inner is not None:
            layer.inner = describe_layer(inner, f"{label}.{type(inner).__name__}")
    return layer
