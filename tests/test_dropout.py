"""npdrop's dropout family against its closed forms, without torch.

Each expected value is computed here from the formula (torch's ``x * (keep / (1 - p))`` order
for the inverted variants), not by calling npdrop's own helpers. What each module is (channel
or alpha dropout, its noise shape, the ranks it takes) comes from the conformance suite's
table (:mod:`conformance.variants`, written from torch's documentation), not from npdrop's.
"""
import math
import warnings

import numpy as np
import pytest

import npdrop
from conformance.variants import VARIANTS

DTYPES = [np.float16, np.float32, np.float64]
PS = [0.1, 0.3, 0.5, 0.8]
#: npdrop's module for each torch variant -> the variant's facts
TORCH = {getattr(npdrop, v.name): v for v in VARIANTS.values()}
ALL = [*TORCH, npdrop.GaussianDropout]
CHANNEL = [cls for cls, v in TORCH.items() if v.channel]
#: the input each module gets: its variant's batched shape; GaussianDropout is element-wise, like Dropout
SHAPES = {**{cls: v.batched for cls, v in TORCH.items()}, npdrop.GaussianDropout: VARIANTS["Dropout"].batched}


def case(cls, p, dtype, shape):
    return f"[{cls.__name__}, p={p}, dtype={np.dtype(dtype).name}, shape={shape}]"


def assert_bits_equal(actual, expected, prop, where):
    assert actual.dtype == expected.dtype, f"{prop}: dtype {actual.dtype}, expected {expected.dtype} {where}"
    assert actual.shape == expected.shape, f"{prop}: shape {actual.shape}, expected {expected.shape} {where}"
    same = (actual == expected) | (np.isnan(actual) & np.isnan(expected))
    same &= np.signbit(actual) == np.signbit(expected)
    if not same.all():
        idx = np.argwhere(~same)[0]
        raise AssertionError(
            f"{prop}: {int((~same).sum())} of {same.size} elements differ, first at {tuple(idx)}: "
            f"got {actual[tuple(idx)]!r}, expected {expected[tuple(idx)]!r} {where}"
        )


def sample(shape, dtype, seed=0):
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return x


# -- inverted dropout: the closed form, bit for bit ------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("p", PS)
@pytest.mark.parametrize("cls", [cls for cls, v in TORCH.items() if not v.alpha], ids=lambda c: c.__name__)
def test_inverted_forward_and_backward_closed_form(cls, p, dtype):
    shape = SHAPES[cls]
    noise_shape = TORCH[cls].noise_shape(shape)
    where = case(cls, p, dtype, shape)
    x = sample(shape, dtype)
    x.flat[:4] = [0.0, np.inf, np.nan, -0.0]
    keep = np.random.default_rng(1).random(noise_shape) < 1 - p
    layer = cls(p)
    out = layer(x, mask=keep)
    # torch: noise = keep.to(dtype) / (1 - p), computed in float32 for float16 inputs
    opm = np.float32 if dtype == np.float16 else dtype
    noise = (keep.astype(opm) / opm(1 - p)).astype(dtype)
    with np.errstate(invalid="ignore"):  # the expected inf * 0
        expected = x * noise
    assert_bits_equal(out, expected, "forward", where)
    grad = sample(shape, dtype, seed=2)
    assert_bits_equal(layer.backward(grad), grad * noise, "backward", where)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_dropped_inf_and_nan_give_nan_and_huge_kept_values_do_not_overflow_drops(dtype):
    # torch multiplies by the noise tensor: a dropped inf or NaN becomes NaN, a dropped
    # huge finite value becomes 0 (never inf * 0).
    big = np.finfo(dtype).max
    x = np.array([np.inf, np.nan, big, -big, 1.0], dtype=dtype)
    keep = np.array([False, False, False, False, True])
    out = npdrop.Dropout(0.5)(x, mask=keep)
    assert np.isnan(out[0]) and np.isnan(out[1]), f"dropped inf/nan should be nan, got {out} [{np.dtype(dtype).name}]"
    assert out[2] == 0 and out[3] == 0 and np.signbit(out[3]), f"dropped huge values should be +-0, got {out}"
    assert out[4] == dtype(2.0)


