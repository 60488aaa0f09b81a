"""Stochastic gradient descent with torch's exact update rule, order and argument checks."""
from __future__ import annotations

import numbers
from typing import Iterable

import numpy as np

from npdrop.module import Parameter


def _check_real(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"SGD: {name} must be a real number, got {value!r}")
    return float(value)


class SGD:
    """``torch.optim.SGD`` for :class:`Parameter` objects (one parameter group).

    Per parameter with a gradient g, following ``torch.optim.sgd._single_tensor_sgd``::

        g = -g                                  if maximize
        g = g + weight_decay * param            if weight_decay != 0
        buf = clone(g)                          on the first step   } if momentum != 0
        buf = momentum * buf + (1 - dampening) * g   afterwards     }
        g = g + momentum * buf if nesterov else buf                 }
        param -= lr * g                         (in place)

    Parameters whose ``grad`` is ``None`` are skipped (and get no momentum buffer), as in
    torch. Hyperparameters are plain attributes and may be changed between steps.
    """

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        lr = _check_real(lr, "lr")
        momentum = _check_real(momentum, "momentum")
        dampening = _check_real(dampening, "dampening")
        weight_decay = _check_real(weight_decay, "weight_decay")
        # The same checks and messages as torch.optim.SGD.__init__.
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        if isinstance(params, Parameter):
            raise TypeError("params argument given to the optimizer should be an iterable of Parameters, got a Parameter")
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        for i, p in enumerate(params):
            if not isinstance(p, Parameter):
                raise TypeError(f"SGD: params[{i}] is a {type(p).__name__}, not a Parameter")
        if len({id(p) for p in params}) != len(params):
            # torch only warns; a duplicate would be stepped twice per step, so refuse it.
            raise ValueError("SGD: a parameter appears more than once in params")
        self.params = params
        self.lr = lr
        self.momentum = momentum
        self.dampening = dampening
        self.weight_decay = weight_decay
        self.nesterov = bool(nesterov)
        self.maximize = bool(maximize)
        #: momentum buffers by position in ``params``; ``None`` until the first step with a grad.
        self.momentum_buffers: list[np.ndarray | None] = [None] * len(params)

    def step(self) -> None:
        """Apply one update to every parameter that has a gradient."""
        for i, param in enumerate(self.params):
            if param.grad is None:
                continue
            if param.grad.shape != param.data.shape:
                raise ValueError(
                    f"SGD: params[{i}] has grad of shape {param.grad.shape} but data of shape {param.data.shape}"
                )
            grad = -param.grad if self.maximize else param.grad
            if self.weight_decay != 0:
                grad = grad + self.weight_decay * param.data
            if self.momentum != 0:
                buf = self.momentum_buffers[i]
                if buf is None:
                    buf = np.array(grad, dtype=param.data.dtype, copy=True)
                    self.momentum_buffers[i] = buf
                else:
                    buf *= self.momentum
                    buf += (1 - self.dampening) * grad
                grad = grad + self.momentum * buf if self.nesterov else buf
            # In place, so every holder of param.data (and of the Parameter) sees the step.
            param.data -= self.lr * grad

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear gradients: ``None`` (torch's default) or zeros in place."""
        for param in self.params:
            if set_to_none or param.grad is None:
                param.grad = None
            else:
                param.grad[...] = 0

    def __repr__(self) -> str:
        return (
            f"SGD(lr={self.lr}, momentum={self.momentum}, dampening={self.dampening}, "
            f"weight_decay={self.weight_decay}, nesterov={self.nesterov}, maximize={self.maximize})"
        )
