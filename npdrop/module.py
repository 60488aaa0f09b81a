"""The stateful shell every layer shares: training mode, parameters, calling convention.

Mirrors the parts of ``torch.nn.Module`` a from-scratch network needs, nothing more:
``train()``/``eval()``/``training``, ``parameters()``, ``zero_grad()``, ``forward`` behind
``__call__``, and a ``backward(grad)`` that returns the input gradient and accumulates
parameter gradients; plus ``state_dict``/``load_state_dict`` with torch's key names and
``to(dtype)``/``double()``/``float()``.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterator, Mapping, NamedTuple

import numpy as np


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(strict=False)`` skipped, as in torch."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class Parameter:
    """A weight array and its accumulated gradient, like ``torch.nn.Parameter``.

    ``data`` is updated in place by optimisers, so every holder of the parameter sees the
    step; ``grad`` is ``None`` until the first backward pass.
    """

    def __init__(self, data: np.ndarray):
        self.data = np.asarray(data)
        self.grad: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        """``np.asarray(param)`` is its data, as ``param.numpy()`` is for a torch parameter."""
        if copy is False and dtype is not None and np.dtype(dtype) != self.data.dtype:
            raise ValueError(f"Parameter.__array__: cannot give {self.data.dtype} data as {np.dtype(dtype)} without a copy")
        data = self.data if dtype is None else self.data.astype(dtype, copy=False)
        return data.copy() if copy else data

    def accumulate(self, grad: np.ndarray) -> None:
        """Add ``grad`` to ``self.grad`` (torch's ``.grad`` accumulation semantics)."""
        if self.grad is None:
            self.grad = np.array(grad, dtype=self.data.dtype, copy=True)
        else:
            self.grad += grad

    def __repr__(self) -> str:
        return f"Parameter(shape={self.shape}, dtype={self.dtype})"


class Module:
    """Base class: subclasses implement ``forward`` and ``backward``.

    Parameters are attributes holding :class:`Parameter`; child modules are attributes
    holding :class:`Module` (a container such as ``Sequential`` overrides ``named_children``).
    """

    training: bool = True

    def __init__(self) -> None:
        self.training = True

    # -- calling ------------------------------------------------------------------
    def forward(self, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} does not implement forward")

    def backward(self, grad):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} does not implement backward")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # -- mode ---------------------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        """Set training mode on this module and every child; returns ``self`` like torch."""
        if not isinstance(mode, bool):
            raise ValueError(f"training mode is expected to be boolean, got {type(mode).__name__}")
        self.training = mode
        for _, child in self.named_children():
            child.train(mode)
        return self

    def eval(self) -> "Module":
        """Evaluation mode: ``train(False)``."""
        return self.train(False)

    # -- tree ---------------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value

    def named_parameters(
        self, prefix: str = "", remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """(name, parameter) pairs with torch's dotted names (``"0.weight"``).

        A parameter reachable under two names (weight tying) is listed once, as in torch,
        so an optimiser does not step it twice; ``remove_duplicate=False`` lists every name.
        """
        seen: set[int] = set()
        for name, param in self._all_named_parameters(prefix):
            if remove_duplicate:
                if id(param) in seen:
                    continue
                seen.add(id(param))
            yield name, param

    def _all_named_parameters(self, prefix: str) -> Iterator[tuple[str, Parameter]]:
        for name, value in vars(self).items():
            if isinstance(value, Parameter):
                yield prefix + name, value
        for name, child in self.named_children():
            yield from child._all_named_parameters(prefix + name + ".")

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        """Reset every parameter's gradient to ``None`` (torch's ``set_to_none=True``)."""
        for p in self.parameters():
            p.grad = None

    # -- state ----------------------------------------------------------------------
    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Name -> copy of every parameter, keyed like ``torch.nn.Module.state_dict``.

        Copies, so training on afterwards does not change a saved state.
        """
        return OrderedDict((name, p.data.copy()) for name, p in self._all_named_parameters(""))

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> "IncompatibleKeys":
        """Copy ``state_dict``'s arrays into the parameters, cast to each parameter's dtype.

        Mirrors ``torch.nn.Module.load_state_dict``: values may be numpy arrays or anything
        ``np.asarray`` converts (torch CPU tensors, nested lists). Every key, shape and
        dtype is checked before the first parameter is written, so a failed load changes
        nothing. ``strict=False`` tolerates missing and unexpected keys (returned, as torch
        does) but never a shape mismatch. Raises ``ValueError`` where torch raises
        ``RuntimeError``, listing every problem at once.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict expects a mapping of name -> array, got {type(state_dict).__name__}")
        own = OrderedDict(self._all_named_parameters(""))
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        problems = []
        if strict:
            problems += [f'missing key "{k}"' for k in missing]
            problems += [f'unexpected key "{k}"' for k in unexpected]
        staged = []
        for name, param in own.items():
            if name not in state_dict:
                continue
            try:
                value = np.asarray(state_dict[name])
            except Exception as exc:  # torch tensors needing grad, ragged lists, ...
                problems.append(f'"{name}": cannot convert {type(state_dict[name]).__name__} to an array ({exc})')
                continue
            if value.dtype.kind not in "biuf":
                problems.append(f'"{name}": expected a real numeric array, got dtype {value.dtype}')
            elif value.shape != param.shape:
                problems.append(f'size mismatch for "{name}": expected shape {param.shape}, got shape {value.shape}')
            else:
                staged.append((param, np.array(value, dtype=param.dtype, copy=True)))
        if problems:
            raise ValueError(
                f"Error(s) in loading state_dict for {type(self).__name__} (nothing was loaded):\n\t"
                + "\n\t".join(problems)
            )
        for param, value in staged:
            # In place, like torch's param.copy_(), so views of param.data see the load.
            if param.data.flags.writeable:
                param.data[...] = value
            else:
                param.data = value
        return IncompatibleKeys(missing, unexpected)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        children = list(self.named_children())
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"  ({name}): " + repr(child).replace("\n", "\n  ") for name, child in children]
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)"

    # -- dtype ----------------------------------------------------------------------
    def to(self, dtype) -> "Module":
        """Cast every parameter (and its gradient) to the float ``dtype``; returns ``self``.

        The :class:`Parameter` objects stay the same, so an optimiser built before the
        cast keeps stepping them.
        """
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"Module.to() only casts to floating dtypes, got {dtype}")
        for p in self.parameters():
            p.data = p.data.astype(dtype, copy=False)
            if p.grad is not None:
                p.grad = p.grad.astype(dtype, copy=False)
        return self

    def double(self) -> "Module":
        """``to(np.float64)``, like ``torch.nn.Module.double``."""
        return self.to(np.float64)

    def float(self) -> "Module":  # noqa: A003 - torch's name; last in the class so the builtin stays visible above
        """``to(np.float32)``, like ``torch.nn.Module.float``."""
        return self.to(np.float32)
