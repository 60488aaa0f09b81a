"""tinygrad, MLX and Paddle code is driven as their users call it, in-process: in the library's
own arrays (float64 and bfloat16 kept), with its own mode switch, autodiff and generator.

Each library's tests skip where it is not installed (tinygrad's also where clang, which its CPU
device compiles with, is not on the PATH). The whole suite on each library's own dropout is
tests/test_frameworks.py's business; these pin the adapters' parts.
"""
from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

pytest.importorskip("torch")

from conformance.adapters import UserCodeError, load_impl  # noqa: E402
from conformance.streams import seed_frameworks  # noqa: E402
from conformance.variants import VARIANTS  # noqa: E402

DROPOUT = VARIANTS["Dropout"]
X = np.linspace(0.5, 1.5, 400).reshape(4, 100)


def _needs_tinygrad():
    pytest.importorskip("tinygrad")
    if shutil.which(os.environ.get("CC", "clang")) is None:
        pytest.skip("tinygrad's CPU device compiles with clang, which is not on the PATH")


def _kept_pattern(out, x, p):
    """The keep-mask read off a training output: each unit is 0 or x / (1 - p)."""
    kept = out != 0
    np.testing.assert_allclose(out[kept], (x / (1 - p))[kept], rtol=1e-6)
    assert 0 < kept.mean() < 1
    return kept


def test_tinygrad_dropout_is_driven_in_its_tensors_with_its_training_switch():
    _needs_tinygrad()
    from tinygrad.helpers import TRAINING

    impl = load_impl("tinygrad:Tensor.dropout")
    text = impl.describe()
    assert impl.arrays.name == "tinygrad" and "tinygrad tensors" in text and "tinygrad TRAINING" in text, text
    before = TRAINING.value
    try:
        layer = impl.make(DROPOUT, 0.5, 0)
        out = layer.forward(X)                         # with TRAINING off it would be X itself
        kept = _kept_pattern(out, X, 0.5)
        assert np.array_equal(layer.backward(np.ones_like(X)), np.where(kept, 2.0, 0.0))
        layer.eval()
        assert np.array_equal(layer.forward(X), X)
    finally:
        TRAINING.value = before


def test_tinygrad_arrays_keep_float16_float64_and_bfloat16():
    _needs_tinygrad()
    from ml_dtypes import bfloat16

    from conformance.adapters.tinygrad_arrays import TinygradArrays

    lib = TinygradArrays()
    for dtype in (np.float16, np.float64, bfloat16):
        x = np.array([-0.0, 1.5, -2.25, np.inf], dtype=dtype)
        back = lib.numpy(lib.native(x))
        assert back.dtype == x.dtype and np.array_equal(back.view(f"u{x.itemsize}"), x.view(f"u{x.itemsize}"))


def test_tinygrad_mode_switch_only_for_code_that_uses_its_dropout():
    _needs_tinygrad()
    from tinygrad import Tensor

    from conformance.adapters.tinygrad_arrays import training_switch

    assert training_switch(Tensor) is not None
    assert training_switch(np) is None              # a module that never calls tinygrad's dropout


def test_tinygrad_generator_is_seeded_per_test():
    _needs_tinygrad()
    from tinygrad import Tensor

    seed_frameworks(1234)
    first = Tensor.rand(50).numpy()
    seed_frameworks(1234)
    assert np.array_equal(Tensor.rand(50).numpy(), first)


def test_mlx_dropout_gets_mx_arrays_float64_kept_and_vjp_of_the_same_mask():
    pytest.importorskip("mlx.core")
    impl = load_impl("mlx.nn:Dropout")
    assert impl.arrays.name == "mlx" and "mx.vjp" in impl.describe()
    layer = impl.make(DROPOUT, 0.25, 0)
    out = layer.forward(X)
    assert out.dtype == np.float64                  # mx.array(ndarray) alone would make it float32
    kept = _kept_pattern(out, X, 0.25)
    g = np.linspace(-1, 1, X.size).reshape(X.shape)
    np.testing.assert_allclose(layer.backward(g), np.where(kept, g / 0.75, 0.0), rtol=1e-15)
    layer.eval()
    assert np.array_equal(layer.forward(X), X)


class CountingMlxDropout:
    """MLX code whose output depends on a call counter: a rerun under the same seed differs."""

    def __init__(self, p=0.5):
        self.p, self.calls = p, 0

    def __call__(self, x):
        import mlx.core as mx

        self.calls += 1
        return x * mx.array(float(self.calls), dtype=x.dtype)


def test_mlx_backward_refuses_a_forward_that_a_rerun_does_not_reproduce():
    pytest.importorskip("mlx.core")
    impl = load_impl("tests.test_array_libraries:CountingMlxDropout", array_lib="mlx")
    layer = impl.make(DROPOUT, 0.5, 0)
    layer.forward(X)
    with pytest.raises(UserCodeError, match="rerun under the same MLX seed"):
        layer.backward(np.ones_like(X))


def test_mlx_generator_is_seeded_per_test():
    mx = pytest.importorskip("mlx.core")
    seed_frameworks(99)
    first = np.array(mx.random.uniform(shape=(50,)))
    seed_frameworks(99)
    assert np.array_equal(np.array(mx.random.uniform(shape=(50,))), first)


def test_paddle_dropout_uses_paddle_grad_not_the_layers_raising_backward():
    pytest.importorskip("paddle")
    impl = load_impl("paddle.nn:Dropout")
    text = impl.describe()
    assert impl.arrays.name == "paddle" and "paddle.grad" in text and "backward()" not in text, text
    assert not impl.form.original
    layer = impl.make(DROPOUT, 0.5, 0)
    kept = _kept_pattern(layer.forward(X), X, 0.5)
    assert np.array_equal(layer.backward(np.ones_like(X)), np.where(kept, 2.0, 0.0))


def test_paddle_downscale_in_infer_is_taken_as_the_original_form():
    pytest.importorskip("paddle")
    impl = load_impl("paddle.nn:Dropout", kwargs='mode="downscale_in_infer"')
    assert impl.form.original and "form: original" in impl.describe()
    layer = impl.make(DROPOUT, 0.25, 0)
    out = layer.forward(X)
    assert np.all((out == 0) | (out == X)) and 0 < (out != 0).mean() < 1     # training: x * m
    layer.eval()
    np.testing.assert_allclose(layer.forward(X), X * 0.75, rtol=1e-6)       # eval: x * (1 - p)
    explicit = load_impl("paddle.nn:Dropout", kwargs='mode="downscale_in_infer"', form_name="inverted")
    assert not explicit.form.original                                         # --form still wins
