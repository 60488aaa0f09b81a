"""The hostile dropouts of this package inside a whole network, for ``npdrop-conform --network``.

``tests.hostile.network:NAME`` builds Linear -> ReLU -> the ``Dropout`` of ``tests/hostile/NAME.py``
-> Linear, importing that module as it builds (its import-time acts, patching torch, exiting,
starting threads, faking reports, happen then), at the p that sets off its run-time act; the
loss is ``--loss tests.networks.plain_style:MSE``. ``spin`` is a dropout whose forward is a
pure-Python endless loop.
"""
import importlib

import numpy as np

from tests.networks.plain_style import Linear

#: hostile module -> the p its act needs (gil_hang and regex_hang act at 0.3, exit_midrun at 0.8)
P = {"patch_torch": 0.5, "patch_numpy": 0.5, "fake_report": 0.5, "exit_at_import": 0.5, "fake_and_exit": 0.5,
     "exit_midrun": 0.8, "gil_hang": 0.3, "regex_hang": 0.3, "threads": 0.5, "del_hang": 0.5,
     "prefixed": 0.5}


class ReLU:
    def forward(self, x):
        self.x = x
        return np.maximum(x, 0)

    def backward(self, g):
        return g * (self.x > 0)


class SpinDropout:
    def __init__(self, p):
        self.p = p

    def forward(self, x, training=True):
        while True:
            pass

    def backward(self, g):
        return g


def _network(dropout, p: float) -> list:
    rng = np.random.default_rng(3)
    return [Linear(5, 8, rng), ReLU(), dropout(p), Linear(8, 3, rng)]


def _builder(name: str, p: float):
    def build():
        hostile = importlib.import_module(f"{__package__}.{name}").Dropout
        # the network check tells a dropout by its class name ("Dropout = NoScale" is named NoScale)
        return _network(type("Dropout", (hostile,), {}), p)

    build.__name__ = build.__qualname__ = name
    return build


globals().update({name: _builder(name, p) for name, p in P.items()})


def spin():
    return _network(SpinDropout, 0.5)
