"""The stax pair convention: ``init_fun, apply_fun = Dropout(rate)``, as ``jax.example_libraries.stax`` builds layers.

A stax layer is a pair of functions made by a constructor::

    init_fun, apply_fun = Dropout(rate, mode='train')
    out_shape, params = init_fun(key, input_shape)
    out = apply_fun(params, x, rng=key)

The harness makes the pair for each p, runs ``init_fun`` once on the first input's shape, and
calls ``apply_fun`` with a fresh key per call as ``rng=`` (stax's ``serial`` passes it by that
name). The mode is a keyword of ``apply_fun`` if it names one, else a keyword of the constructor
(stax's own ``mode='train'``/``'test'``: then one pair is made for each mode). The backward is
``jax.vjp`` of ``apply_fun``.

stax's own ``Dropout`` draws ``bernoulli(rng, rate)`` and divides by ``rate``: its ``rate`` is the
keep probability, despite the name, and is taken as such (``--p-means`` overrides it).
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from .calls import KEY_NAMES, first_parameter, is_function, named_parameters, parameters, probe, probing
from .conventions import Convention
from .meaning import P_NAMES, PMeaning, p_meaning
from .modes import KEYWORDS, Keyword, Mode, NoMode, find_mode
from .usercode import AdapterError, NotThisConvention, call

#: where a constructor's rate is the keep probability, whatever its name says
KEEP_RATE_MODULES = ("jax.example_libraries.stax", "jax.experimental.stax")


class ConstructorKeyword(Mode):
    """The mode given to the constructor (stax's ``Dropout(rate, mode='train')``): one pair per mode."""

    def __init__(self, keyword: Keyword):
        self.keyword = keyword

    def set(self, target, training: bool) -> None:
        target.training = training

    def describe(self) -> str:
        return self.keyword.describe("constructor argument") + ", one pair made for each mode"


class StaxPair(Convention):
    """``init_fun, apply_fun = make(rate)``; ``apply_fun(params, x, rng=key)``; backward: autodiff."""

    order = 45                     # before ModelFactory, which would take the pair for a model
    has_backward = False

    @staticmethod
    def matches(target, options) -> bool:
        return is_function(target) and options.lib.keyed and first_parameter(target) in P_NAMES

    def __init__(self, function, options):
        self.function, self.arrays = function, options.lib
        self.p_name = first_parameter(function)
        self.kwargs = dict(options.impl_kwargs)
        with probing():
            try:
                pair = function(**{**self.kwargs, self.p_name: 0.5})
            except Exception:
                raise NotThisConvention from None
        if not (isinstance(pair, tuple) and len(pair) == 2 and all(callable(f) for f in pair)):
            raise NotThisConvention
        if options.backward:
            raise AdapterError(f"{function.__name__} is differentiated by {self.arrays.autodiff}; "
                               "--backward does not apply")
        origin = getattr(function, "__module__", "") or ""
        if origin in KEEP_RATE_MODULES and options.p_means is None:
            self.meaning = PMeaning(True, f"{origin}.{function.__name__} draws bernoulli(rng, {self.p_name}) "
                                          f"and divides by it: its '{self.p_name}' is the keep probability")
        else:
            self.meaning = p_meaning(self.p_name, options.p_means)
        apply_params = parameters(pair[1])
        self.key_name = next((n for n in KEY_NAMES if n in apply_params), "rng")
        applied = find_mode(apply_params, None, options.module, options.mode_global)
        made = next((k for k in KEYWORDS if k.name in named_parameters(function)[1:]), None)
        self.mode = applied if not isinstance(applied, NoMode) or made is None else ConstructorKeyword(made)
        probe(self, f"{function.__name__}({self.p_name}=0.5) -> apply_fun(params, x, {self.key_name}=<key>) "
                    "(training, p=0.5)", options,
              lambda state, x: self.forward(state, x, True, key=self.arrays.keys(1)()))

    def _pair(self, value: float, training: bool):
        kwargs = {**self.kwargs, self.p_name: value}
        if isinstance(self.mode, ConstructorKeyword):
            kwargs.update(self.mode.keyword.arguments(training))
        return self.function(**kwargs)

    def build(self, value: float, seed: int):
        state = SimpleNamespace(training=True, params={}, init_key=self.arrays.keys(seed ^ 0x5EED)())
        state.pairs = {True: self._pair(value, True)}
        if isinstance(self.mode, ConstructorKeyword):
            state.pairs[False] = self._pair(value, False)
        return state

    def forward(self, state, x, training: bool, mask=None, key=None):
        __tracebackhide__ = True
        init_fun, apply_fun = state.pairs[training if isinstance(self.mode, ConstructorKeyword) else True]
        if training not in state.params:
            _, state.params[training] = call("init_fun(key, input_shape)", init_fun, state.init_key, tuple(x.shape))
        mode = self.mode.arguments(training)
        shown = "".join(f", {k}={v!r}" for k, v in mode.items())
        return call(f"apply_fun(params, x, {self.key_name}=<key>{shown})", apply_fun, state.params[training], x,
                    **{self.key_name: key}, **mode)

    def backward(self, state, grad: np.ndarray):
        raise NotImplementedError("differentiated by the array library")

    def describe(self) -> str:
        return "; ".join([f"init_fun, apply_fun = {self.function.__name__}({self.p_name}); "
                          f"apply_fun(params, x, {self.key_name}) -> returned", f"a fresh key per call as "
                          f"'{self.key_name}'", f"backward: {self.arrays.autodiff}", self.meaning.describe(),
                          f"mode: {self.mode.describe()}"])
