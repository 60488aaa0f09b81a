"""K SGD steps of the user's network beside its torch twin, compared item by item.

Each step: the user's training step runs (recorded), the twin replays it end to end from the
same input with the weights each layer used and the masks each dropout drew, and the two are
compared in this order: the loss, the gradient at the logits, each layer's output (forward
order), each layer's input and parameter gradients (backward order), then an evaluation
forward. Each layer is also checked alone (:func:`.twin.local`: torch's module on the
user's own input, mask and upstream gradient), which is how the first differing layer is
named. Then the user's weights take one SGD step (``W -= lr * dW``, in place) and the next
step re-syncs the twin from them.
Each comparison is an :class:`.items.Item`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch

from npdrop.testing.inject import inject_masks

from ..adapters.usercode import AdapterError, UserCodeError
from . import losses
from .items import TOLERANCES, Item, difference
from .kinds import L2_NAMES, weight_of  # noqa: F401 - L2_NAMES: where it was
from .masks import read_mask, resolve_p
from .twin import Twin, _t, apply, local



@dataclass
class Options:
    steps: int = 3
    batch: int = 8
    lr: float = 0.1
    seed: int = 0
    form_original: bool = False
    p: dict = field(default_factory=dict)     #: layer label (or dropout index) -> p
    l2: float = 0.0                           #: an L2 penalty 0.5 * l2 * sum(W**2) in the loss value


class Check:
    """The comparison of one network with its twin; :meth:`run` fills :attr:`items`."""

    def __init__(self, net, options: Options):
        self.net, self.options = net, options
        self.items: list = []
        self.calls: dict = {}      #: step -> the recorded training calls
        self.eval_calls: dict = {}  #: step -> the recorded evaluation calls
        self.targets: dict = {}     #: step -> the targets
        self.twins = {id(l): Twin(l, options.form_original) for l in net.layers}
        self.loss: Optional[losses.TorchLoss] = None
        self.loss_rel = 0.0
        self.masks_from: dict = {}
        self.dtype = np.dtype(np.float64)
        self.logits_at = "output"
        self.l2 = (options.l2, "--l2") if options.l2 else None

    def status(self, rel: float) -> str:
        ok, close = TOLERANCES.get(self.dtype, TOLERANCES[np.dtype(np.float64)])
        return "ok" if rel <= ok else "close" if rel <= close else "DIFF"

    def add(self, step, stage, layer, what, mine, theirs, note="") -> Item:
        rel = difference(mine, theirs)
        item = Item(step, stage, layer, what, rel, self.status(rel) if rel == rel else "n/a", note)
        self.items.append(item)
        return item

    # -- data ------------------------------------------------------------------------
    def _dims(self, transposed_guess: bool) -> tuple:
        linears = [l.inner or l for l in self.net.layers if (l.inner or l).kind == "linear"]
        if not linears or weight_of(linears[0]) is None:
            raise AdapterError(f"{self.net.where}: no linear layer with a weight found (W/weights/weight, "
                               "or a params dict): the input size cannot be told")
        (first, dtype), (last, _) = weight_of(linears[0]), weight_of(linears[-1])
        self.dtype = dtype if dtype in TOLERANCES else np.dtype(np.float64)
        return (first[0], last[1]) if transposed_guess else (first[1], last[0])

    def _first_step(self, rng):
        """The first step, trying the (in, out) and (out, in) weight layouts and class-index then
        float targets: returns (X, y, loss value, tape)."""
        errors = []
        for guess in (True, False):
            n_in, n_out = self._dims(guess)
            X = rng.standard_normal((self.options.batch, n_in)).astype(self.dtype)
            for targets in ("classes", "onehot", "floats"):
                y = self._targets(rng, targets, n_out)
                state = np.random.get_state()
                try:
                    value, tape = self.net.train_step(X, y)
                except UserCodeError as exc:
                    errors.append(str(exc))
                    np.random.set_state(state)
                    continue
                out = tape.calls[-1].y if tape.calls else None
                found = losses.choose(self.net.layers[-1].kind, targets, out, y, value - self._penalty(tape))
                if found and found[1] > 1e-3 and self.l2 is None:   # an L2 term in the loss value?
                    self.l2 = self._model_l2()
                    if self.l2:
                        retry = losses.choose(self.net.layers[-1].kind, targets, out, y, value - self._penalty(tape))
                        found = retry if retry and retry[1] <= 1e-3 else found
                        self.l2 = self.l2 if found is retry else None
                if found and found[1] <= 1e-3:
                    self.loss, self.loss_rel = found
                    self.n_out = n_out
                    return X, y, value, tape
                errors.append(f"with {targets} targets the loss {value:.6g} matches no torch loss"
                              + (f" (closest {found[0].name}, reduction {found[0].reduction}: relative {found[1]:.2g})"
                                 if found else ""))
                np.random.set_state(state)
        raise AdapterError(f"{self.net.describe()}: the first training step could not be matched with torch:\n  "
                           + "\n  ".join(dict.fromkeys(errors))
                           + "\n  hints: --loss MODULE:NAME names the loss; --p LAYER=P a dropout's p")

    def _targets(self, rng, kind: str, n_out: int):
        """A batch of targets: class indices, the same as one-hot float rows, or 0/1 floats."""
        if kind == "floats":
            return rng.integers(0, 2, (self.options.batch, n_out)).astype(self.dtype)
        classes = rng.integers(0, n_out, self.options.batch)
        return classes if kind == "classes" else np.eye(n_out, dtype=self.dtype)[classes]

    def _model_l2(self):
        """(strength, where) of an L2 penalty the model adds to its loss value, from its attributes."""
        return self.net.model_l2()

    def _penalty(self, tape) -> float:
        """0.5 * reg * sum(W**2) over the weights the step used (0 without an L2 term)."""
        if not self.l2:
            return 0.0
        return 0.5 * self.l2[0] * sum(float(np.sum(np.asarray(c.params["weight"], np.float64) ** 2))
                                      for c in tape.calls if "weight" in c.params)

    # -- the run ---------------------------------------------------------------------
    def run(self) -> "Check":
        rng = np.random.default_rng(self.options.seed)
        state = np.random.get_state()
        np.random.seed(self.options.seed)
        try:
            X, y, value, tape = self._first_step(rng)
            for step in range(1, self.options.steps + 1):
                if step > 1:
                    X = rng.standard_normal(X.shape).astype(self.dtype)
                    y = self._targets(rng, self.loss.targets, self.n_out)
                    value, tape = self.net.train_step(X, y)
                self._compare_step(step, X, y, value, tape)
                self._eval(step, X)
                self.net.sgd(self.options.lr)
        finally:
            np.random.set_state(state)
        return self

    def _calls(self, step, tape) -> list:
        calls = tape.calls
        seen = [c.layer for c in calls]
        for layer in self.net.layers:
            n = sum(l is layer for l in seen)
            if n != 1:
                raise AdapterError(f"{layer.name} was called {n} times in one training step (expected once): "
                                   "its forward is not where the layer list says")
        return calls

    def _compare_step(self, step, X, y, value, tape) -> None:
        calls = self._calls(step, tape)
        self.calls[step], self.targets[step] = calls, y
        for call in calls:
            if call.layer.kind == "dropout":
                call.mask, where = read_mask(call)
                self.masks_from[call.layer.label] = where
                if call.layer.p is None:
                    label = call.layer.label
                    index = [c.layer for c in calls if c.layer.kind == "dropout"].index(call.layer)
                    resolve_p(call.layer, call.mask, call,
                              self.options.p.get(label, self.options.p.get(str(index))))
        # end to end: the twin from the same input
        x0 = _t(X).requires_grad_(True)
        h, ins, outs = x0, [], []
        twins = [self.twins[id(c.layer)] for c in calls]
        masks = [c.mask for c, t in zip(calls, twins) if t.draws(True)]
        with inject_masks(masks, strict=True):
            for call, twin in zip(calls, twins):
                ins.append(h)
                h.retain_grad()
                h = apply(twin.modules(call, True), h)
                outs.append(h)
        h.retain_grad()
        loss = self.loss(h, y)
        loss.backward()
        last = calls[-1]
        self.add(step, "loss", "", "value", value, loss.item() + self._penalty(tape))
        combined = last.g is None and last.dx is not None
        self.logits_at = "input of the last layer (a combined softmax + loss)" if combined else "output"
        mine = last.dx if combined else last.g
        self.add(step, "loss", "", "logits grad", mine, (ins[-1] if combined else h).grad.numpy())
        for call, out in zip(calls, outs):
            self.add(step, "forward", call.layer.name, "output", call.y, out.detach().numpy())
        for call, twin, inp in reversed(list(zip(calls, twins, ins))):
            if call.dx is not None and not (combined and call is last):
                self.add(step, "backward", call.layer.name, "input grad", call.dx, inp.grad.numpy())
            theirs = twin.param_grads(call)
            for k in ("weight", "bias"):
                if k in theirs:
                    self.add(step, "backward", call.layer.name, f"{k} grad", call.grads.get(k), theirs[k])
        # each layer alone, on the user's own input, mask and upstream gradient
        for call in calls:
            twin = self.twins[id(call.layer)]
            theirs = local(twin, call)
            self.add(step, "local forward", call.layer.name, "output", call.y, theirs["output"])
            for k, what in (("input grad", "input grad"), ("weight", "weight grad"), ("bias", "bias grad")):
                if k in theirs:
                    self.add(step, "local backward", call.layer.name, what,
                             call.dx if k == "input grad" else call.grads.get(k), theirs[k])
        self._local_loss(step, last, combined, y, value - self._penalty(tape))

    def _local_loss(self, step, last, combined, y, value) -> None:
        if combined:
            z = _t(last.x).requires_grad_(True)
            out = torch.softmax(z, dim=-1)
        else:
            z = _t(last.y).requires_grad_(True)
            out = z
        loss = self.loss(out, y)
        loss.backward()
        self.add(step, "local loss", "", "value", value, loss.item())
        self.add(step, "local loss", "", "logits grad", last.dx if combined else last.g, z.grad.numpy())

    def _eval(self, step, X) -> None:
        out, tape = self.net.eval_forward(X)
        calls = self.eval_calls[step] = tape.calls
        h = _t(X)
        with torch.no_grad():
            for call in calls:
                h = apply(self.twins[id(call.layer)].modules(call, False), h)
        self.add(step, "eval", "", "output", out, h.numpy())
