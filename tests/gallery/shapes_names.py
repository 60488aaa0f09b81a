"""Shape 5: other method names: ``fprop``/``bprop``, ``forward_pass``/``backward_pass``, and
names no list guesses (``run``, found with ``--forward run``)."""
import numpy as np

from . import Expect


class _Masked:
    def __init__(self, p):
        self.p = p
        self.mask = None

    def _apply(self, x, training):
        self.mask = None
        if not training or self.p == 0:
            return x
        kept = np.random.random_sample(x.shape) >= self.p
        self.mask = (kept * (0.0 if self.p == 1 else 1.0 / (1.0 - self.p))).astype(x.dtype)
        return x * self.mask

    def _gradient(self, g):
        return g if self.mask is None else g * self.mask


class FpropDropout(_Masked):
    """Correct: ``fprop(x, train=True)``, ``bprop(grad)``."""

    expect = Expect(fails=None)

    def fprop(self, x, train=True):
        return self._apply(x, train)

    def bprop(self, grad):
        return self._gradient(grad)


class ForwardPassDropout(_Masked):
    """Faulty: ``forward_pass``/``backward_pass``; backward forgets the 1/(1-p) scale."""

    expect = Expect(fails="backward", diagnoses=("backward-no-scale",))

    def forward_pass(self, x, training=True):
        return self._apply(x, training)

    def backward_pass(self, grad):
        return grad if self.mask is None else grad * (self.mask != 0)


class RunDropout(_Masked):
    """Correct: ``run(x, training)`` (needs ``--forward run``), ``backprop(grad)``."""

    expect = Expect(fails=None, options=("--forward", "run"))

    def run(self, x, training=True):
        return self._apply(x, training)

    def backprop(self, grad):
        return self._gradient(grad)