def test_channel_variants_drop_whole_channels():
    for cls in CHANNEL:
        shape = SHAPES[cls]
        noise_shape = TORCH[cls].noise_shape(shape)
        x = np.abs(sample(shape, np.float64)) + 1.0  # no zeros, so zeros mean dropped
        layer = cls(0.5, rng=3)
        out = layer(x)
        keep = layer.last_mask
        assert keep.shape == noise_shape, f"noise shape {keep.shape}, expected {noise_shape} [{cls.__name__}]"
        # alpha dropout sends dropped units to one constant instead of 0; x > 0 never maps to it
        dropped_value = out[~np.broadcast_to(keep, shape)][:1] if TORCH[cls].alpha else 0.0
        per_channel = (out != dropped_value).reshape(shape[0], shape[1], -1)
        assert (per_channel.all(axis=2) | (~per_channel).all(axis=2)).all(), \
            f"some channel is partly dropped [{cls.__name__}, shape={shape}]"
        assert np.array_equal(per_channel.all(axis=2), keep.reshape(shape[:2]))


#: torch's documentation's names for the axes of an unbatched channel input, by rank
UNBATCHED_AXES = {2: "CL", 3: "CHW", 4: "CDHW"}


@pytest.mark.parametrize("variant", [v for v in VARIANTS.values() if v.unsqueezes],
                         ids=lambda v: f"{v}-{UNBATCHED_AXES[len(v.cases['unbatched'][0])]}")
def test_unbatched_channel_inputs(variant):
    shape = variant.cases["unbatched"][0]
    noise_shape = variant.noise_shape(shape)
    x = np.abs(sample(shape, np.float32)) + 1
    layer = getattr(npdrop, variant.name)(0.5, rng=0)
    out = layer(x)
    assert out.shape == shape
    assert layer.last_mask.shape == noise_shape
    with pytest.raises(ValueError, match="mask= has shape"):
        layer(x, mask=np.ones((1,) + noise_shape, dtype=bool))


# -- alpha dropout: torch's constants ----------------------------------------------------------

@pytest.mark.parametrize("p", PS)
def test_alpha_dropout_closed_form_float64(p):
    alpha = 1.7580993408473766  # -SELU lambda * alpha
    a = 1.0 / math.sqrt((alpha ** 2 * p + 1) * (1 - p))
    x = sample((5, 7), np.float64)
    keep = np.random.default_rng(4).random(x.shape) < 1 - p
    layer = npdrop.AlphaDropout(p)
    out = layer(x, mask=keep)
    expected = x * (keep * a) + ((keep - 1.0) * (alpha * a) + alpha * a * p)
    assert_bits_equal(out, expected, "forward", case(npdrop.AlphaDropout, p, np.float64, x.shape))
    dropped = out[~keep]
    assert np.allclose(dropped, -alpha * a + alpha * a * p), "dropped units must all take a(-alpha') + b"
    grad = sample(x.shape, np.float64, seed=5)
    assert_bits_equal(layer.backward(grad), grad * (keep * a), "backward (no shift term)", case(npdrop.AlphaDropout, p, np.float64, x.shape))


def test_alpha_dropout_ignores_inplace_like_torch():
    x = sample((4, 4), np.float32)
    before = x.copy()
    for cls in [c for c, v in TORCH.items() if v.alpha]:
        out = cls(0.5, inplace=True, rng=0)(x)
        assert out is not x and np.array_equal(x, before), f"{cls.__name__} modified its input"


# -- modes and special p --------------------------------------------------------------------

@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_eval_and_p0_are_identity_and_return_the_input(cls):
    x = sample(SHAPES[cls], np.float32)
    layer = cls(0.5, rng=0).eval()
    assert layer(x) is x, f"eval must return the input itself [{cls.__name__}]"
    g = sample(x.shape, np.float32, 1)
    assert np.array_equal(layer.backward(g), g)
    assert cls(0.0, rng=0)(x) is x, f"p=0 must return the input itself [{cls.__name__}]"


