"""Returns an object whose conversion to an array (``__array__``, ``.numpy()``) never returns."""
import time

from ._base import Correct


class Endless:
    def __init__(self, value):
        self.value = value

    def numpy(self):
        while True:
            time.sleep(0.05)

    __array__ = numpy


class Dropout(Correct):
    def forward(self, x, training=True):
        return Endless(super().forward(x, training))
