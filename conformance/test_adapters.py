"""The adapters: each calling convention in the registry is recognised and driven, each way of
setting the mode and each p name is read as meant, and what cannot be driven is refused with a
clear message."""
import inspect

import numpy as np
import pytest

pytest.importorskip("torch")

from .adapters import CONVENTIONS, AdapterError, Driver, UserCodeError, load_impl  # noqa: E402
from .adapters.meaning import DROP_NAMES, KEEP_NAMES, form  # noqa: E402
from .adapters.modes import ATTRIBUTES, KEYWORDS  # noqa: E402
from .adapters.factory import ModelFactory  # noqa: E402
from .adapters.keyed import KeyedFunction  # noqa: E402
from .adapters.conventions import Options, detect  # noqa: E402
from .adapters.functions import ForwardOnly, FunctionalPair  # noqa: E402
from .adapters.layer import LayerClass  # noqa: E402
from .adapters.stax import StaxPair  # noqa: E402
from .adapters.transformed import HaikuModule  # noqa: E402
from .harness import expected  # noqa: E402
from .variants import VARIANTS  # noqa: E402

pytestmark = pytest.mark.prop("harness")
X = np.arange(1.0, 7.0).reshape(2, 3)


class AttributesDropout:
    """Results on attributes, mode by argument, drop rate."""

    def __init__(self, rate):
        self.rate = rate

    def forward(self, inputs, training):
        self.seen = (self.rate, training)
        self.output = inputs * 2

    def backward(self, dvalues):
        self.dinputs = dvalues * 3


def pair_forward(x, dropout_param):
    return x * 2, {"param": dropout_param}


def pair_backward(dout, cache):
    return dout * 3, cache


def only_forward(x, dropout, training=True):
    return x * 2 if training else x


def keyed_forward(key, x, rate, deterministic=False):
    return x * 2


def model_factory(rate):
    def model(X, is_train):
        return X * 2, lambda dY: dY * 3
    return model


def stax_pair(rate, mode="train"):
    def init_fun(rng, input_shape):
        return input_shape, ()

    def apply_fun(params, inputs, **kwargs):
        return inputs * 2 if mode == "train" else inputs
    return init_fun, apply_fun


def haiku_module():
    """An hk.Module subclass (haiku is imported only where the test needs it)."""
    hk = pytest.importorskip("haiku")

    class HaikuTimesTwo(hk.Module):
        def __init__(self, rate, name=None):
            super().__init__(name=name)
            self.rate = rate

        def __call__(self, x, is_training=True):
            return x * 2 if is_training else x
    return HaikuTimesTwo


#: convention -> an example of it, in the registry's order; every convention in the registry needs one
#: (a function of no arguments: an example made only when its library is there).
EXAMPLES = {HaikuModule: haiku_module, LayerClass: AttributesDropout, KeyedFunction: keyed_forward,
            FunctionalPair: pair_forward, ForwardOnly: only_forward, StaxPair: stax_pair,
            ModelFactory: model_factory}
#: conventions whose randomness is a jax key: jax arrays, and jax.vjp for the backward
KEYED = (HaikuModule, KeyedFunction, StaxPair)


def _options(**kwargs):
    return Options(**{"probe_shape": X.shape, "module": inspect.getmodule(AttributesDropout), **kwargs})


@pytest.mark.parametrize("convention", CONVENTIONS, ids=lambda c: c.__name__)
def test_each_shape_is_the_first_match_for_its_example_and_drives_it(convention):
    assert tuple(EXAMPLES) == CONVENTIONS, "every convention in the registry needs an example here, in its order"
    target = EXAMPLES[convention]() if convention is HaikuModule else EXAMPLES[convention]
    arrays, grad = None, 3.0
    if convention in KEYED:
        pytest.importorskip("jax")
        from .adapters.arrays import JaxArrays

        arrays, grad = JaxArrays(), 2.0
    options = _options(arrays=arrays)
    earlier = CONVENTIONS[:CONVENTIONS.index(convention)]
    assert not any(c.matches(target, options) for c in earlier), f"an earlier convention claims {target.__name__}"
    found = detect(target, options)
    assert type(found) is convention
    layer = Driver(found, 0.25, seed=0, arrays=arrays)
    assert np.array_equal(layer.forward(X), X * 2)
    if layer.has_backward:
        got = layer.backward(np.ones_like(X))
        got = got[0] if isinstance(got, tuple) else got
        assert np.array_equal(got, np.full(X.shape, grad))


