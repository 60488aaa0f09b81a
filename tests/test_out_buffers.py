"""``out=`` on the functional forwards and on ``dropout_backward``.

The property: writing into a caller's buffer gives bit for bit what the allocating call
gives with the same seed (whose values tests/test_dropout.py checks against closed forms),
returns that buffer, and a bad buffer is refused before anything is written.
"""
import numpy as np
import pytest

from npdrop import _parallel
from npdrop import functional as F
from test_dropout import assert_bits_equal  # equal values or both NaN, and equal sign bits

DTYPES = [np.float16, np.float32, np.float64]
#: name -> (forward, input shape, extra keyword arguments)
FORWARDS = {
    "dropout": (F.dropout_forward, (6, 7), {}),
    "dropout(broadcast_dims=(0,))": (F.dropout_forward, (6, 7), {"broadcast_dims": (0,)}),
    "dropout(inverted=False)": (F.dropout_forward, (6, 7), {"inverted": False}),
    "dropout1d": (F.dropout1d_forward, (3, 4, 5), {}),
    "dropout2d": (F.dropout2d_forward, (2, 3, 4, 5), {}),
    "dropout3d": (F.dropout3d_forward, (2, 3, 2, 2, 3), {}),
    "alpha_dropout": (F.alpha_dropout_forward, (6, 7), {}),
    "feature_alpha_dropout": (F.feature_alpha_dropout_forward, (2, 3, 4, 5), {}),
    "gaussian_dropout": (F.gaussian_dropout_forward, (6, 7), {}),
}


def sample(shape, dtype, seed=0):
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    if x.size >= 4:
        x.flat[:4] = [0.0, np.inf, np.nan, -0.0]
    return x


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("p", [0.1, 0.5])
@pytest.mark.parametrize("name", list(FORWARDS))
def test_out_matches_the_allocating_call(name, p, dtype):
    fn, shape, kw = FORWARDS[name]
    where = f"[{name}, p={p}, dtype={np.dtype(dtype).name}, shape={shape}]"
    x, g = sample(shape, dtype), sample(shape, dtype, seed=1)
    x0 = x.copy()
    expected, saved = fn(x, p, True, rng=7, **kw)
    buf = np.full(shape, 3.0, dtype=dtype)
    got, saved_out = fn(x, p, True, rng=7, out=buf, **kw)
    assert got is buf, f"out= returns the buffer {where}"
    assert_bits_equal(buf, expected, "forward out=", where)
    assert_bits_equal(x, x0, "input untouched by out=", where)

    gbuf = np.full(shape, 3.0, dtype=dtype)
    got = F.dropout_backward(g, saved_out, out=gbuf)
    assert got is gbuf, f"backward out= returns the buffer {where}"
    assert_bits_equal(gbuf, F.dropout_backward(g, saved), "backward out=", where)


@pytest.mark.parametrize("case", ["eval", "p=0", "p=1", "empty", "0-d"])
def test_out_is_filled_when_the_forward_is_the_identity_or_constant(case):
    x = {"empty": np.empty((0, 3)), "0-d": np.array(-2.5)}.get(case, sample((4, 5), np.float64))
    p, training = {"eval": (0.5, False), "p=0": (0.0, True), "p=1": (1.0, True)}.get(case, (0.5, True))
    expected, saved = F.dropout_forward(x, p, training, rng=3)
    buf = np.full(x.shape, 9.0)
    got, saved_out = F.dropout_forward(x, p, training, rng=3, out=buf)
    assert got is buf, f"out= returns the buffer [{case}]"
    assert_bits_equal(buf, np.asarray(expected), "forward out=", f"[{case}]")
    gbuf = np.full(x.shape, 9.0)
    assert F.dropout_backward(np.ones(x.shape), saved_out, out=gbuf) is gbuf
    assert_bits_equal(gbuf, np.asarray(F.dropout_backward(np.ones(x.shape), saved)), "backward out=", f"[{case}]")


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("layout", ["C", "transposed x", "transposed out"])
def test_out_on_large_and_strided_arrays(layout, threads):
    # 600 x 1000 elements: more than two slabs, so the fused draw-and-apply path runs.
    x = sample((600, 1000), np.float32)
    buf = np.empty((600, 1000), np.float32)
    if layout == "transposed x":
        x = np.ascontiguousarray(x.T).T
    if layout == "transposed out":
        buf = np.empty((1000, 600), np.float32).T
    old = _parallel._threads
    _parallel.set_num_threads(threads)
    try:
        expected, _ = F.dropout_forward(x, 0.3, rng=11)
        got, _ = F.dropout_forward(x, 0.3, rng=11, out=buf)
    finally:
        _parallel.set_num_threads(old)
    assert got is buf
    assert_bits_equal(buf, expected, "forward out=", f"[dropout, p=0.3, float32, {layout}, {threads} threads]")


