"""``Sequential`` (chain forward, reverse backward) and the ``MLP`` builder on top of it."""
from __future__ import annotations

import numbers
from typing import Callable, Iterator, Sequence, Union

import numpy as np

from npdrop.activations import GELU, ReLU, Sigmoid, Tanh
from npdrop.linear import Linear
from npdrop.module import Module
from npdrop.rng import RNGLike, as_source


class Sequential(Module):
    """Modules applied in order, like ``torch.nn.Sequential``; children are named "0", "1", ...

    Shapes: whatever the first child takes -> whatever the last child returns.
    ``forward(x)`` is plain chaining (no keyword arguments reach the children);
    ``backward(grad)`` runs the children's backward in reverse and returns dL/dx.
    """

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        self._layers: list[Module] = []
        for module in modules:
            self.append(module)

    def append(self, module: Module) -> "Sequential":
        """Add ``module`` at the end (named ``str(len(self))``); returns ``self`` like torch."""
        if not isinstance(module, Module):
            raise TypeError(f"Sequential: {type(module).__name__} is not a Module")
        self._layers.append(module)
        return self

    def named_children(self) -> Iterator[tuple[str, Module]]:
        for index, module in enumerate(self._layers):
            yield str(index), module

    def __len__(self) -> int:
        return len(self._layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(list(self._layers))

    def __getitem__(self, index: Union[int, slice]) -> Union[Module, "Sequential"]:
        """An int gives that child (negative counts from the end); a slice a new Sequential
        sharing the same child objects, as in torch."""
        if isinstance(index, slice):
            return Sequential(*self._layers[index])
        if isinstance(index, bool) or not isinstance(index, numbers.Integral):
            raise TypeError(f"Sequential indices must be integers or slices, not {type(index).__name__}")
        if not -len(self._layers) <= index < len(self._layers):
            raise IndexError(f"index {index} is out of range for a Sequential of length {len(self._layers)}")
        return self._layers[index]

    def forward(self, x: np.ndarray) -> np.ndarray:
        for module in self._layers:
            x = module(x)
        return x

    def backward(self, grad: np.ndarray) -> np.ndarray:
        for module in reversed(self._layers):
            grad = module.backward(grad)
        return grad


_ACTIVATIONS: dict[str, Callable[[], Module]] = {
    "relu": ReLU,
    "tanh": Tanh,
    "sigmoid": Sigmoid,
    "gelu": GELU,
    "gelu_tanh": lambda: GELU(approximate="tanh"),
}


def _activation_factory(activation) -> Callable[[], Module]:
    if isinstance(activation, str):
        try:
            return _ACTIVATIONS[activation.lower()]
        except KeyError:
            raise ValueError(
                f"MLP: unknown activation {activation!r}; choose one of {sorted(_ACTIVATIONS)} "
                "or pass a callable returning a Module"
            ) from None
    if callable(activation):
        return activation
    raise TypeError(f"MLP: activation must be a name or a callable returning a Module, got {activation!r}")


def MLP(
    sizes: Sequence[int],
    activation: Union[str, Callable[[], Module]] = "relu",
    p: float = 0.0,
    *,
    rng: RNGLike = None,
    dtype=np.float32,
) -> Sequential:
    """A multilayer perceptron as a :class:`Sequential` with torch's layout and key names.

    ``sizes = [d0, d1, ..., dk]`` gives, for each hidden layer, ``Linear(d_i, d_i+1)``,
    the activation, and ``Dropout(p)`` when ``p > 0``; the last layer is a bare
    ``Linear``. So ``MLP([4, 8, 3], "relu", 0.1)`` has the ``state_dict`` keys of
    ``nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.1), nn.Linear(8, 3))``.
    Shapes: (*, d0) -> (*, dk).

    Every layer draws from the one source ``as_source(rng)``, in construction order, the
    way torch's modules all draw from its global generator.
    """
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ValueError(f"MLP: sizes needs at least an input and an output size, got {sizes}")
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
            raise ValueError(f"MLP: every size must be a positive int, got {sizes}")
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise ValueError(f"MLP: dropout probability p must be in [0, 1], got {p!r}")
    make_activation = _activation_factory(activation)
    source = as_source(rng)
    model = Sequential()
    last = len(sizes) - 2
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        model.append(Linear(fan_in, fan_out, rng=source, dtype=dtype))
        if i == last:
            break
        layer = make_activation()
        if not isinstance(layer, Module):
            raise TypeError(f"MLP: the activation factory returned {type(layer).__name__}, not a Module")
        model.append(layer)
        if p > 0:
            # Imported here: npdrop.dropout is the dropout half of the package and imports
            # nothing from the MLP side, so this keeps the two halves decoupled.
            from npdrop.dropout import Dropout

            model.append(Dropout(p, rng=source))
    return model
