"""Shape 1: results stored on attributes, as in the "Neural Networks from Scratch" layers.

``Layer(rate)``; ``forward(inputs, training)`` returns nothing and sets ``self.output``;
``backward(dvalues)`` returns nothing and sets ``self.dinputs``; ``rate`` is the drop rate.
"""
import numpy as np

from . import Expect


class LayerDropout:
    """Correct."""

    expect = Expect(fails=None)

    def __init__(self, rate):
        self.rate = rate
        self.scaled_mask = None

    def forward(self, inputs, training):
        self.inputs = inputs
        if not training or self.rate == 0:
            self.scaled_mask = None
            self.output = inputs
            return
        kept = np.random.random_sample(inputs.shape) >= self.rate
        factor = 0.0 if self.rate == 1 else 1.0 / (1.0 - self.rate)
        self.scaled_mask = (kept * factor).astype(inputs.dtype)
        self.output = inputs * self.scaled_mask

    def backward(self, dvalues):
        self.dinputs = dvalues if self.scaled_mask is None else dvalues * self.scaled_mask


class LayerDropoutStaleMask:
    """Faulty: an eval forward leaves the last training mask in place, and backward uses it."""

    expect = Expect(fails="mode-switch", diagnoses=("eval-backward",))

    def __init__(self, rate):
        self.rate = 1 - rate                      # stored as the keep rate
        self.binary_mask = None

    def forward(self, inputs, training):
        if not training:
            self.output = inputs.copy()
            return
        kept = np.random.random_sample(inputs.shape) < self.rate
        scale = 0.0 if self.rate == 0 else 1.0 / self.rate
        self.binary_mask = (kept * scale).astype(inputs.dtype)
        self.output = inputs * self.binary_mask

    def backward(self, dvalues):
        self.dinputs = dvalues if self.binary_mask is None else dvalues * self.binary_mask
