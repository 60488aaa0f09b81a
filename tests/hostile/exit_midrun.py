"""Correct dropout, until a forward at p = 0.8 ends its process with status 0."""
import os

from ._base import Correct


class Dropout(Correct):
    def forward(self, x, training=True):
        if self.p == 0.8:
            os._exit(0)
        return super().forward(x, training)
