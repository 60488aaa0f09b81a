"""The global random streams an implementation may draw from, kept as one across two processes.

A black box draws its masks from ``np.random`` (torch code from torch's global generator,
pure Python from ``random``), which the suite seeds per test and hypothesis per example.
With the implementation in a process of its own, each side's state travels with each call:
the judge sends the streams it changed since they last crossed, the implementation's
process sends back those its call advanced, and each side sets what it receives. Every
draw therefore sees the state it would have seen with both in one process.
"""
from __future__ import annotations

import random
import sys

import numpy as np


def _numpy():
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return (kind, keys, int(pos), int(has_gauss), float(cached))


def _torch():
    torch = sys.modules.get("torch")
    return None if torch is None else torch.random.get_rng_state().numpy()


def _python():
    return random.getstate()


def _key(state):
    """What two states are compared by (bytes and tuples compare in C: a few microseconds)."""
    if isinstance(state, np.ndarray):
        return state.tobytes()
    if isinstance(state, tuple) and len(state) == 5 and isinstance(state[1], np.ndarray):
        return (state[0], state[1].tobytes(), *state[2:])
    return state


#: the test's seed for TensorFlow's and Keras' global generators (see :func:`seed_frameworks`)
_framework_seed: list = [None]


def seed_frameworks(seed32) -> None:
    """Seed TensorFlow's and Keras' global generators (and those of the libraries in
    :data:`conformance.adapters.arrays.SEEDERS`) where this process imported them, and
    remember the seed: the judge never imports either, so the seed crosses to the
    implementation's process as a stream of its own, and is applied there before the others
    (Keras' seeding also seeds numpy's and Python's generators, which then cross as set)."""
    _framework_seed[0] = seed32
    if seed32 is None:
        return
    keras = sys.modules.get("keras")
    if keras is not None and hasattr(getattr(keras, "utils", None), "set_random_seed"):
        keras.utils.set_random_seed(seed32)
    tf = sys.modules.get("tensorflow")
    if tf is not None and hasattr(getattr(tf, "random", None), "set_seed"):
        tf.random.set_seed(seed32)
    if "conformance.adapters.arrays" in sys.modules:   # the libraries of conformance.adapters.arrays
        for seed in sys.modules["conformance.adapters.arrays"].SEEDERS:
            seed(seed32)


def _frameworks():
    return _framework_seed[0]


# "frameworks" first: a state sent with it is set after it, as the suite's fixture seeds them
READ = {"frameworks": _frameworks, "numpy": _numpy, "torch": _torch, "python": _python}


def _set(name: str, state) -> None:
    if name == "frameworks":
        seed_frameworks(state)
    elif name == "numpy":
        np.random.set_state(tuple(state))
    elif name == "python":
        random.setstate((state[0], tuple(state[1]), state[2]))   # a tuple crosses as a tuple, kept safe
    elif name == "torch" and "torch" in sys.modules and state is not None:
        import torch

        torch.random.set_rng_state(torch.from_numpy(np.ascontiguousarray(state, dtype=np.uint8)))


class Streams:
    """This process's streams as they last crossed (none yet: everything counts as changed)."""

    def __init__(self):
        self.known: dict = {}

    def changed(self) -> dict:
        """The streams whose state differs from what last crossed; they count as crossed now."""
        out = {}
        for name, read in READ.items():
            state = read()
            if state is None:
                continue
            key = _key(state)
            if self.known.get(name) != key:
                out[name], self.known[name] = state, key
        return out

    def adopt(self, states: dict) -> None:
        """Set the streams the other side sent."""
        for name, state in states.items():
            if name in READ:
                _set(name, state)
                now = READ[name]()
                self.known[name] = None if now is None else _key(now)

    def forget(self) -> None:
        """A new process on the other side: everything crosses again."""
        self.known = {}

    def restore(self) -> None:
        """Put back the streams as they were when this object was made (see :meth:`snapshot`)."""
        for name, state in self._snapshot.items():
            _set(name, state)

    def snapshot(self) -> "Streams":
        self._snapshot = {name: state for name, state in ((n, read()) for n, read in READ.items())
                          if state is not None}
        return self
