"""How training and evaluation mode are told to the implementation.

Each kind is one small class: a keyword of ``forward`` (``training=``, ``train_flg=``,
``mode='train'/'test'``, ``deterministic=`` meaning eval, ...), the ``train()``/``eval()``
methods, or an attribute (``training``, ``is_training``, ...). :func:`find_mode` takes
the first that fits, in the order of :data:`KEYWORDS`, then methods, then
:data:`ATTRIBUTES`, then a global switch (a config object, an array library's own). The value
is always passed explicitly, so a default of eval (as in Keras-like
``__call__(x, training=False)``) does not matter.
"""
from __future__ import annotations

from dataclasses import dataclass


class Mode:
    """The defaults: no keyword in the calls, nothing to set on the object, an eval mode exists."""

    has_eval = True

    def arguments(self, training: bool) -> dict:
        return {}

    def set(self, target, training: bool) -> None:
        pass


@dataclass(frozen=True)
class Keyword(Mode):
    """A keyword argument of every forward call; ``train``/``eval`` are the values for each mode."""

    name: str
    train: object = True
    eval: object = False

    def arguments(self, training: bool) -> dict:
        return {self.name: self.train if training else self.eval}

    def describe(self, where: str = "argument") -> str:
        plain = (self.train, self.eval) == (True, False)
        return f"{where} '{self.name}'" + ("" if plain else f" ({self.train!r} = train, {self.eval!r} = eval)")


@dataclass(frozen=True)
class Methods(Mode):
    """``obj.train()`` and ``obj.eval()``, as on a torch module."""

    def set(self, target, training: bool) -> None:
        target.train() if training else target.eval()

    def describe(self) -> str:
        return "methods train()/eval()"


@dataclass(frozen=True)
class Attribute(Mode):
    """A boolean attribute set on the object before each call."""

    name: str

    def set(self, target, training: bool) -> None:
        setattr(target, self.name, training)

    def describe(self) -> str:
        return f"attribute '{self.name}'"


@dataclass(frozen=True)
class Global(Mode):
    """A global switch set before each call: a ``Config.train`` attribute (DeZero-style
    code), ``chainer.config.train``, or any ``--mode-global MODULE:ATTR``."""

    holder: object
    name: str
    label: str

    def set(self, target, training: bool) -> None:
        setattr(self.holder, self.name, training)

    def describe(self) -> str:
        return f"global '{self.label}'"


@dataclass(frozen=True)
class NoMode(Mode):
    """Nothing found: the implementation is always in training mode (eval checks are n/a)."""

    has_eval = False

    def describe(self) -> str:
        return ("none found (always training; eval checks n/a; a global switch is named with "
                "--mode-global MODULE:ATTR)")


#: forward keywords that carry the mode, first match wins.
KEYWORDS = (Keyword("training"), Keyword("train"), Keyword("train_flg"), Keyword("is_training"),
            Keyword("train_mode"), Keyword("is_train"), Keyword("mode", "train", "test"),
            Keyword("phase", "train", "test"),
            Keyword("inference", False, True), Keyword("deterministic", False, True))
#: boolean attributes that carry the mode, first match wins (after train()/eval() methods).
ATTRIBUTES = ("training", "is_training", "train_mode", "is_train", "train_flg", "train")


#: names of a global config object and its boolean train switch (DeZero's ``Config.train``, chainer's ``config.train``)
CONFIG_NAMES = ("Config", "config", "Configuration")
CONFIG_SWITCHES = ("train", "training", "is_training")


def global_mode(spec: str) -> Global:
    """``--mode-global MODULE:ATTR`` (``ATTR`` may be dotted: ``dezero:Config.train``)."""
    import importlib

    module_name, sep, path = spec.partition(":")
    if not sep or not module_name or not path:
        raise ValueError(f"--mode-global expects MODULE:ATTR (e.g. dezero:Config.train), got {spec!r}")
    holder = importlib.import_module(module_name)
    *parents, name = path.split(".")
    for part in parents:
        holder = getattr(holder, part)
    if not isinstance(getattr(holder, name, None), (bool, int)):
        raise ValueError(f"--mode-global {spec}: {name!r} is not a boolean attribute there")
    return Global(holder, name, spec)


def _config_switch(module):
    """A boolean train switch on a config object the module holds or imports (``Config.train``)."""
    if module is None:
        return None
    places = [(f"{module.__name__}", vars(module))]
    places += [(value.__name__, vars(value)) for value in vars(module).values()
               if type(value) is type(module) and value is not module]
    for where, names in places:
        for config_name in CONFIG_NAMES:
            holder = names.get(config_name)
            for switch in CONFIG_SWITCHES:
                if holder is not None and isinstance(getattr(holder, switch, None), bool):
                    return Global(holder, switch, f"{where}.{config_name}.{switch}")
    return None


def find_mode(parameters, target=None, module=None, option=None):
    """The mode of a forward with these parameter names (and, for objects, ``target``'s own);
    ``option``: ``--mode-global``, which wins; ``module``: where a global config is looked for."""
    if option:
        return global_mode(option)
    for keyword in KEYWORDS:
        if keyword.name in parameters:
            return keyword
    if target is not None:
        if callable(getattr(target, "train", None)) and callable(getattr(target, "eval", None)):
            return Methods()
        for name in ATTRIBUTES:
            if isinstance(getattr(target, name, None), (bool, int)):
                return Attribute(name)
    return _config_switch(module) or _library_switch(module) or NoMode()


def _library_switch(module):
    """The array library's own switch (tinygrad's ``TRAINING``) for code that uses it."""
    from .arrays import MODE_SWITCHES

    return next((mode for mode in (switch(module) for switch in MODE_SWITCHES) if mode is not None), None)
