"""Loss functions ``MSELoss`` and ``CrossEntropyLoss``: ``forward(pred, target)``, ``backward()``.

``forward`` returns the loss (a numpy scalar of ``pred``'s dtype, or an array for
``reduction="none"``); ``backward(grad=1)`` returns dL/dpred for the last forward, scaled
by the upstream gradient ``grad`` (a scalar, or an array of the loss's shape for "none").
"""
from __future__ import annotations

import numbers

import numpy as np

from npdrop._checks import check_floating
from npdrop.module import Module

_REDUCTIONS = ("mean", "sum", "none")


class _Loss(Module):
    """Reduction bookkeeping shared by the losses."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction
        self._cache: tuple | None = None

    def _reduce(self, per_item: np.ndarray, count: int, dtype: np.dtype):
        """(loss, d loss / d per_item) for the reduction; ``count`` divides the mean.

        Also records the loss's shape and dtype for checking ``backward``'s ``grad``.
        """
        self._loss_shape = per_item.shape if self.reduction == "none" else ()
        self._dtype = dtype
        if self.reduction == "none":
            return per_item, np.ones_like(per_item)
        total = per_item.sum(dtype=dtype)
        if self.reduction == "sum":
            return dtype.type(total), np.ones_like(per_item)
        with np.errstate(invalid="ignore", divide="ignore"):  # a mean over nothing is nan, as in torch
            return dtype.type(total / dtype.type(count)), np.full_like(per_item, 1.0 / count if count else np.nan)

    def _upstream(self, grad) -> np.ndarray:
        """The upstream gradient as an array of the loss's dtype (scalar or loss-shaped)."""
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        grad = np.asarray(1.0 if grad is None else grad)
        if grad.dtype.kind not in "biuf":
            raise TypeError(f"{type(self).__name__}.backward: grad must be real numeric, got dtype {grad.dtype}")
        if grad.shape != () and grad.shape != self._loss_shape:
            raise ValueError(
                f"{type(self).__name__}.backward: grad must be a scalar or have the loss's shape "
                f"{self._loss_shape}, got {grad.shape}"
            )
        return grad.astype(self._dtype, copy=False)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    """Squared error (pred - target)^2, reduced, like ``torch.nn.MSELoss``.

    Shapes: pred and target any equal shape (no broadcasting); the loss is a scalar, or
    that shape for ``reduction="none"``. Gradient: 2 (pred - target) / n for "mean" (n =
    number of elements), 2 (pred - target) otherwise, times the upstream gradient.
    """

    def forward(self, pred: np.ndarray, target: np.ndarray):
        pred = check_floating(pred, "MSELoss", "predictions")
        target = np.asarray(target)
        if target.dtype.kind not in "biuf":
            raise TypeError(f"MSELoss: target must be a real numeric array, got dtype {target.dtype}")
        if target.shape != pred.shape:
            raise ValueError(f"MSELoss: target shape {target.shape} must equal prediction shape {pred.shape}")
        diff = pred - target.astype(pred.dtype, copy=False)
        loss, d_per_item = self._reduce(diff * diff, diff.size, pred.dtype)
        self._cache = (diff, d_per_item)
        return loss

    def backward(self, grad=None) -> np.ndarray:
        """dL/dpred = 2 (pred - target) * (1/n for "mean") * grad."""
        upstream = self._upstream(grad)
        diff, d_per_item = self._cache
        return 2 * diff * d_per_item * upstream


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy on logits, like ``torch.nn.CrossEntropyLoss``.

    Shapes: logits (N, C, *) or unbatched (C,); class axis 1 (0 when unbatched).
    Targets are either integer class indices of shape (N, *) / () — entries equal to
    ``ignore_index`` (default -100, as in torch) contribute nothing and are left out of the
    mean — or float class probabilities of the logits' shape. Per item:
    ``-log_softmax(z)[target]`` resp. ``-sum_c t_c log_softmax(z)_c``. Gradient:
    ``softmax(z) * sum_c t_c - t`` (one-hot ``t`` for indices), scaled by the reduction.
    """

    def __init__(self, reduction: str = "mean", ignore_index: int = -100) -> None:
        super().__init__(reduction)
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, numbers.Integral):
            raise TypeError(f"CrossEntropyLoss: ignore_index must be an int, got {ignore_index!r}")
        self.ignore_index = int(ignore_index)

    def forward(self, logits: np.ndarray, target: np.ndarray):
        logits = check_floating(logits, "CrossEntropyLoss", "predictions")
        if logits.ndim == 0:
            raise ValueError("CrossEntropyLoss: logits must have shape (C,) or (N, C, ...), got a 0-d array")
        axis = 0 if logits.ndim == 1 else 1
        n_classes = logits.shape[axis]
        if n_classes == 0:
            raise ValueError(f"CrossEntropyLoss: logits of shape {logits.shape} have no classes")
        target = np.asarray(target)
        index_shape = logits.shape[:axis] + logits.shape[axis + 1:]
        # The stable log-softmax: shifting by the max keeps exp() <= 1.
        shifted = logits - logits.max(axis=axis, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        if target.dtype.kind == "f" and target.shape == logits.shape:
            target = target.astype(logits.dtype, copy=False)
            per_item = -(target * log_probs).sum(axis=axis)
            one_hot, mass, count = target, target.sum(axis=axis, keepdims=True), per_item.size
        elif target.dtype.kind in "iu":
            if target.shape != index_shape:
                raise ValueError(
                    f"CrossEntropyLoss: class-index target must have shape {index_shape} for logits of "
                    f"shape {logits.shape}, got {target.shape}"
                )
            target = target.astype(np.int64, copy=False)
            valid = target != self.ignore_index
            bad = valid & ((target < 0) | (target >= n_classes))
            if bad.any():
                where = tuple(int(i) for i in np.argwhere(bad)[0])
                raise ValueError(
                    f"CrossEntropyLoss: target {int(target[where])} at index {where} is out of bounds "
                    f"for {n_classes} classes (valid: 0..{n_classes - 1}, or ignore_index={self.ignore_index})"
                )
            picked_index = np.expand_dims(np.where(valid, target, 0), axis)
            picked = np.take_along_axis(log_probs, picked_index, axis=axis).squeeze(axis)
            per_item = np.where(valid, -picked, 0).astype(logits.dtype, copy=False)
            one_hot = np.zeros_like(log_probs)
            np.put_along_axis(one_hot, picked_index, 1, axis=axis)
            mass = np.expand_dims(valid, axis).astype(logits.dtype)  # ignored items get no gradient
            one_hot *= mass
            count = int(valid.sum())
        elif target.dtype.kind == "f":
            raise TypeError(
                f"CrossEntropyLoss: a float target must hold class probabilities of the logits' shape "
                f"{logits.shape}, got shape {target.shape}; class indices must be integers"
            )
        else:
            raise TypeError(
                f"CrossEntropyLoss: target must be integer class indices or float class probabilities, "
                f"got dtype {target.dtype}"
            )
        loss, d_per_item = self._reduce(per_item, count, logits.dtype)
        self._cache = (np.exp(log_probs), one_hot, mass, d_per_item, axis)
        return loss

    def backward(self, grad=None) -> np.ndarray:
        """dL/dlogits = (softmax * sum_c t_c - t) * reduction weight * grad."""
        upstream = self._upstream(grad)
        probs, one_hot, mass, d_per_item, axis = self._cache
        weight = np.expand_dims(d_per_item * upstream, axis)
        return (probs * mass - one_hot) * weight
