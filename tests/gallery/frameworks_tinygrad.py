"""Dropout written in tinygrad, as its users write it: a class of ``Tensor`` operations with a
``training`` flag, and tinygrad's own ``Tensor.dropout`` behind a flag-less function. The suite
hands them tinygrad tensors, differentiates them with ``Tensor.gradient`` (what ``.backward()``
runs) and, for the function, sets tinygrad's ``TRAINING``; nothing here is adapted to it.
tinygrad compiles its kernels with clang: without clang these entries are skipped.
"""
from tinygrad import Tensor

from . import Expect


class TinygradDropout:
    """The usual from-scratch layer: ``Tensor.rand(*x.shape) >= p`` (float32 uniforms), ``x * keep
    / (1 - p)``, the identity when ``training`` is off. It multiplies, so a dropped inf is NaN and
    a dropped -0.0 stays -0.0, as in torch. Edges: ``/ (1 - p)`` takes the Python float in the
    input's dtype, whose float16 reciprocal is inf at p near 1 (a dropped unit 0 * inf = NaN),
    and at p = 1 it divides by 0 (NaN everywhere: the p = 1 cases of ``nonfinite`` too); p is not
    checked; int64 input comes out float32."""

    expect = Expect(fails="float16-near-one", conforms_in_training=True, only=("float16-near-one", "p-one", "nonfinite"),
                    diagnoses=("scale-overflows-float16",))

    def __init__(self, p=0.5):
        self.p = p
        self.training = True

    def __call__(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return x
        keep = Tensor.rand(*x.shape) >= self.p
        return x * keep / (1 - self.p)


def tinygrad_dropout(x, p=0.5):
    """tinygrad's ``Tensor.dropout`` in a function of the user's: it drops only while tinygrad's
    ``TRAINING`` is set, which the suite finds and sets. Edges, tinygrad's own: it selects
    (``where(x, 0)``: a dropped inf is 0, a dropped -0.0 is +0.0), divides by a float16 ``1 - p``
    through its reciprocal (NaN at p near 1) and makes int64 input float32."""
    return x.dropout(p)


tinygrad_dropout.expect = Expect(fails="nonfinite", conforms_in_training=True,
                                 only=("nonfinite", "signed-zero", "float16-near-one"),
                                 diagnoses=("where-select", "scale-overflows-float16"))
