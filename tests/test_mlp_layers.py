"""Linear, the activations, erf, Sequential and MLP, checked without torch.

Forward values are compared with per-element ``math`` evaluations written out here;
backward passes with central differences (``npdrop.gradcheck``) of the forward.
"""
import math
import warnings

import numpy as np
import pytest

from npdrop.activations import GELU, ReLU, Sigmoid, Tanh, erf
from npdrop.container import MLP, Sequential
from npdrop.gradcheck import check_module_gradients
from npdrop.linear import Linear
from npdrop.module import Module
from npdrop.rng import as_source


class RecordingSource:
    """A mask source that logs every draw (and draws from a seeded numpy generator)."""

    def __init__(self, seed=0):
        self.calls = []
        self._gen = np.random.default_rng(seed)

    def uniform(self, low, high, shape, dtype):
        self.calls.append(("uniform", low, high, tuple(shape)))
        return self._gen.uniform(low, high, shape).astype(dtype)

    def normal(self, shape, dtype):
        self.calls.append(("normal", tuple(shape)))
        return self._gen.standard_normal(shape).astype(dtype)

    def keep_mask(self, shape, p):
        self.calls.append(("keep_mask", tuple(shape), p))
        return self._gen.random(shape) >= p


def torch_bounds(fan_in):
    """torch/nn/init.py's arithmetic for Linear, step by step, in Python floats."""
    a = math.sqrt(5)
    gain = math.sqrt(2.0 / (1 + a**2))
    weight_bound = math.sqrt(3.0) * (gain / math.sqrt(fan_in))
    return weight_bound, 1 / math.sqrt(fan_in)