def test_attribute_layer_is_described_as_found():
    found = detect(AttributesDropout, _options())
    assert found.describe() == ("forward(inputs, training) -> self.output; backward(dvalues) -> self.dinputs; "
                                "p: drop probability (parameter 'rate'); mode: argument 'training'")


def test_functional_pair_gets_a_fresh_dict_without_seed_and_its_cache_back():
    dicts, caches = [], []

    def fwd(x, dropout_param):
        dicts.append((dropout_param, dict(dropout_param)))
        dropout_param["p"] = "changed by the callee"     # must not leak into the next call
        return x, ("cache", len(dicts))

    def bwd(dout, cache):
        caches.append(cache)
        return dout

    found = FunctionalPair(fwd, _options(backward="bwd", module=type("M", (), {"bwd": staticmethod(bwd)})))
    layer = Driver(found, 0.3, seed=0)
    before = len(dicts)
    layer.forward(X)
    layer.eval()
    layer.forward(X)
    layer.backward(X)
    (first, seen_first), (second, seen_second) = dicts[before:]
    assert seen_first == {"p": 0.3, "mode": "train"} and seen_second == {"p": 0.3, "mode": "test"}
    assert first is not second
    assert caches == [("cache", len(dicts))]


@pytest.mark.parametrize("keyword", KEYWORDS, ids=lambda k: k.name)
def test_mode_keywords_carry_train_and_eval(keyword):
    seen = []
    namespace = {"seen": seen}
    exec(f"def forward(self, x, {keyword.name}=None):\n    seen.append({keyword.name})\n    return x", namespace)
    cls = type("ModeByKeyword", (), {"__init__": lambda self, p: None, "forward": namespace["forward"]})
    impl_layer = _driver(cls)
    impl_layer.forward(X)
    impl_layer.eval().forward(X)
    assert seen[-2:] == [keyword.train, keyword.eval]


@pytest.mark.parametrize("name", ATTRIBUTES)
def test_mode_attributes_are_set(name):
    def __init__(self, p):
        setattr(self, name, True)
        self.seen = []

    def forward(self, x):
        self.seen.append(getattr(self, name))
        return x

    cls = type("ModeByAttribute", (), {"__init__": __init__, "forward": forward})
    layer = _driver(cls)
    layer.forward(X)
    layer.eval().forward(X)
    assert layer.target.seen[-2:] == [True, False]


def _driver(cls, p=0.3, **options):
    return Driver(detect(cls, _options(**options)), p, seed=0)


@pytest.mark.parametrize("name,keep", [(n, True) for n in KEEP_NAMES] + [(n, False) for n in DROP_NAMES])
def test_p_meaning_follows_the_parameter_name(name, keep):
    cls = type("Named", (), {"__init__": eval(f"lambda self, {name}: setattr(self, 'value', {name})"),
                             "forward": lambda self, x: x})
    assert _driver(cls, 0.25).target.value == (0.75 if keep else 0.25)


def test_p_means_overrides_the_name_and_bare_p_defaults_to_drop():
    cls = type("Bare", (), {"__init__": lambda self, p: setattr(self, "value", p), "forward": lambda self, x: x})
    assert _driver(cls, 0.25).target.value == 0.25
    assert _driver(cls, 0.25, p_means="keep").target.value == 0.75
    assert "ambiguous" in detect(cls, _options()).meaning.describe()


class NoForward:
    def __init__(self, p): pass                                    # noqa: E704
    def apply(self, x): return x                                   # noqa: E704


class TwoParameters:
    def __init__(self, p, units): pass                             # noqa: E704
    def forward(self, x): return x                                 # noqa: E704


class NoResult:
    def __init__(self, p): pass                                    # noqa: E704
    def forward(self, x): self.mask = x                            # noqa: E704


def unknown_signature(x, y, z): return x                           # noqa: E704
def lonely_forward(x, dropout_param): return x, None               # noqa: E704


