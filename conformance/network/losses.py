"""torch's loss for the user's, chosen by probing: the candidate (module and reduction) whose
value on the user's own network output equals the user's loss value.

Class-index targets are tried first (``CrossEntropyLoss`` on logits, ``NLLLoss`` of the log
when the network ends in a softmax), then the same classes as one-hot rows, float targets next (``MSELoss``, ``BCELoss`` when it ends
in a sigmoid); each with ``reduction='mean'`` and ``'sum'``. The loss value and the gradient
at the logits are then judged apart: a value off by an epsilon is "close", a gradient not
divided by the batch size is a fault of the loss.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class TorchLoss:
    name: str
    reduction: str
    targets: str               #: "classes", "onehot" (float one-hot rows) or "floats"

    def __call__(self, out: torch.Tensor, y) -> torch.Tensor:
        t = torch.from_numpy(np.asarray(y))
        if self.targets == "onehot":   # class probabilities: one-hot rows
            t = t.to(out.dtype)
            if self.name == "CrossEntropyLoss":
                return nn.CrossEntropyLoss(reduction=self.reduction)(out, t)
            per_row = -(t * torch.log(out)).sum(dim=-1)
            return per_row.mean() if self.reduction == "mean" else per_row.sum()
        if self.name == "CrossEntropyLoss":
            return nn.CrossEntropyLoss(reduction=self.reduction)(out, t.long())
        if self.name == "NLLLoss":
            return nn.NLLLoss(reduction=self.reduction)(torch.log(out), t.long())
        if self.name == "MSELoss":
            return nn.MSELoss(reduction=self.reduction)(out, t.to(out.dtype).reshape(out.shape))
        return nn.BCELoss(reduction=self.reduction)(out, t.to(out.dtype).reshape(out.shape))

    def describe(self) -> str:
        on = {"NLLLoss": " of log(softmax output)", "BCELoss": " on the sigmoid output"}.get(self.name, "")
        targets = " with one-hot targets" if self.targets == "onehot" else ""
        return f"torch.nn.{self.name}(reduction='{self.reduction}'){on}{targets}, found by probing"


def candidates(last_kind: str, targets: str) -> list:
    if targets in ("classes", "onehot"):
        names = ["NLLLoss"] if last_kind == "softmax" else ["CrossEntropyLoss"]
    else:
        names = (["BCELoss"] if last_kind == "sigmoid" else []) + ["MSELoss"]
    return [TorchLoss(n, r, targets) for n in names for r in ("mean", "sum")]


def relative(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)


def choose(last_kind: str, targets: str, out: np.ndarray, y, value: float):
    """(the closest candidate, its relative difference from ``value``) on the user's output."""
    best = None
    with torch.no_grad():
        for c in candidates(last_kind, targets):
            try:
                v = float(c(torch.tensor(np.asarray(out, dtype=np.float64)), y))
            except Exception:   # a target this loss cannot take
                continue
            d = relative(value, v)
            if best is None or d < best[1]:
                best = (c, d)
    return best
