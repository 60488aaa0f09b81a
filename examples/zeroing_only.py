"""The dropout many from-scratch networks start with: zero random neurons, change nothing else.

    .venv/bin/python -m pytest conformance/ --impl examples.zeroing_only:ZeroingOnlyDropout

The conformance suite fails it on the scaling checks: its training output has mean
(1 - p) * x instead of x, so a network trained with it sees bigger activations at eval.
"""
import numpy as np


class ZeroingOnlyDropout:
    def __init__(self, p=0.5):
        self.p = p
        self.mask = None

    def forward(self, x, training=True):
        if not training:
            self.mask = None
            return x
        self.mask = np.random.random_sample(x.shape) >= self.p  # keep with probability 1 - p
        return x * self.mask  # ... and no 1/(1-p): the missing piece

    def backward(self, grad):
        return grad if self.mask is None else grad * self.mask
