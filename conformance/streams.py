"""The global random streams an implementation may draw from, kept as one across two processes.

A black box draws its masks from ``np.random`` (torch code from torch's global generator,
pure Python from ``random``), which the suite seeds per test and hypothesis per example.
With the implementation in a process of its own, each side's state travels with each call:
the judge sends the streams it changed since they last crossed, the implementation's
process sends back those its call advanced, and each side sets what it receives. Every
draw therefore sees the state it would have seen with both in one process.
"""
from __future__ import annotations

import ctypes
import random
import struct
import sys

import numpy as np


def _numpy():
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return (kind, keys, int(pos), int(has_gauss), float(cached))


class _NumpyBytes:
    """The bytes of numpy's global generator's whole state (MT19937's 624 words and position,
    and the legacy cached normal variate with its flag) read in a few microseconds, where
    ``np.random.get_state`` takes about 100 (it copies the words one at a time): every call
    checks whether the stream moved, and it seldom has on the judge's side.

    The offsets of the cached normal within the ``RandomState`` object are not public: they
    are found on a private instance by setting known values and seeing which bytes change,
    then confirmed against ``get_state`` on the global one. Where anything does not match
    (another numpy, another build), :attr:`works` is False and ``get_state`` is used."""

    def __init__(self):
        self.works = False
        try:
            self._find()
        except Exception:  # noqa: BLE001 - any surprise: the slow, public way
            self.works = False

    def _find(self) -> None:
        probe = np.random.RandomState(1)
        size = type(probe).__basicsize__
        memory = lambda: ctypes.string_at(id(probe), size)  # noqa: E731
        kind, keys, pos = probe.get_state()[:3]
        probe.set_state((kind, keys, pos, 1, 1.2345678901234567))
        first = memory()
        probe.set_state((kind, keys, pos, 0, -7.5))
        second = memory()
        changed = [i for i in range(size) if first[i] != second[i]]
        self.cached = first.find(struct.pack("<d", 1.2345678901234567))
        self.flag = changed[0] if changed else -1
        if (self.cached < 0 or second.find(struct.pack("<d", -7.5)) != self.cached or self.flag % 4
                or first[self.flag:self.flag + 4] != struct.pack("<i", 1)
                or second[self.flag:self.flag + 4] != struct.pack("<i", 0)
                or not set(changed) <= set(range(self.flag, self.flag + 4)) | set(range(self.cached, self.cached + 8))):
            return
        self.instance = np.random.mtrand._rand
        if type(self.instance) is not type(probe):
            return
        self.generator = self.instance._bit_generator
        self.words = self.generator.ctypes.state_address
        self.works = True
        saved = _numpy()
        try:
            if self.read() != self.expected(saved):
                self.works = False
                return
            other = ("MT19937", (np.arange(624, dtype=np.uint64) * 2654435761 % 2 ** 32).astype(np.uint32), 17, 1, 0.75)
            self.write(other)
            self.works = self.read() == self.expected(_numpy()) == self.expected(other)
        finally:
            np.random.set_state(saved)

    def expected(self, state) -> bytes:
        """The bytes :meth:`read` gives for a ``get_state`` tuple (to confirm the offsets)."""
        kind, keys, pos, has_gauss, cached = state
        return (np.asarray(keys, dtype="<u4").tobytes() + struct.pack("<i", pos)
                + struct.pack("<i", has_gauss) + struct.pack("<d", cached))

    def write(self, state) -> None:
        """Set ``state`` (a ``get_state`` tuple of MT19937) as ``set_state`` would."""
        data = self.expected(state)
        address = id(self.instance)
        ctypes.memmove(self.words, data[:624 * 4 + 4], 624 * 4 + 4)
        ctypes.memmove(address + self.flag, data[624 * 4 + 4:624 * 4 + 8], 4)
        ctypes.memmove(address + self.cached, data[624 * 4 + 8:], 8)

    def state(self, data: bytes) -> tuple:
        """The ``get_state`` tuple of what :meth:`read` gave."""
        words = 624 * 4
        pos, has_gauss = struct.unpack_from("<ii", data, words)
        (cached,) = struct.unpack_from("<d", data, words + 8)
        return ("MT19937", np.frombuffer(data[:words], dtype="<u4").astype(np.uint32), pos, has_gauss, cached)

    def read(self):
        """The state's bytes, or None where the global generator is no longer the one found."""
        instance = np.random.mtrand._rand
        if instance is not self.instance or instance._bit_generator is not self.generator:
            return None
        address = id(instance)
        return (ctypes.string_at(self.words, 624 * 4 + 4) + ctypes.string_at(address + self.flag, 4)
                + ctypes.string_at(address + self.cached, 8))


_NUMPY_BYTES = _NumpyBytes()


def _numpy_key():
    """What numpy's state is compared by, without building the state where that is quicker."""
    found = _NUMPY_BYTES.read() if _NUMPY_BYTES.works else None
    return ("bytes", found) if found is not None else ("state", _key(_numpy()))


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
    arrays = sys.modules.get(f"{__package__}.adapters.arrays")   # imported where the libraries' code runs
    for seed in getattr(arrays, "SEEDERS", ()):
        seed(seed32)


def _frameworks():
    return _framework_seed[0]


# "frameworks" first: a state sent with it is set after it, as the suite's fixture seeds them
READ = {"frameworks": _frameworks, "numpy": _numpy, "torch": _torch, "python": _python}


def _set(name: str, state) -> None:
    if name == "frameworks":
        seed_frameworks(state)
    elif name == "numpy":
        if (_NUMPY_BYTES.works and state[0] == "MT19937" and len(state[1]) == 624 and 0 <= int(state[2]) <= 624
                and np.random.mtrand._rand is _NUMPY_BYTES.instance
                and _NUMPY_BYTES.instance._bit_generator is _NUMPY_BYTES.generator):
            _NUMPY_BYTES.write(tuple(state))
        else:
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
            if name == "numpy":
                key = _numpy_key()
                if self.known.get(name) != key:
                    out[name], self.known[name] = _NUMPY_BYTES.state(key[1]) if key[0] == "bytes" else read(), key
                continue
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
                if name == "numpy":
                    self.known[name] = _numpy_key()
                    continue
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
