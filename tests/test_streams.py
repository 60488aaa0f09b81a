"""conformance.streams: the test's seed for Keras' and TensorFlow's global generators crosses
to the implementation's process, where only that process has imported them."""
import sys
import types

import numpy as np

from conformance import streams


def _fake_keras(calls: list):
    keras = types.ModuleType("keras")
    keras.utils = types.SimpleNamespace(set_random_seed=lambda seed: (calls.append(seed), np.random.seed(seed)))
    return keras


def test_the_seed_crosses_and_seeds_keras_before_numpy_is_set(monkeypatch):
    judge, implementation = streams.Streams(), streams.Streams()
    saved = np.random.get_state()
    try:
        monkeypatch.setattr(streams, "_framework_seed", [None])
        streams.seed_frameworks(1234)   # the judge: no keras imported, the seed is only remembered
        np.random.seed(99)              # then the suite seeds numpy, as its fixture does
        sent = judge.changed()
        assert list(sent)[:2] == ["frameworks", "numpy"] and sent["frameworks"] == 1234
        expected = np.random.get_state()[1].copy()

        calls: list = []
        monkeypatch.setitem(sys.modules, "keras", _fake_keras(calls))
        np.random.seed(0)               # the implementation's process, elsewhere in its stream
        implementation.adopt(sent)
        assert calls == [1234], "Keras seeded from the test's seed in the implementation's process"
        assert np.array_equal(np.random.get_state()[1], expected), "numpy's state set after Keras' reseeding"
        assert "frameworks" not in implementation.changed(), "an unchanged seed does not cross back"
    finally:
        np.random.set_state(saved)
