"""Correct dropout whose forward at p = 0.3 runs a catastrophically backtracking regex."""
import re

from ._base import Correct


class Dropout(Correct):
    def forward(self, x, training=True):
        if self.p == 0.3:
            re.match(r"(a+)+$", "a" * 64 + "b")
        return super().forward(x, training)