@pytest.mark.parametrize("target,options,words", [
    (NoForward, {}, ("no forward-like method", "apply", "--forward NAME")),
    (NoForward, {"forward": "run"}, ("no method 'run'",)),
    (NoForward, {"forward": "apply", "backward": "back"}, ("no method 'back'", "--backward")),
    (TwoParameters, {}, ("needs more than p", "units")),
    (NoResult, {}, ("returned None", "self.output", "mask")),
    (unknown_signature, {}, ("matches no known calling convention", "unknown_signature(x, y, z)")),
    (lonely_forward, {}, ("no backward was found", "--backward NAME")),
], ids=["no-forward", "forward-option", "backward-option", "constructor", "no-result", "signature", "no-pair"])
def test_what_cannot_be_driven_is_refused_with_the_fix(target, options, words):
    with pytest.raises(AdapterError) as info:
        detect(target, _options(**options))
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_an_exception_in_user_code_names_its_file_and_line():
    def forward(self, x):
        if x.ndim == 1:
            raise ValueError("boom")
        return x

    cls = type("Raises", (), {"__init__": lambda self, p: None, "forward": forward})
    layer = _driver(cls)
    with pytest.raises(UserCodeError) as info:
        layer.forward(X[0])
    line = forward.__code__.co_firstlineno + 2
    assert f"test_adapters.py:{line} (in forward)" in str(info.value) and "ValueError: boom" in str(info.value)


def test_a_probe_that_raises_is_one_usage_error_naming_the_call_and_the_options():
    def forward(self, x):
        raise TypeError("expected Tensor as element 0 in argument 0, but got numpy.ndarray")

    cls = type("Raises", (), {"__init__": lambda self, p: None, "forward": forward})
    with pytest.raises(AdapterError) as info:
        detect(cls, _options())
    line = forward.__code__.co_firstlineno + 1
    text = str(info.value)
    for words in ("Raises.forward(x) (training, p=0.5)", "TypeError: expected Tensor", f"test_adapters.py:{line}",
                  "--array-lib", "--impl-kwargs", "it was handed numpy arrays"):
        assert words in text, (words, text)


def test_original_form_expectation_is_the_bare_mask():
    impl = load_impl(f"{__name__}:AttributesDropout", form_name="original")
    keep = np.array([[True, False, True], [False, True, True]])
    result = expected(impl, impl.variants[0], 0.3, X, keep, grad=np.ones_like(X))
    assert np.array_equal(result.out, X * keep) and np.array_equal(result.grad, keep * 1.0)
    assert np.array_equal(impl.form.at_eval(X, 0.3), X * 0.7)
    with pytest.raises(ValueError, match="--form"):
        form("halved")


def test_a_pair_whose_backward_takes_p_again_gets_it():
    def fwd(x, keep_prob):
        return x, "cache"

    def bwd(dA, cache, keep_prob):
        return dA * keep_prob

    found = detect(fwd, _options(backward="bwd", module=type("M", (), {"bwd": staticmethod(bwd)})))
    layer = Driver(found, 0.25, seed=0)
    layer.forward(X)
    assert type(found) is FunctionalPair and np.array_equal(layer.backward(X), X * 0.75)


def test_results_on_attributes_are_found_for_code_that_takes_2d_input_only():
    class Dense2d:
        def __init__(self, rate):
            pass

        def forward(self, inputs, training):
            n, m = inputs.shape
            self.output = inputs

    assert detect(Dense2d, _options(probe_shape=(6, 7, 5))).output.describe() == "self.output"


def test_a_function_taking_a_generator_gets_one_per_instance_that_advances():
    def noisy(x, rate, rng):
        return x * (rng.random(x.shape) >= rate)

    found = detect(noisy, _options())
    layer = Driver(found, 0.5, seed=3)
    assert not np.array_equal(layer.forward(np.ones(1000)), layer.forward(np.ones(1000)))


def test_a_function_returning_only_the_output_is_forward_only_despite_a_backward_beside_it():
    def fwd(x, rate):
        return x

    def bwd(dout):
        return dout

    options = _options(module=type("M", (), {"bwd": staticmethod(bwd)}))
    assert FunctionalPair.matches(fwd, options), "the pair convention must get the first look"
    assert type(detect(fwd, options)) is ForwardOnly


