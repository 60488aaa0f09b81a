"""Correct dropout whose instances loop forever in ``__del__``."""
import time

from ._base import Correct


class Dropout(Correct):
    def __del__(self):
        while True:
            time.sleep(0.05)