@pytest.mark.parametrize("cls", list(TORCH), ids=lambda c: c.__name__)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_p1_is_x_times_zero(cls, dtype):
    x = sample(SHAPES[cls], dtype)
    x.flat[:3] = [np.inf, np.nan, -2.0]
    layer = cls(1.0, rng=0)
    out = layer(x)
    assert out.dtype == x.dtype
    with np.errstate(invalid="ignore"):
        expected = x * dtype(0)
    assert_bits_equal(out, expected, "p=1 output", case(cls, 1.0, dtype, x.shape))
    g = sample(x.shape, dtype, 1)
    assert_bits_equal(layer.backward(g), g * dtype(0), "p=1 backward", case(cls, 1.0, dtype, x.shape))


def test_switching_modes_never_applies_a_stale_mask():
    x = np.abs(sample((50, 40), np.float64)) + 1
    layer = npdrop.Dropout(0.5, rng=0)
    first = layer(x)
    layer.eval()
    assert layer(x) is x
    g = np.ones_like(x)
    assert np.array_equal(layer.backward(g), g), "backward after an eval forward must be the identity"
    layer.train()
    second = layer(x)
    assert not np.array_equal(first != 0, second != 0), "a new training forward must draw a new mask"
    assert np.array_equal(layer.backward(g) != 0, second != 0), "backward must use the latest forward's mask"


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_dtype_shape_preserved_input_untouched(cls, dtype):
    x = sample(SHAPES[cls], dtype)
    before = x.copy()
    layer = cls(0.3, rng=0)
    out = layer(x)
    assert out.dtype == x.dtype and out.shape == x.shape, f"{out.dtype}{out.shape} {case(cls, 0.3, dtype, x.shape)}"
    assert np.array_equal(x, before), f"input modified {case(cls, 0.3, dtype, x.shape)}"
    gx = layer.backward(np.ones_like(x))
    assert gx.dtype == x.dtype


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_empty_input(cls):
    shape = (0,) + SHAPES[cls][1:]
    x = np.zeros(shape, dtype=np.float32)
    layer = cls(0.5, rng=0)
    out = layer(x)
    assert out.shape == shape and out.dtype == np.float32
    assert layer.backward(np.zeros(shape, np.float32)).shape == shape


def test_inplace_writes_into_the_input():
    x = np.abs(sample((30, 30), np.float32)) + 1
    original = x.copy()
    layer = npdrop.Dropout(0.4, inplace=True, rng=0)
    out = layer(x)
    assert out is x
    keep = layer.last_mask
    noise = (keep.astype(np.float32) / np.float32(0.6)).astype(np.float32)
    assert_bits_equal(x, original * noise, "inplace forward", "[Dropout, p=0.4, float32, (30, 30)]")


def test_non_contiguous_inputs_match_contiguous():
    base = sample((6, 8), np.float64)
    for view in (base.T, base[::2, ::-1], base[:, 1:5]):
        keep = np.random.default_rng(6).random(view.shape) < 0.7
        out = npdrop.Dropout(0.3)(view, mask=keep)
        ref = npdrop.Dropout(0.3)(np.ascontiguousarray(view), mask=keep)
        assert_bits_equal(out, ref, "non-contiguous forward", f"[Dropout, view shape {view.shape}]")


# -- beyond torch --------------------------------------------------------------------------

def test_non_inverted_dropout_train_and_eval():
    p = 0.3
    x = sample((20, 20), np.float64)
    layer = npdrop.Dropout(p, inverted=False, rng=0)
    out = layer(x)
    keep = layer.last_mask
    assert_bits_equal(out, x * keep, "original dropout training (no scale)", "[Dropout(inverted=False)]")
    assert np.array_equal(layer.backward(np.ones_like(x)), keep.astype(np.float64))
    layer.eval()
    assert_bits_equal(layer(x), x * (1 - p), "original dropout eval scale 1-p", "[Dropout(inverted=False)]")