# ---------------------------------------------------------------- Linear ----------
@pytest.mark.parametrize("shape", [(3,), (2, 3), (2, 4, 3)], ids=["1d", "batch", "two-leading-dims"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_linear_forward_matches_explicit_sums(shape, bias):
    layer = Linear(3, 2, bias=bias, rng=1, dtype=np.float64)
    x = np.random.default_rng(2).normal(size=shape)
    y = layer(x)
    W = layer.weight.data
    expected = np.empty(shape[:-1] + (2,))
    for lead in np.ndindex(shape[:-1]):
        for o in range(2):
            acc = sum(x[lead + (i,)] * W[o, i] for i in range(3))
            expected[lead + (o,)] = acc + (layer.bias.data[o] if bias else 0.0)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("shape", [(4,), (5, 4), (2, 3, 4)], ids=["1d", "batch", "two-leading-dims"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_linear_gradcheck(shape, bias):
    layer = Linear(4, 3, bias=bias, rng=3, dtype=np.float64)
    x = np.random.default_rng(4).normal(size=shape)
    report = check_module_gradients(layer, x, rng=5)
    assert set(report) == {"input", "weight"} | ({"bias"} if bias else set())


def test_linear_backward_accumulates_over_calls():
    layer = Linear(3, 2, rng=0, dtype=np.float64)
    x = np.arange(6.0).reshape(2, 3)
    g = np.array([[1.0, -1.0], [0.5, 2.0]])
    layer(x)
    layer.backward(g)
    layer.backward(g)
    np.testing.assert_allclose(layer.weight.grad, 2 * g.T @ x)
    np.testing.assert_allclose(layer.bias.grad, 2 * g.sum(axis=0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_linear_keeps_dtype(dtype):
    layer = Linear(3, 2, rng=0, dtype=dtype)
    x = np.ones((4, 3), dtype=dtype)
    y = layer(x)
    gx = layer.backward(np.ones_like(y))
    assert layer.weight.dtype == layer.bias.dtype == y.dtype == gx.dtype == layer.weight.grad.dtype == dtype


def test_linear_draws_weight_then_bias_with_torch_bounds():
    source = RecordingSource()
    Linear(7, 5, rng=source)
    wb, bb = torch_bounds(7)
    assert source.calls == [("uniform", -wb, wb, (5, 7)), ("uniform", -bb, bb, (5,))]


def test_linear_without_bias_draws_only_weight():
    source = RecordingSource()
    layer = Linear(7, 5, bias=False, rng=source)
    assert [c[3] for c in source.calls] == [(5, 7)] and layer.bias is None


def test_linear_init_is_uniform_on_torch_bound():
    fan_in, fan_out = 400, 300
    w = Linear(fan_in, fan_out, rng=12345, dtype=np.float64).weight.data.ravel()
    bound = 1 / math.sqrt(fan_in)  # kaiming_uniform_ with a=sqrt(5) reduces to this
    n = w.size
    assert np.all(np.abs(w) <= bound)
    assert w.min() < -0.999 * bound and w.max() > 0.999 * bound
    # mean and second moment of U(-b, b): 0 and b^2/3; sds b/sqrt(3n) and b^2 sqrt(4/45)/sqrt(n).
    assert abs(w.mean()) < 6 * bound / math.sqrt(3 * n)
    assert abs((w**2).mean() - bound**2 / 3) < 6 * bound**2 * math.sqrt(4 / 45) / math.sqrt(n)
    # Kolmogorov-Smirnov against the uniform cdf; 1.95/sqrt(n) is the 0.1% critical value.
    u = np.sort((w + bound) / (2 * bound))
    i = np.arange(1, n + 1)
    ks = max(np.max(i / n - u), np.max(u - (i - 1) / n))
    assert ks < 1.95 / math.sqrt(n)


@pytest.mark.parametrize(
    "bad, match",
    [(np.ones((2, 4), np.float32), r"in_features=3.*\(2, 4\)"), (np.float32(1.0), "0-d")],
    ids=["wrong-last-dim", "scalar"],
)
def test_linear_rejects_bad_input(bad, match):
    layer = Linear(3, 2, rng=0)
    with pytest.raises(ValueError, match=match):
        layer(bad)


def test_linear_rejects_dtype_mismatch():
    with pytest.raises(TypeError, match="float64.*float32"):
        Linear(3, 2, rng=0)(np.ones((1, 3)))


def test_linear_backward_errors():
    layer = Linear(3, 2, rng=0)
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.ones((1, 2), np.float32))
    layer(np.ones((4, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(4, 2\).*\(4, 3\)"):
        layer.backward(np.ones((4, 3), np.float32))


@pytest.mark.parametrize("args", [(-1, 2), (2.5, 2), (3, True)], ids=["negative", "float", "bool"])
def test_linear_rejects_bad_sizes(args):
    with pytest.raises(ValueError, match="features"):
        Linear(*args)


# ----------------------------------------------------------- activations ----------
GRID = np.array([-3.0, -1.5, -0.4, -0.1, 0.2, 0.7, 1.3, 4.0])


def gelu_exact(v):
    return 0.5 * v * (1 + math.erf(v / math.sqrt(2)))


def gelu_tanh(v):
    return 0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v**3)))


ACTIVATIONS = {
    "relu": (ReLU, lambda v: max(v, 0.0)),
    "tanh": (Tanh, math.tanh),
    "sigmoid": (Sigmoid, lambda v: 1 / (1 + math.exp(-v))),
    "gelu": (GELU, gelu_exact),
    "gelu-tanh": (lambda: GELU(approximate="tanh"), gelu_tanh),
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_forward_matches_math(name):
    make, ref = ACTIVATIONS[name]
    y = make()(GRID.reshape(2, 4))
    expected = np.array([ref(v) for v in GRID]).reshape(2, 4)
    np.testing.assert_allclose(y, expected, rtol=1e-14, atol=1e-16)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_gradcheck(name):
    x = GRID.reshape(2, 4)  # no exact zero: ReLU's kink stays out of the differences
    check_module_gradients(ACTIVATIONS[name][0](), x, rng=7)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_activation_keeps_dtype_and_rejects_ints(name, dtype):
    act = ACTIVATIONS[name][0]()
    y = act(GRID.astype(dtype))
    assert y.dtype == dtype and act.backward(np.ones_like(y)).dtype == dtype
    with pytest.raises(TypeError, match="floating"):
        act(np.arange(3))


def test_relu_gradient_at_zero_is_zero():
    relu = ReLU()
    relu(np.array([-1.0, 0.0, 2.0]))
    np.testing.assert_array_equal(relu.backward(np.array([5.0, 5.0, 5.0])), [0.0, 0.0, 5.0])


def test_sigmoid_is_stable_at_extremes():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = Sigmoid()(np.array([-1000.0, -40.0, 40.0, 1000.0], dtype=np.float32))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, [0.0, math.exp(-40) / (1 + math.exp(-40)), 1.0, 1.0], rtol=1e-6, atol=0)


def test_activation_backward_errors():
    act = Tanh()
    with pytest.raises(RuntimeError, match="before forward"):
        act.backward(np.ones(3))
    act(np.ones(3))
    with pytest.raises(ValueError, match=r"\(3,\).*\(4,\)"):
        act.backward(np.ones(4))
    with pytest.raises(ValueError, match="approximate"):
        GELU(approximate="fast")


def test_erf_matches_math_erf_on_dense_grid():
    x = np.linspace(-7.0, 7.0, 280_001)
    expected = np.array([math.erf(v) for v in x])
    got = erf(x)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-14)
    small = np.abs(x) < 1.0  # relative accuracy where erf is small
    assert np.max(np.abs(got[small] - expected[small]) / np.maximum(np.abs(expected[small]), 1e-300)) < 2e-15


def test_erf_special_values_and_dtype():
    got = erf(np.array([np.nan, np.inf, -np.inf, -0.0, 1e-300, -30.0]))
    assert np.isnan(got[0]) and list(got[1:3]) == [1.0, -1.0]
    assert got[3] == 0 and math.copysign(1, got[3]) == -1
    assert got[4] == pytest.approx(2 / math.sqrt(math.pi) * 1e-300, rel=1e-15) and got[5] == -1.0
    assert erf(np.array([0.5], dtype=np.float32)).dtype == np.float32


# ------------------------------------------------------- Sequential / MLP ----------
class Tagger(Module):
    """Appends its tag to a shared log on forward/backward; adds a constant."""

    def __init__(self, tag, log):
        super().__init__()
        self.tag, self.log = tag, log

    def forward(self, x):
        self.log.append(("f", self.tag))
        return x + self.tag

    def backward(self, grad):
        self.log.append(("b", self.tag))
        return grad * self.tag


def test_sequential_chains_forward_and_reverses_backward():
    log = []
    seq = Sequential(Tagger(1, log), Tagger(2, log))
    seq.append(Tagger(3, log))
    assert seq(np.array(10.0)) == 16.0
    assert seq.backward(np.array(1.0)) == 6.0
    assert log == [("f", 1), ("f", 2), ("f", 3), ("b", 3), ("b", 2), ("b", 1)]


def test_sequential_container_protocol():
    a, b, c = ReLU(), Tanh(), Sigmoid()
    seq = Sequential(a, b, c)
    assert len(seq) == 3 and list(seq) == [a, b, c]
    assert seq[0] is a and seq[-1] is c
    assert list(seq[1:]) == [b, c] and isinstance(seq[1:], Sequential)
    assert [name for name, _ in seq.named_children()] == ["0", "1", "2"]
    seq.eval()
    assert not any(m.training for m in seq)
    with pytest.raises(IndexError):
        seq[3]
    with pytest.raises(TypeError, match="not a Module"):
        seq.append(lambda x: x)


def test_mlp_layout_and_keys_match_torch_sequential():
    from npdrop.dropout import Dropout

    model = MLP([4, 8, 8, 3], "tanh", p=0.2, rng=0)
    assert [type(m) for m in model] == [Linear, Tanh, Dropout] * 2 + [Linear]
    assert list(model.state_dict()) == ["0.weight", "0.bias", "3.weight", "3.bias", "6.weight", "6.bias"]
    assert [type(m) for m in MLP([4, 8, 3], rng=0)] == [Linear, ReLU, Linear]


def test_mlp_draws_from_one_source_in_construction_order():
    source = RecordingSource()
    MLP([3, 4, 2], p=0.5, rng=source)
    assert [c[3] for c in source.calls] == [(4, 3), (4,), (2, 4), (2,)]
    gen = as_source(9)  # the source MLP(rng=9) resolves to
    first, second = Linear(3, 4, rng=gen), Linear(4, 2, rng=gen)
    model = MLP([3, 4, 2], rng=9)
    np.testing.assert_array_equal(model[0].weight.data, first.weight.data)
    np.testing.assert_array_equal(model[2].bias.data, second.bias.data)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "gelu", "gelu_tanh"])
def test_mlp_gradcheck(activation):
    model = MLP([3, 5, 4, 2], activation, rng=11, dtype=np.float64)
    x = np.random.default_rng(12).normal(size=(4, 3))
    report = check_module_gradients(model, x, rng=13)
    assert len(report) == 7  # input + 3 weights + 3 biases


def test_mlp_with_dropout_in_eval_mode_gradcheck():
    model = MLP([3, 5, 2], p=0.4, rng=1, dtype=np.float64).eval()
    check_module_gradients(model, np.random.default_rng(2).normal(size=(3, 3)))


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(sizes=[4]), ValueError),
        (dict(sizes=[4, 0, 2]), ValueError),
        (dict(sizes=[4, 2], p=1.5), ValueError),
        (dict(sizes=[4, 2], activation="swish"), ValueError),
        (dict(sizes=[4, 2], activation=3), TypeError),
    ],
    ids=["one-size", "zero-size", "p-above-one", "unknown-activation", "activation-not-callable"],
)
def test_mlp_rejects_bad_arguments(kwargs, error):
    with pytest.raises(error):
        MLP(**kwargs)


def test_parameter_converts_to_its_data():
    layer = Linear(3, 2, rng=0)
    weight = layer.weight.data
    assert np.asarray(layer.weight) is weight                     # no copy, the same array
    assert np.array_equal(layer.weight, weight.copy())             # compares as an array, not a 0-d object
    assert np.array(layer.weight).base is None and np.array_equal(np.array(layer.weight), weight)  # np.array copies
    as64 = np.asarray(layer.weight, dtype=np.float64)
    assert as64.dtype == np.float64 and np.array_equal(as64, weight.astype(np.float64))
    with pytest.raises(ValueError, match="without a copy"):
        np.asarray(layer.weight, dtype=np.float64, copy=False)
    assert (layer.weight.data + 0 == np.add(layer.weight, 0)).all()  # ufuncs take it like an array
