"""A dropout layer that stores its results on attributes, as the "Neural Networks from
Scratch" book's layers do: ``forward(inputs, training)`` sets ``self.output``,
``backward(dvalues)`` sets ``self.dinputs``, and ``rate`` is the drop rate.

    npdrop-conform examples.layer_dropout:Layer_Dropout

Written the way such layers usually are, it has two faults: ``rate = 1`` divides 0 by 0
(``p-one``), and backward always uses the last training mask, which after an evaluation
forward is stale (``mode-switch``) or, before any training forward, missing
(``eval-identity``).
"""
import numpy as np


class Layer_Dropout:
    def __init__(self, rate):
        self.rate = 1 - rate  # kept as the success rate of the Bernoulli draw

    def forward(self, inputs, training):
        self.inputs = inputs
        if not training:
            self.output = inputs.copy()
            return
        mask = np.random.binomial(1, self.rate, size=inputs.shape) / self.rate
        self.binary_mask = mask.astype(inputs.dtype)
        self.output = inputs * self.binary_mask

    def backward(self, dvalues):
        self.dinputs = dvalues * self.binary_mask