def test_broadcast_dims_share_the_mask():
    x = np.abs(sample((8, 5, 6), np.float32)) + 1
    layer = npdrop.Dropout(0.5, rng=0, broadcast_dims=(1,))
    out = layer(x)
    assert layer.last_mask.shape == (8, 1, 6)
    zero = out == 0
    assert (zero == zero[:, :1, :]).all(), "the mask must be shared along axis 1"
    with pytest.raises(ValueError, match="broadcast_dims entry 3"):
        npdrop.Dropout(0.5, broadcast_dims=(3,))(x)


def test_gaussian_dropout_uses_supplied_z():
    p = 0.2
    x = sample((4, 5), np.float64)
    z = sample((4, 5), np.float64, seed=9)
    layer = npdrop.GaussianDropout(p)
    out = layer(x, mask=z)
    noise = 1 + math.sqrt(p / (1 - p)) * z
    assert np.allclose(out, x * noise, rtol=1e-15, atol=0)
    assert np.allclose(layer.backward(np.ones_like(x)), noise, rtol=1e-15, atol=0)
    with pytest.raises(ValueError, match="below 1"):
        npdrop.GaussianDropout(1.0)


# -- randomness --------------------------------------------------------------------------------

def test_same_seed_same_masks_and_calls_differ():
    x = np.ones((64, 64))
    a, b = npdrop.Dropout(0.5, rng=42), npdrop.Dropout(0.5, rng=42)
    first_a, first_b = a(x), b(x)
    assert np.array_equal(first_a, first_b)
    assert not np.array_equal(first_a, a(x)), "two calls must draw different masks"


def test_shared_generator_gives_independent_layers():
    gen = np.random.default_rng(7)
    a, b = npdrop.Dropout(0.5, rng=gen), npdrop.Dropout(0.5, rng=gen)
    x = np.ones((64, 64))
    assert not np.array_equal(a(x), b(x))


def test_global_numpy_random_state_untouched():
    state = np.random.get_state()
    npdrop.Dropout(0.5)(np.ones(1000))
    npdrop.Dropout(0.5, rng=3)(np.ones(1000))
    after = np.random.get_state()
    assert state[0] == after[0] and np.array_equal(state[1], after[1]) and state[2:] == after[2:]


def test_mask_queue_feeds_masks_in_order_and_fails_loudly():
    m1 = np.array([True, False, True])
    m2 = np.array([False, True, True])
    layer = npdrop.Dropout(0.5, rng=npdrop.MaskQueue([m1, m2]))
    x = np.ones(3)
    assert np.array_equal(layer(x) != 0, m1)
    assert np.array_equal(layer(x) != 0, m2)
    with pytest.raises(RuntimeError, match="ran out of masks"):
        layer(x)


# -- bad input: a clear error, nothing changed ---------------------------------------------------

@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan"), float("inf")])
@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_bad_p_raises_value_error_naming_p(cls, p):
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        cls(p)
    with pytest.raises(ValueError, match="between 0 and 1"):
        npdrop.dropout_forward(np.ones(3), p)


@pytest.mark.parametrize("p", ["0.5", None, True, 1j])
def test_non_numeric_p_raises_type_error(p):
    with pytest.raises(TypeError, match="p must be a real number"):
        npdrop.Dropout(p)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, np.bool_, np.complex64, np.complex128])
@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_non_float_input_raises_type_error_naming_dtype(cls, dtype):
    x = np.ones(SHAPES[cls], dtype=dtype)
    with pytest.raises(TypeError, match=np.dtype(dtype).name):
        cls(0.5, rng=0)(x)


@pytest.mark.parametrize("rank", [0, 1, 4, 5])
def test_dropout1d_wrong_rank_uses_torch_wording(rank):
    x = np.ones((2,) * rank, dtype=np.float32)
    for layer in (npdrop.Dropout1d(0.5), npdrop.Dropout1d(0.5).eval()):
        with pytest.raises(ValueError, match=f"dropout1d: Expected 2D or 3D input, but received a {rank}D input"):
            layer(x)