def test_the_array_library_is_found_from_the_object_without_importing_one():
    import sys
    import types

    from .adapters.arrays import detect as library_of

    assert library_of(AttributesDropout)[0] == "numpy"
    assert library_of(only_forward)[0] == "numpy"
    torch = pytest.importorskip("torch")
    assert library_of(torch.nn.Dropout)[0] == "torch"
    assert library_of(torch.nn.functional.dropout)[0] == "torch"
    user = types.ModuleType("user_torch_code")
    exec("import torch\ndef drop(x, p, training=True):\n    return x\nclass Mine(torch.nn.Module):\n    pass\n",
         user.__dict__)
    sys.modules[user.__name__] = user
    try:
        assert library_of(user.drop) == ("torch", "its module user_torch_code uses torch")
        assert library_of(user.Mine)[0] == "torch"
    finally:
        del sys.modules[user.__name__]


def test_impl_kwargs_are_python_literals_and_anything_else_is_refused():
    from .adapters import impl_kwargs

    assert impl_kwargs('data_format="channels_first", inplace=False, axes=(1, 2)') == (
        ("data_format", "channels_first"), ("inplace", False), ("axes", (1, 2)))
    assert impl_kwargs(None) == ()
    for bad in ("channels_first", "x=open('f')", "a=1,, b=2"):
        with pytest.raises(ValueError, match="--impl-kwargs"):
            impl_kwargs(bad)


CONFIG_TRAIN = True


class Config:
    train = True


def global_dropout(x, ratio):
    return x * 2 if Config.train else x


def test_a_global_config_train_switch_is_found_and_set_and_mode_global_names_one():
    found = detect(global_dropout, _options())
    assert found.mode.describe() == f"global '{__name__}.Config.train'"
    assert found.meaning.describe() == "p: drop probability (parameter 'ratio')"
    layer = Driver(found, 0.25, seed=0)
    assert np.array_equal(layer.forward(X), X * 2)
    layer.eval()
    assert Config.train is False and np.array_equal(layer.forward(X), X)
    layer.train()
    named = detect(only_forward, _options(mode_global=f"{__name__}:CONFIG_TRAIN"))
    assert named.mode.describe() == f"global '{__name__}:CONFIG_TRAIN'"
    with pytest.raises(ValueError, match="MODULE:ATTR"):
        detect(only_forward, _options(mode_global="CONFIG_TRAIN"))


def test_the_implementation_is_handed_copies_and_changes_to_them_are_noted():
    class InPlace:
        def __init__(self, p):
            self.p = p

        def forward(self, x):
            x *= 2
            return x

        def backward(self, grad):
            grad *= 3
            return grad

    layer = _driver(InPlace)
    x, g = X.copy(), np.ones_like(X)
    assert np.array_equal(layer.forward(x), X * 2) and np.array_equal(x, X)
    assert np.array_equal(layer.backward(g), np.full(X.shape, 3.0)) and np.array_equal(g, np.ones_like(X))
    assert layer.modified == ["its input (training forward)", "the upstream gradient (backward)"]


class Variable:
    """A DeZero/chainer-like wrapper: the array is on ``.data``."""

    def __init__(self, data):
        self.data = data


def variable_dropout(x, dropout_ratio):
    return Variable(x * 2)


@pytest.mark.parametrize("x", [X, np.float32(1.5) * np.ones((), np.float32)], ids=["matrix", "scalar"])
def test_a_variable_output_is_read_through_its_data(x):
    layer = Driver(detect(variable_dropout, _options()), 0.25, seed=0)
    out = layer.forward(x)
    assert isinstance(out, np.ndarray) and out.dtype == x.dtype and np.array_equal(out, x * 2)


@pytest.mark.parametrize("value,words", [(None, "forward returned None"), ([1.0, 2.0], "forward returned a list of 2"),
                                         ((1.0,), "forward returned a tuple of 1"),
                                         (2.5, "forward returned the scalar 2.5 (float) for an input of shape (2, 3)"),
                                         (np.float32(2.5), "returned the scalar")])
def test_an_output_that_is_no_array_fails_saying_what_came_back(value, words):
    from .adapters.driver import output

    with pytest.raises(UserCodeError) as info:
        output(value, np.ones((2, 3)), "forward")
    assert words in str(info.value)


