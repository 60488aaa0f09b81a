"""Correct dropout, until a forward at p = 0.3 computes 7**(10**9) (C code, holding the GIL)
after replacing time.monotonic and the suite's guard, which must not matter."""
import time

from ._base import Correct


class Dropout(Correct):
    def forward(self, x, training=True):
        if self.p == 0.3:
            time.monotonic = lambda: 0.0
            try:
                from conformance import guard

                if guard.active() is not None:
                    guard.active().stop()
            except ImportError:
                pass
            7 ** (10 ** 9)
        return super().forward(x, training)