def test_dropout2d_and_3d_warn_like_torch():
    with pytest.warns(UserWarning, match="Received a 3D input to dropout2d"):
        npdrop.Dropout2d(0.5, rng=0)(np.ones((2, 3, 4)))
    with pytest.warns(UserWarning, match="Received a 2-D input to dropout2d"):
        npdrop.Dropout2d(0.5, rng=0)(np.ones((2, 3)))
    with pytest.warns(UserWarning, match="Received a 3-D input to dropout3d"):
        npdrop.Dropout3d(0.5, rng=0)(np.ones((2, 3, 4)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        npdrop.Dropout2d(0.5, rng=0)(np.ones((2, 3, 4, 4)))


# torch's feature dropout refuses a 1-D input in training: it is what refuses one for the variants whose
# least rank is 2 and that have no highest rank (Dropout1d checks its ranks itself, in its own words)
@pytest.mark.parametrize("cls", [cls for cls, v in TORCH.items() if v.min_rank == 2 and v.max_rank is None],
                         ids=lambda c: c.__name__)
def test_feature_dropout_needs_two_dims_in_training(cls):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="Feature dropout requires at least 2 dimensions"):
            cls(0.5, rng=0)(np.ones(4))
        assert cls(0.5).eval()(np.ones(4)).shape == (4,)  # torch draws nothing at eval, so no error


def test_backward_errors():
    layer = npdrop.Dropout(0.5, rng=0)
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.ones(3))
    layer(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"gradient shape \(3,\) does not match the forward output shape \(2, 3\)"):
        layer.backward(np.ones(3))
    with pytest.raises(TypeError, match="int64"):
        layer.backward(np.ones((2, 3), dtype=np.int64))


@pytest.mark.parametrize("mask", [np.ones((2, 2), bool), np.ones((2, 3), np.float32), np.ones((2, 3), np.uint8)],
                         ids=["wrong-shape", "float-mask", "uint8-mask"])
def test_bad_mask_raises_and_leaves_input_unchanged(mask):
    x = np.arange(6, dtype=np.float32).reshape(2, 3) + 1
    before = x.copy()
    with pytest.raises(ValueError, match="mask="):
        npdrop.Dropout(0.5, inplace=True)(x, mask=mask)
    assert np.array_equal(x, before)


def test_bad_rng():
    with pytest.raises(TypeError, match="RandomState"):
        npdrop.Dropout(0.5, rng=np.random.RandomState(0))
    with pytest.raises(TypeError, match="rng= takes"):
        npdrop.Dropout(0.5, rng="seed")
    with pytest.raises(ValueError, match="non-negative"):
        npdrop.Dropout(0.5, rng=-1)


# -- npdrop's own finite-difference checker, dropout under a fixed mask -------------------------

@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
@pytest.mark.parametrize("p", [0.0, 0.3, 1.0])
def test_gradcheck_under_a_fixed_mask(cls, p):
    if cls is npdrop.GaussianDropout and p == 1.0:
        return
    x = sample(SHAPES[cls], np.float64)
    layer = cls(p, rng=0)
    layer(x)
    kwargs = {} if layer.last_mask is None else {"mask": layer.last_mask}
    if cls is npdrop.GaussianDropout and p > 0:
        kwargs = {"mask": sample(x.shape, np.float64, seed=3)}  # a fixed z
    npdrop.check_module_gradients(layer, x, forward_kwargs=kwargs, rng=1, name=f"{cls.__name__}(p={p})")


def test_gradcheck_catches_a_backward_that_forgets_the_scale():
    class Unscaled(npdrop.Dropout):
        def backward(self, grad):
            return grad * self.last_mask  # the 1/(1-p) forgotten

    x = sample((4, 5), np.float64)
    layer = Unscaled(0.5, rng=0)
    layer(x)
    with pytest.raises(AssertionError):
        npdrop.check_module_gradients(layer, x, forward_kwargs={"mask": layer.last_mask}, rng=1)
