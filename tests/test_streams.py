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


def _draws():
    """Ways a black box moves numpy's global stream, the cached normal variate's alone included."""
    yield "seed", lambda: np.random.seed(7)
    yield "one uniform", lambda: np.random.random_sample()
    yield "one normal (a pair drawn, one cached)", lambda: np.random.standard_normal()
    yield "the cached normal taken (no word drawn)", lambda: np.random.standard_normal()
    yield "binomial mask", lambda: np.random.binomial(1, 0.9, size=(10, 21))
    yield "624 words (a new block)", lambda: np.random.randint(0, 2 ** 32, size=312, dtype=np.uint64)
    yield "set_state, same words, other cached normal", lambda: np.random.set_state(
        (*np.random.get_state()[:3], 1, 0.25))
    yield "set_state, only the cached normal's value", lambda: np.random.set_state(
        (*np.random.get_state()[:3], 1, 0.5))
    yield "nothing drawn", lambda: None


def test_numpy_stream_counts_as_changed_exactly_when_its_state_differs():
    """Whatever reads numpy's state quickly must see every change get_state sees (the cached
    normal variate too, which moves no word), and none where get_state sees none."""
    saved = np.random.get_state()
    try:
        side = streams.Streams()
        side.changed()
        for what, draw in _draws():
            before = np.random.get_state()
            draw()
            after = np.random.get_state()
            differs = not (before[0] == after[0] and np.array_equal(before[1], after[1])
                           and before[2:] == after[2:])
            sent = side.changed()
            assert ("numpy" in sent) == differs, f"numpy's stream after {what}: changed {differs}, sent {list(sent)}"
            if differs:
                assert sent["numpy"][0] == after[0] and np.array_equal(sent["numpy"][1], after[1]), what
                assert tuple(sent["numpy"][2:]) == tuple(after[2:]), what
    finally:
        np.random.set_state(saved)


def test_an_adopted_numpy_state_does_not_cross_back():
    saved = np.random.get_state()
    try:
        judge, implementation = streams.Streams(), streams.Streams()
        np.random.seed(3)
        np.random.standard_normal()
        sent = judge.changed()
        np.random.seed(0)
        implementation.adopt(sent)
        assert "numpy" not in implementation.changed(), "a state just set is not sent back"
        np.random.standard_normal()   # the cached variate alone
        assert "numpy" in implementation.changed(), "taking the cached normal variate moves the stream"
    finally:
        np.random.set_state(saved)


def test_an_adopted_numpy_state_draws_as_set_state_would():
    """Set from the other side (a quicker path than set_state where numpy allows it): the
    same words, position and cached normal variate, so the same draws follow."""
    saved = np.random.get_state()
    try:
        np.random.seed(5)
        np.random.standard_normal()           # one normal cached
        np.random.random_sample(100)
        sent = streams.Streams().changed()["numpy"]
        expected = np.random.standard_normal(3), np.random.binomial(1, 0.9, 50)
        np.random.seed(11)
        streams.Streams().adopt({"numpy": sent})
        state = np.random.get_state()
        assert np.array_equal(state[1], sent[1]) and tuple(state[2:]) == tuple(sent[2:])
        got = np.random.standard_normal(3), np.random.binomial(1, 0.9, 50)
        assert all(np.array_equal(e, g) for e, g in zip(expected, got))
    finally:
        np.random.set_state(saved)
