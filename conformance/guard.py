"""What surrounds every call into the implementation under test: a time limit, the suite's
numpy error state, and a cap on what it prints.

A hung call cannot be stopped inside the process (a loop in C never returns to Python), so
the limit is kept by a watchdog thread: when a call has run past ``--call-timeout``
seconds it hands the call's description to ``on_timeout`` (the conformance plugin names
the test, writes the report with ``complete: false`` and ends the process with
:data:`EXIT_TIMEOUT`). Checking costs one clock read and two assignments per call; the
thread wakes a few times a second.

The guard in force is found through :func:`active` (a context variable the plugin sets),
so :func:`conformance.adapters.usercode.call` needs no argument for it; without one (the
adapters used on their own) calls run unguarded.
"""
from __future__ import annotations

import io
import sys
import threading
import time
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Optional

import numpy as np

#: the exit status of a run ended because a call into the implementation did not return
EXIT_TIMEOUT = 6
#: default seconds one call into the implementation may take
DEFAULT_CALL_TIMEOUT = 60.0
#: characters of the implementation's printed output kept per test
OUTPUT_CAP = 64 * 1024

_ACTIVE: ContextVar = ContextVar("npdrop_guard", default=None)


class CappedText(io.TextIOBase):
    """A text stream that keeps the first ``cap`` characters written and counts the rest."""

    def __init__(self, cap: int = OUTPUT_CAP):
        self.cap, self.kept, self.total = cap, [], 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        room = self.cap - min(self.total, self.cap)
        if room:
            self.kept.append(text[:room])
        self.total += len(text)
        return len(text)

    def text(self) -> str:
        kept = "".join(self.kept)
        cut = self.total - len(kept)
        return kept + (f"\n[... {cut} more characters printed, not kept]" if cut else "")


class Guard:
    """Runs the implementation's calls under a time limit and the ``errstate`` the suite
    runs under (what the user's module set with ``np.seterr`` does not change a verdict, and
    what a call sets is undone after it), with what it prints to ``sys.stdout`` and
    ``sys.stderr`` kept, capped, in :attr:`output`."""

    def __init__(self, limit: Optional[float], on_timeout: Callable[[str, float], None],
                 errstate: Optional[dict] = None):
        self.limit = limit if limit and limit > 0 else None
        self.on_timeout = on_timeout
        self.errstate = errstate or np.geterr()
        self.output = CappedText()
        self._what: Optional[str] = None
        self._deadline = 0.0
        self._depth = 0
        self._stop = threading.Event()
        self._thread = None
        if self.limit is not None:
            self._thread = threading.Thread(target=self._watch, name="npdrop-call-timeout", daemon=True)
            self._thread.start()

    def _watch(self) -> None:
        tick = min(0.25, self.limit / 4)
        while not self._stop.wait(tick):
            what = self._what
            if what is not None and time.monotonic() > self._deadline:
                self.on_timeout(what, self.limit)
                return

    def stop(self) -> None:
        self._stop.set()

    @contextmanager
    def calling(self, what: str, *, capture: bool = True):
        """Around one call into the implementation (nested calls count as the outer one)."""
        self._depth += 1
        if self._depth == 1:
            self._deadline = time.monotonic() + (self.limit or 0.0)
            self._what = what
        out, err = sys.stdout, sys.stderr
        try:
            with np.errstate(**self.errstate):
                if capture:
                    sys.stdout = sys.stderr = self.output
                yield
        finally:
            sys.stdout, sys.stderr = out, err
            self._depth -= 1
            if self._depth == 0:
                self._what = None

    def take_output(self) -> str:
        """What the implementation printed since the last call to this, capped; then clear it."""
        text, self.output = self.output.text(), CappedText()
        return text


def active() -> Optional[Guard]:
    return _ACTIVE.get()


@contextmanager
def installed(guard: Optional[Guard]):
    token = _ACTIVE.set(guard)
    try:
        yield guard
    finally:
        _ACTIVE.reset(token)


def install(guard: Optional[Guard]) -> None:
    """Make ``guard`` the one in force for the rest of this thread's run (the plugin's)."""
    _ACTIVE.set(guard)


@contextmanager
def user_call(what: str):
    """:meth:`Guard.calling` on the guard in force, or nothing if there is none."""
    guard = _ACTIVE.get()
    if guard is None:
        yield
        return
    with guard.calling(what):
        yield