def test_a_zero_dimensional_input_may_give_a_numpy_scalar():
    from .adapters.driver import output

    assert output(np.float32(2.5), np.ones((), np.float32), "forward") == np.float32(2.5)


def test_a_cacheless_backward_beside_a_forward_only_function_is_driven():
    """A notebook's ``dropout_forward(x, p)`` returning the output, with ``dropout_backward(dout)``
    reading the mask it left in a module-level variable."""
    import tests.gallery.shapes_notebook as notebook

    found = detect(notebook.dropout_forward, Options(probe_shape=X.shape, module=notebook))
    assert type(found) is ForwardOnly and found.has_backward
    assert "dropout_backward(dout) -> returned" in found.describe()
    layer = Driver(found, 0.5, seed=0)
    out = layer.forward(X)
    assert np.array_equal(layer.backward(np.ones_like(X)) != 0, out != 0)


def test_a_library_that_cannot_hold_a_dtype_refuses_it_as_unsupported():
    """An array library that cannot take bfloat16 (the conversion raises) refuses it the way
    the implementation's own code would: a UserCodeError with the cause, which makes the
    test n/a (unsupported), not failed; float32 runs as before."""
    from .adapters.arrays import NumpyArrays
    from .harness import refuses

    ml_dtypes = pytest.importorskip("ml_dtypes")

    class NoBfloat16(NumpyArrays):
        def native(self, x):
            if x.dtype == ml_dtypes.bfloat16:
                raise TypeError("bfloat16 is not supported")
            return super().native(x)

    layer = Driver(detect(only_forward, _options()), 0.0, seed=0, arrays=NoBfloat16())
    assert np.array_equal(layer.forward(X.astype(np.float32)), X.astype(np.float32) * 2)
    with pytest.raises(UserCodeError, match="cannot hold the bfloat16 input") as info:
        layer.forward(X.astype(ml_dtypes.bfloat16))
    impl = _probed_impl(lambda p, seed: Driver(detect(only_forward, _options()), p, seed=seed,
                                               arrays=NoBfloat16()))
    assert refuses(impl, ml_dtypes.bfloat16, info.value) and not refuses(impl, np.float32, info.value)


def _probed_impl(make):
    """An implementation as :func:`conformance.harness.refuses` sees it (not npdrop: not exact)."""
    from types import SimpleNamespace

    return SimpleNamespace(exact=False, variants=(VARIANTS["Dropout"],), make=lambda variant, p, seed: make(p, seed))


def divides_by_keep(x, dropout, training=True):
    """Correct but for p = 1, where 1/(1-p) raises ZeroDivisionError in every dtype."""
    return x * (1.0 / (1.0 - dropout)) if training else x


def test_an_exception_at_p_one_is_no_refusal_of_a_dtype():
    """bfloat16 is "unsupported" only when the implementation refuses it at an ordinary p: a
    ZeroDivisionError at p = 1 in a bfloat16 test is a failure, as it is in float32."""
    from .harness import refuses

    ml_dtypes = pytest.importorskip("ml_dtypes")
    found = detect(divides_by_keep, _options())
    with pytest.raises(UserCodeError, match="ZeroDivisionError") as info:
        Driver(found, 1.0, seed=0).forward(X.astype(ml_dtypes.bfloat16))
    impl = _probed_impl(lambda p, seed: Driver(found, p, seed=seed))
    assert not refuses(impl, ml_dtypes.bfloat16, info.value)


def test_library_arrays_pass_the_output_type_checks_once_read_as_numpy():
    """A torch tensor (and a Variable holding ``.data``) is an array, not "not an array"."""
    from .adapters.arrays import TorchArrays
    from .adapters.driver import output

    torch = pytest.importorskip("torch")
    got = output(torch.ones(2, 3), np.ones((2, 3)), "forward", TorchArrays())
    assert isinstance(got, np.ndarray) and got.shape == (2, 3)
    got = output(Variable(np.ones((2, 3))), np.ones((2, 3)), "forward")
    assert isinstance(got, np.ndarray) and got.shape == (2, 3)
    with pytest.raises(UserCodeError, match="returned a list"):
        output([torch.ones(2)], np.ones((2, 3)), "forward", TorchArrays())
