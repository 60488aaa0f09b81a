"""Correct dropout that leaves a non-daemon thread and a forked child running: neither may
hold the run."""
import os
import threading
import time

from ._base import Correct


def _forever():
    while True:
        time.sleep(0.05)


threading.Thread(target=_forever, daemon=False).start()
if os.fork() == 0:
    _forever()

Dropout = Correct
