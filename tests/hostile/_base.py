"""Dropout without the 1/(1-p) scale (fails ``forward``), and correct inverted dropout."""
import numpy as np


class NoScale:
    def __init__(self, p=0.5):
        self.p = p
        self.keep = None

    def forward(self, x, training=True):
        if not training:
            self.keep = None
            return x
        self.keep = (np.random.random_sample(x.shape) >= self.p).astype(x.dtype)
        return x * self.keep

    def backward(self, grad):
        return grad if self.keep is None else grad * self.keep


class Correct(NoScale):
    def forward(self, x, training=True):
        out = super().forward(x, training)
        if training and self.p < 1:
            self.keep = (self.keep * (1 / (1 - self.p))).astype(x.dtype)
            return x * self.keep
        return out if self.p < 1 or not training else x * 0
