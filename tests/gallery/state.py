"""Faults in state: eval mode, masks left over between calls or shared between layers, inputs modified."""
import numpy as np

from . import Expect
from ._base import BlackBoxDropout


class DropsAtEval(BlackBoxDropout):
    """Ignores the mode: drops and rescales at eval too."""

    expect = Expect(fails="eval-identity", diagnoses=("eval-still-drops",))

    def forward(self, x, training=True):
        return super().forward(x, training=True)


class ScalesAtEval(BlackBoxDropout):
    """Identity mask at eval, but still multiplies by 1/(1-p)."""

    expect = Expect(fails="eval-identity")

    def forward(self, x, training=True):
        if training:
            return super().forward(x)
        self.noise = None
        return x * self.scale()


class StaleMaskAfterEval(BlackBoxDropout):
    """An eval forward returns x but leaves the training mask in place: the next backward uses it."""

    expect = Expect(fails="mode-switch", diagnoses=("eval-backward",))

    def forward(self, x, training=True):
        if not training:
            return x
        return super().forward(x)


class ScalesAtEvalKeepsMask(BlackBoxDropout):
    """Evaluation multiplies by 1 - p, and backward always uses the last training mask (a layer
    laid out as NumpyDL's is): the eval forward fails first, and the backward after it still
    shows the stale mask."""

    expect = Expect(fails="mode-switch", diagnoses=("eval-backward",))

    def forward(self, x, training=True):
        if not training:
            return x * x.dtype.type(1 - self.p)
        return super().forward(x)


class TrainMethodTruthy(BlackBoxDropout):
    """``if not self.train:`` tests the bound method ``train`` (always true), not the flag
    ``self.training``: evaluation still drops."""

    expect = Expect(fails="eval-identity", diagnoses=("eval-still-drops",))

    def __init__(self, p=0.5):
        super().__init__(p)
        self.training = True

    def train(self):
        self.training = True

    def eval(self):
        self.training = False

    def forward(self, x):
        if not self.train:
            self.noise = None
            return x
        return super().forward(x)


class SharedClassMask(BlackBoxDropout):
    """Keeps its state in a dict that is a *class* attribute, so every instance shares one mask."""

    expect = Expect(fails="instance-isolation")

    state = {}

    @property
    def noise(self):
        return self.state.get("noise")

    @noise.setter
    def noise(self, value):
        self.state["noise"] = value


class ModifiesInput(BlackBoxDropout):
    """Multiplies in place to save memory: the caller's array is overwritten."""

    expect = Expect(fails="input-unchanged")

    def apply(self, x, noise):
        np.multiply(x, noise, out=x)
        return x