def test_out_may_be_the_input_itself():
    x = sample((50, 40), np.float32)
    expected, _ = F.dropout_forward(x.copy(), 0.2, True, True, rng=5)  # in place on a copy
    got, _ = F.dropout_forward(x, 0.2, rng=5, out=x)
    assert got is x
    assert_bits_equal(x, expected, "out=x", "[dropout, p=0.2, float32]")


def _bad_outs(x):
    ro = np.empty_like(x)
    ro.flags.writeable = False
    return {
        "a list": ([[0.0] * x.shape[1]] * x.shape[0], TypeError, "numpy array"),
        "wrong shape": (np.empty((x.shape[0] + 1, x.shape[1]), x.dtype), ValueError, "shape"),
        "wrong dtype": (np.empty(x.shape, np.float64), ValueError, "dtype"),
        "read-only": (ro, ValueError, "read-only"),
        "overlapping": (None, ValueError, "overlaps"),
    }


@pytest.mark.parametrize("bad", list(_bad_outs(np.empty((2, 2), np.float32))))
def test_bad_out_is_refused_before_anything_is_written(bad):
    big = sample((9, 8), np.float32)
    x = big[:8]
    buf, error, words = _bad_outs(x)[bad]
    if buf is None:
        buf = big[1:]  # the same memory shifted by a row
    before_x, before_big = x.copy(), big.copy()
    before_buf = np.array(buf, copy=True) if isinstance(buf, np.ndarray) else None
    with pytest.raises(error, match=words):
        F.dropout_forward(x, 0.5, rng=1, out=buf)
    assert_bits_equal(big, before_big, f"input untouched after a refused out= ({bad})", "[dropout, p=0.5, float32]")
    assert_bits_equal(x, before_x, f"input untouched after a refused out= ({bad})", "[dropout, p=0.5, float32]")
    if before_buf is not None:
        assert_bits_equal(buf, before_buf, f"out= untouched after being refused ({bad})", "[dropout, p=0.5, float32]")


def test_inplace_and_out_together_are_refused():
    x = sample((4, 4), np.float32)
    buf = np.zeros_like(x)
    before = x.copy()
    with pytest.raises(ValueError, match="inplace=True and out="):
        F.dropout_forward(x, 0.5, True, True, rng=1, out=buf)
    assert_bits_equal(x, before, "input untouched", "[dropout, p=0.5, float32]")
    assert not buf.any(), "out= untouched"


def test_bad_backward_out_is_refused():
    x = sample((4, 4), np.float32)
    _, saved = F.dropout_forward(x, 0.5, rng=1)
    g = np.ones((4, 4), np.float32)
    with pytest.raises(ValueError, match="dtype"):
        F.dropout_backward(g, saved, out=np.empty((4, 4), np.float64))
    with pytest.raises(ValueError, match="shape"):
        F.dropout_backward(g, saved, out=np.empty((4, 5), np.float32))
