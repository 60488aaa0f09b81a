"""The conventions of JAX libraries whose dropout lives inside their own machinery: flax linen
modules that draw with ``make_rng``, haiku modules that exist only inside ``hk.transform``, stax
``(init_fun, apply_fun)`` pairs; and the hints for errors that name their own fix."""
import numpy as np
import pytest

pytest.importorskip("torch")
jax = pytest.importorskip("jax")

from .adapters import AdapterError, Driver, UserCodeError, hints, load_impl  # noqa: E402
from .adapters.arrays import JaxArrays  # noqa: E402
from .adapters.conventions import Options, detect  # noqa: E402
from .adapters.stax import ConstructorKeyword, StaxPair  # noqa: E402

pytestmark = pytest.mark.prop("harness")
X = np.linspace(0.5, 1.5, 400).reshape(20, 20)


def _driver(target, p=0.5, **options):
    arrays = JaxArrays()
    convention = detect(target, Options(probe_shape=X.shape, arrays=arrays, **options))
    return convention, Driver(convention, p, seed=3, arrays=arrays)


def _kept(out):
    return np.asarray(out) != 0


def test_a_linen_module_drawing_with_make_rng_gets_a_fresh_key_per_call_through_apply():
    nn = pytest.importorskip("flax.linen")

    class Noisy(nn.Module):
        rate: float

        @nn.compact
        def __call__(self, x, deterministic=False):
            if deterministic:
                return x
            keep = jax.random.bernoulli(self.make_rng("noise"), 1.0 - self.rate, x.shape)
            return x * keep / (1.0 - self.rate)

    convention, layer = _driver(Noisy)
    assert convention.rng_collections == ("noise",) and "rngs={'noise': <key>}" in convention.describe()
    first, second = layer.forward(X), layer.forward(X)
    assert not np.array_equal(_kept(first), _kept(second)), "the same key twice: every call drew the same mask"
    assert np.allclose(layer.backward(np.ones_like(X)), second / X)   # the last forward's mask and scale
    layer.eval()
    assert np.array_equal(layer.forward(X), X)


def test_flax_own_dropout_takes_its_key_as_rng_and_gets_no_rngs():
    nn = pytest.importorskip("flax.linen")
    convention, _ = _driver(nn.Dropout)
    assert convention.rng_collections == () and convention.key_name == "rng"


def test_a_haiku_module_is_built_and_called_inside_transform_with_state():
    hk = pytest.importorskip("haiku")

    class Counting(hk.Module):
        """Drops as dropout does, and counts its calls in haiku state (scaled output: x * n)."""

        def __init__(self, rate, name=None):
            super().__init__(name=name)
            self.rate = rate

        def __call__(self, x, is_training=True):
            n = hk.get_state("n", [], init=lambda *_: jax.numpy.zeros([], x.dtype))
            hk.set_state("n", n + 1)
            if not is_training:
                return x
            keep = jax.random.bernoulli(hk.next_rng_key(), 1.0 - self.rate, x.shape)
            return x * keep / (1.0 - self.rate) * (n + 1)

    convention, layer = _driver(Counting)
    assert type(convention).__name__ == "HaikuModule" and convention.mode.name == "is_training"
    assert "hk.transform_with_state" in convention.describe()
    first, second = layer.forward(X), layer.forward(X)
    assert not np.array_equal(_kept(first), _kept(second)), "the same key twice: every call drew the same mask"
    assert set(np.unique(np.round(first[_kept(first)] / X[_kept(first)], 6))) == {2.0}     # call 1: n + 1 = 1
    assert set(np.unique(np.round(second[_kept(second)] / X[_kept(second)], 6))) == {4.0}  # its state came back
    assert np.allclose(layer.backward(np.ones_like(X)), np.where(_kept(second), 4.0, 0.0))
    layer.eval()
    assert np.array_equal(layer.forward(X), X)


def test_a_haiku_module_needing_more_than_p_is_refused_with_the_option():
    hk = pytest.importorskip("haiku")

    class Wide(hk.Module):
        def __init__(self, rate, units, name=None):
            super().__init__(name=name)

        def __call__(self, x):
            return x

    with pytest.raises(AdapterError, match="units.*--impl-kwargs"):
        _driver(Wide)


def test_stax_dropout_rate_is_its_keep_probability_and_its_mode_a_constructor_argument():
    from jax.example_libraries import stax

    convention, layer = _driver(stax.Dropout, p=0.25)
    assert isinstance(convention, StaxPair) and convention.meaning.keep
    assert isinstance(convention.mode, ConstructorKeyword) and convention.key_name == "rng"
    big = np.ones((1000, 100))
    kept = _kept(layer.forward(big)).mean()
    # torch's p = 0.25 keeps 0.75: stax is handed rate = 0.75; 6 standard deviations of 1e5 draws
    assert abs(kept - 0.75) < 6 * np.sqrt(0.75 * 0.25 / big.size), kept
    layer.eval()
    assert np.array_equal(layer.forward(X), X)
    overridden, _ = _driver(stax.Dropout, p_means="drop")
    assert not overridden.meaning.keep


def test_a_stax_style_pair_of_ones_own_keeps_the_meaning_its_name_says():
    def pair(rate, mode="train"):
        def init_fun(rng, input_shape):
            return input_shape, ()

        def apply_fun(params, inputs, rng=None, **kwargs):
            keep = jax.random.bernoulli(rng, 1.0 - rate, inputs.shape)
            return inputs * keep / (1.0 - rate) if mode == "train" else inputs
        return init_fun, apply_fun

    convention, layer = _driver(pair, p=0.25)
    assert isinstance(convention, StaxPair) and not convention.meaning.keep
    first, second = layer.forward(X), layer.forward(X)
    assert not np.array_equal(_kept(first), _kept(second))


def test_a_factory_that_returns_no_pair_is_left_to_the_model_factory_convention():
    def model(rate):
        return lambda X, is_train: (X, lambda dY: dY)

    convention, _ = _driver(model)
    assert type(convention).__name__ == "ModelFactory"


def test_torch_channel_dropout_compared_with_dropout_is_told_the_reference():
    layer = load_impl("torch.nn:Dropout2d").make(next(iter(load_impl("torch.nn:Dropout2d").variants)), 0.5)
    with pytest.raises(UserCodeError, match=r"--reference Dropout2d or Dropout3d/FeatureAlphaDropout, not Dropout"):
        layer.forward(np.ones(3))
    assert "--reference Dropout1d" in hints.for_error("dropout1d: Expected 2D or 3D input, but received a 1D input.")
    load_impl("torch.nn:Dropout2d", "Dropout2d")
    try:
        assert hints.for_error("Feature dropout requires at least 2 dimensions in the input") == ""
        assert hints.for_error("anything else") == ""
    finally:
        hints.reference = "Dropout"


def test_keras_without_tensorflow_is_told_to_choose_a_backend(tmp_path):
    code = compile("raise ImportError(\"No module named 'tensorflow'\", name='tensorflow')",
                   str(tmp_path / "keras" / "src" / "backend.py"), "exec")
    try:
        exec(code, {})
    except ImportError as exc:
        raised = exc
    assert "KERAS_BACKEND=jax npdrop-conform keras.layers:Dropout" in hints.for_loading("keras.layers:Dropout", raised)
    assert hints.for_loading("x:y", ImportError("No module named 'tensorflow'", name="tensorflow")) == ""
    assert hints.for_loading("x:y", ImportError("No module named 'scipy'", name="scipy")) == ""
