"""The network check's side of the implementation's process (:mod:`conformance.served`).

Everything that touches the learner's objects runs here: the import and the build of the
model, finding its layers, parameters and loss (:mod:`.drive`, :mod:`.functional`), the
recorded training step and evaluation forward (:mod:`.record`), the SGD update of its own
weights. What goes back to the judge is plain: each layer described by its label, class
name, kind, the p-like and slope-like attributes it holds and its weight's shape, and each
step's tape as arrays (input, output, the parameters the forward used, the arrays of the
input's shape the layer kept, upstream gradient, input and parameter gradients). The judge
(:mod:`.remote`) builds the torch twin and compares; nothing sent here is a verdict.

One request kind, ``{"op": "network", "action": ...}``: ``load``, ``train``, ``eval``, ``sgd``.
"""
from __future__ import annotations

import sys

import numpy as np

from ..adapters.usercode import AdapterError
from .kinds import P_ATTRIBUTES, SLOPE_NAMES

#: dtype kinds an array may cross in (the wire's): anything else is left out of the tape
_KINDS = "biufc"


def _plain(a):
    """``a`` as an array that may cross, or None (an object array, a string)."""
    if a is None:
        return None
    try:
        a = np.asarray(a)
    except Exception:  # noqa: BLE001 - whatever the learner's object is, it is not data
        return None
    return a if a.dtype.kind in _KINDS else None


def _arrays(found: dict) -> dict:
    return {str(k): v for k, v in ((k, _plain(v)) for k, v in found.items()) if v is not None}


def _attributes(obj, names, types=(float, int, np.floating), own=True) -> list:
    """(name, value) of the numbers ``obj`` holds under ``names``: in its own ``__dict__``, or
    (``own=False``) as any attribute."""
    if own:
        found = vars(obj) if hasattr(obj, "__dict__") else {}
        values = ((n, found.get(n)) for n in names)
    else:
        values = ((n, getattr(obj, n, None)) for n in names)
    return [(n, float(v)) for n, v in values if isinstance(v, types) and not isinstance(v, bool)]


def describe(layer) -> dict:
    """One layer as plain data: what the judge's twin and reports need of it."""
    from ..adapters.meaning import P_NAMES

    extra = {k: v for k, v in layer.extra.items() if k in ("title", "penalties", "forward", "backward")}
    if "penalties" in extra:
        extra["penalties"] = [[w, n, v] for (w, n), v in extra["penalties"].items()]
    extra.setdefault("title", type(layer.obj).__name__)
    obj = layer.obj if not isinstance(layer.obj, str) else None   # a traced function's layer is its name
    if obj is not None and layer.kind == "dropout":
        extra[P_ATTRIBUTES] = [[n, v] for n, v in _attributes(obj, P_NAMES) if 0 <= v <= 1]
    if obj is not None and layer.kind == "leakyrelu":
        slopes = _attributes(obj, SLOPE_NAMES, (float, int), own=False)
        if slopes:
            extra["slope"] = slopes[0][1]
    weight = None if layer.weight is None else np.asarray(layer.weight.array())
    return {"label": layer.label, "kind": layer.kind, "extra": extra,
            "weight": None if weight is None else {"shape": list(weight.shape), "dtype": weight.dtype.str},
            "bias": layer.bias is not None, "inner": None if layer.inner is None else describe(layer.inner)}


def _tape(net, tape) -> list:
    index = {id(l): i for i, l in enumerate(net.layers)}
    calls = []
    for c in tape.calls:
        if id(c.layer) not in index:
            continue
        calls.append({"layer": index[id(c.layer)], "x": _plain(c.x), "y": _plain(c.y), "params": _arrays(c.params),
                      "state": _arrays(c.state), "g": _plain(c.g), "dx": _plain(c.dx),
                      "dx_from_state": bool(c.dx_from_state), "grads": _arrays(c.grads),
                      "backward_calls": int(c.backward_calls)})
    return calls


class NetworkServant:
    """The learner's network, built and driven in this process."""

    def __init__(self, servant):
        self.servant = servant
        self.net = None

    def load(self, request: dict) -> dict:
        from .cli import load_model
        from .drive import Network
        from .functional import FunctionalNetwork, is_functional

        sys.path[:] = request["path"]
        self.servant.guard.errstate = request["errstate"]
        try:
            model = load_model(request["spec"])
            loss = request.get("loss")
            self.net = FunctionalNetwork(model) if is_functional(model) and not loss else Network(model, loss)
        except AdapterError as exc:
            return {"adapter_error": str(exc)}
        return {"layers": [describe(l) for l in self.net.layers], "where": self.net.where,
                "describe": self.net.describe(), "kind": self.net.kind, "model_l2": self.net.model_l2()}

    def train(self, request: dict) -> dict:
        try:
            value, tape = self.net.train_step(request["X"], request["y"])
        except AdapterError as exc:
            return {"adapter_error": str(exc)}
        return {"value": float(value), "calls": _tape(self.net, tape)}

    def eval(self, request: dict) -> dict:
        try:
            out, tape = self.net.eval_forward(request["X"])
        except AdapterError as exc:
            return {"adapter_error": str(exc)}
        return {"output": _plain(out), "calls": _tape(self.net, tape)}

    def sgd(self, request: dict) -> dict:
        self.net.sgd(request["lr"])
        return {}


def handle(servant, request: dict) -> dict:
    """One ``network`` request to the implementation's process."""
    own = getattr(servant, "network", None)
    if own is None:
        own = servant.network = NetworkServant(servant)
    action = request.get("action")
    if action not in ("load", "train", "eval", "sgd"):
        raise ValueError(f"unknown network request {action!r}")
    if action != "load" and own.net is None:
        raise ValueError("no network loaded")
    return getattr(own, action)(request)
