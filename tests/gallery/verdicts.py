"""Held-out cases: correct code the harness must not flag, and faults it once let through or
named wrongly. Each entry is what someone writes, not a construction to pass a check.
"""
import numpy as np

from . import Expect
from ._base import BlackBoxDropout


class RefusesBfloat16(BlackBoxDropout):
    """Correct NumPy dropout that takes floating inputs only, as ``np.issubdtype`` says:
    bfloat16 (ml_dtypes) is not a numpy floating type, so it is refused with a TypeError.
    Its bfloat16 cells are unsupported (n/a), not failed."""

    expect = Expect(fails=None, refuses_bfloat16=True)

    def forward(self, x, training=True):
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"expected a floating-point array, got {x.dtype}")
        return super().forward(x, training)


class ReseedsInBackward(BlackBoxDropout):
    """Fault: backward re-seeds the global generator, so from the second training step on
    every forward draws the same mask; two forwards in a row still differ."""

    expect = Expect(fails="call-independence", diagnoses=("fixed-mask",),
                    message=("call-independence", "training steps 2 and 3"))

    def backward(self, grad):
        np.random.seed(0)
        return super().backward(grad)


class Float16ScaleOverflow(BlackBoxDropout):
    """Fault: the scale is computed in the input's dtype and multiplied with the 0/1 mask;
    at p = 1 - 1e-10 in float16, 1/(1-p) overflows to inf and dropped units become 0 * inf = NaN."""

    expect = Expect(fails="float16-near-one", message=("float16-near-one", "(1 - 1e-10), float16"),
                    diagnoses=("scale-overflows-float16",), conforms_in_training=True)

    def forward(self, x, training=True):
        if not training or self.p == 0 or self.p == 1:
            return super().forward(x, training)
        keep = self.draw(x.shape).astype(x.dtype)
        self.noise = keep * x.dtype.type(1.0 / (1.0 - self.p))
        return x * self.noise


class ReturnsList(BlackBoxDropout):
    """Fault: the training output is a nested list (``.tolist()``), not an array."""

    expect = Expect(fails="forward", message=("forward", "forward returned a list"), returns_non_array=True)

    def forward(self, x, training=True):
        out = super().forward(x, training)
        return out.tolist() if training and x.ndim else out


class NoneAtEval(BlackBoxDropout):
    """Fault: the evaluation branch falls through and returns None."""

    expect = Expect(fails="eval-identity", only=("eval-identity", "mode-switch", "dtype"),  # the three that evaluate
                    message=("eval-identity", "forward returned None"), returns_non_array=True)

    def forward(self, x, training=True):
        if not training:
            self.noise = None
            return None
        return super().forward(x, training)


class ReturnsInput(BlackBoxDropout):
    """Fault: the training forward returns its input (the drop was never applied)."""

    expect = Expect(fails="keep-rate", diagnoses=("never-drops",))  # not no-scale: nothing was dropped to scale

    def forward(self, x, training=True):
        self.noise = None
        return x


class KeepProbDropsWithIt:
    """Fault: the parameter is called ``keep_prob`` but drops with that probability, so the
    harness (handing it 1 - p, as the name says) sees p read the wrong way round; the cure is
    ``--p-means drop``, not ``--p-means keep``."""

    expect = Expect(fails="keep-rate", diagnoses=("keep-prob",), advice="run with --p-means drop")

    def __init__(self, keep_prob=0.5):
        self.keep_prob = keep_prob
        self.noise = None

    def forward(self, x, training=True):
        drop = self.keep_prob
        if not training or drop == 0:
            self.noise = None
            return x
        if drop == 1:
            self.noise = x.dtype.type(0)
            return x * self.noise
        keep = np.random.random_sample(x.shape) >= drop
        self.noise = (keep / (1.0 - drop)).astype(x.dtype)
        return x * self.noise

    def backward(self, grad):
        return grad if self.noise is None else grad * self.noise


class TakesAnyPAndIntegers(BlackBoxDropout):
    """The baseline as most hand-written dropout is: it never checks p nor the input's dtype, so
    p = 1.5 runs on (torch raises ValueError) and int64 input comes back int64 (torch raises).
    Edge differences only: it conforms in training."""

    expect = Expect(fails="p-range", conforms_in_training=True, only=("p-range", "integer-input"),
                    message=("integer-input", "int64 input in training returned int64"))
