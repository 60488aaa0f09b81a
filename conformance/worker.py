"""The implementation under test in a process of its own: the one place that knows a pipe exists.

:class:`RemoteImpl` and :class:`RemoteDriver` are what the suite calls (``impl.make(...)``,
``layer.forward(x)``, ...), exactly as it calls :class:`conformance.adapters.Impl` and
:class:`~conformance.adapters.Driver` in-process; behind them a :class:`Worker` runs
``python -m npdrop_conform.served`` (the package's own name: ``conformance`` in a clone), which
imports, builds and calls the implementation. The judge (torch's reference, the comparisons,
pytest, the reports) never imports it, so nothing the implementation patches, raises or leaves
running reaches a verdict:

- every request has a deadline kept here, in the judge: past ``--call-timeout`` the
  worker's process group is killed, whatever it was doing (C code holding the GIL too);
- a worker that exits (any status, ``os._exit(0)`` included) or dies fails the call it was
  in, naming how it ended; the next call starts a fresh worker and loads the implementation
  again (at most :data:`RESTARTS` times a run), so the rest of the run goes on;
- its threads, forks and ``__del__`` cannot hold the judge, which never waits for them and
  kills the process group at the end.

``--worker-prefix 'CMD ...'`` puts a command before the worker's (another user, a sandbox).
"""
from __future__ import annotations

import atexit
import builtins
import os
import select
import shlex
import signal
import struct
import subprocess
import sys
import threading
import time
import weakref
from typing import Callable, Optional

import numpy as np

from . import board, wire
from .adapters.meaning import form
from .adapters.usercode import UserCodeError
from .streams import Streams
from .variants import VARIANTS

#: fresh workers a run may start after the first one ended
RESTARTS = 3
#: seconds a new worker may take to start (python and numpy): not the implementation's time
START_TIMEOUT = 120.0
#: bytes of the worker's stderr (the implementation's prints at fd level) kept for messages
TAIL = 4096
SUITE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Refused(Exception):
    """The implementation could not be loaded (the usage error's text)."""


class Gone(Exception):
    """The worker ended (or stopped answering sensibly) during a request."""


class TimedOut(Exception):
    """A request did not return within its limit; the worker was killed."""


class Worker:
    """One ``conformance.served`` process and the pipes to it."""

    def __init__(self, prefix: tuple = (), on_board: bool = True):
        """``on_board=False``: the worker names each call over the pipe, not on the shared page,
        as a request with a limit per call (``request(..., per_call=True)``) needs."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([SUITE_PARENT] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        self.board = board.opened() if on_board else None
        extra = ["--board", self.board.argument()] if self.board is not None else []
        try:
            self.process = subprocess.Popen([*prefix, sys.executable, "-m", f"{__package__}.served", *extra],
                                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                            start_new_session=True, env=env, bufsize=0,
                                            pass_fds=(self.board.fd,) if self.board is not None else ())
        finally:
            if self.board is not None:
                self.board.handed_over()
        self.tail = b""
        self.calling = ""    #: the call into the implementation in progress, as the worker announced it over the pipe
        self._requests, self._replies = self.process.stdin.fileno(), self.process.stdout.fileno()
        for fd in (self._requests, self._replies):
            os.set_blocking(fd, False)
            _widen(fd)
        threading.Thread(target=self._drain, name="npdrop-worker-stderr", daemon=True).start()
        atexit.register(self.kill)
        try:
            self._receive(time.monotonic() + START_TIMEOUT, "starting the implementation's process")
        except TimedOut:
            raise Gone(f"the implementation's process did not start within {START_TIMEOUT:g} s") from None

    def _drain(self) -> None:
        """Keep the last :data:`TAIL` bytes of stderr; never block anything else."""
        stream = self.process.stderr
        while True:
            chunk = stream.read(65536)
            if not chunk:
                return
            self.tail = (self.tail + chunk)[-TAIL:]

    def request(self, message: dict, limit: Optional[float], what: str, per_call: bool = False) -> dict:
        """Send ``message``, return the reply. The worker announces each call into the
        implementation before making it, so a call that does not return is named as the user's;
        ``per_call``: each announced call has ``limit`` of its own (a request making many)."""
        deadline = None if limit is None else time.monotonic() + limit
        self.calling = what
        if self.board is not None:
            self.board.clear()
        self._send(wire.pieces(message), deadline, what)
        paused = None
        while True:
            reply = self._receive(deadline, self.calling)
            if isinstance(reply, dict) and "library" in reply:   # an array library's first import: not counted
                if reply["library"] and paused is None and deadline is not None:
                    paused, deadline = deadline - time.monotonic(), time.monotonic() + START_TIMEOUT
                elif not reply["library"] and paused is not None:
                    deadline, paused = time.monotonic() + paused, None
                continue
            if not (isinstance(reply, dict) and "calling" in reply):
                return reply
            self.calling = str(reply["calling"])[:500]
            if per_call and deadline is not None and paused is None:
                deadline = time.monotonic() + limit

    def stopped(self, what: str) -> str:
        """After a request failed: end the worker, then say the call it was in (``what`` if it
        named none). Ended first, so that nothing writes the name while it is read."""
        self.kill()
        return self.named() or what

    def named(self) -> str:
        """The call in progress (or the last one made), as the worker named it; read only when a
        request fails, on the shared page where the worker uses it, else from the pipe."""
        written = self.board.read() if self.board is not None else ""
        return written[:500] if written else self.calling

    def _wait(self, fd: int, write: bool, deadline: Optional[float], what: str) -> None:
        """Until ``fd`` is ready; :class:`TimedOut` past ``deadline``, :class:`Gone` once the
        process has ended (a child it forked may hold the pipe open, so no end of file comes)."""
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimedOut(what)
            step = 0.2 if left is None else min(left, 0.2)
            ready = select.select([], [fd], [], step) if write else select.select([fd], [], [], step)
            if any(ready):
                return
            if self.process.poll() is not None:
                raise Gone(self.ended())

    def _send(self, frame: list, deadline, what: str) -> None:
        for piece in frame:
            view, sent = memoryview(piece).cast("B"), 0
            while sent < len(view):
                self._wait(self._requests, True, deadline, what)
                try:
                    sent += os.write(self._requests, view[sent:sent + (1 << 20)])
                except BlockingIOError:
                    continue
                except OSError:
                    raise Gone(self.ended()) from None

    def _read(self, n: int, deadline, what: str) -> bytearray:
        out = bytearray(n)
        view, got = memoryview(out), 0
        while got < n:
            self._wait(self._replies, False, deadline, what)
            try:
                count = os.readv(self._replies, [view[got:]])
            except BlockingIOError:
                continue
            if not count:
                raise Gone(self.ended())
            got += count
        return out

    def _receive(self, deadline, what: str) -> dict:
        (size,) = struct.unpack("<Q", self._read(8, deadline, what))
        if size > wire.MAX_FRAME:
            self.kill()
            raise Gone(f"the implementation's process sent a reply of {size} bytes, more than the "
                       f"{wire.MAX_FRAME} accepted; it was ended")
        try:
            return wire.decode(self._read(size, deadline, what))
        except wire.WireError as exc:
            self.kill()
            raise Gone(f"the implementation's process sent something that is not a reply ({exc}); it was ended")

    def ended(self) -> str:
        """How the process ended, and the last thing it printed."""
        try:
            status = self.process.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            self.kill()
            status = self.process.wait()
        self.kill()
        how = (f"killed by signal {signal.Signals(-status).name}" if status < 0 else f"exit status {status}")
        time.sleep(0.05)   # the last words, if any, reach the tail
        last = self.tail.decode(errors="replace").strip().splitlines()[-3:]
        return f"the implementation's process ended ({how})" + (f"; its last output: {' | '.join(last)}" if last else "")

    def kill(self) -> None:
        """End the worker and everything it started in its process group, now."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.process.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            pass


def _widen(fd: int) -> None:
    """A 1 MiB pipe instead of 64 KiB (Linux): a large array crosses in fewer, larger steps."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (ImportError, OSError):
        pass


_KINDS: dict = {}


def _remote_class(name: str, builtin: str) -> type:
    """A class named as the implementation's exception, under its nearest built-in class (a
    ``ValueError`` stays one for ``except ValueError``), carrying its message only."""
    base = getattr(builtins, builtin, Exception)
    if not (isinstance(base, type) and issubclass(base, Exception)):
        base = Exception
    try:
        base("probe")
    except Exception:  # noqa: BLE001 - a built-in that wants more arguments (UnicodeDecodeError)
        base = Exception
    key = (name, base)
    if key not in _KINDS:
        _KINDS[key] = type(name, (base,), {"__module__": "implementation"})
    return _KINDS[key]


def raised(error: dict) -> BaseException:
    """The judge's own exception for what the worker described."""
    if error.get("kind") == "error":
        return _remote_class(str(error.get("type")), str(error.get("builtin")))(str(error.get("message")))
    exc = UserCodeError(str(error.get("message")))
    cause = error.get("cause") if error.get("kind") == "user" else None
    if isinstance(cause, dict):
        exc.__cause__ = _remote_class(str(cause.get("type")), str(cause.get("builtin")))(str(cause.get("message")))
    return exc


def load_apart(spec: str, reference: str, options: dict, guard, on_timeout, prefix: Optional[str]) -> "RemoteImpl":
    """The implementation loaded in a worker; what stops it loading is a usage error (exit 4)."""
    import pytest

    try:
        return RemoteImpl(spec, reference, options, limit=guard.limit, on_timeout=on_timeout, prefix=prefix or "",
                          guard=guard)
    except Refused as exc:
        raise pytest.UsageError(str(exc)) from None
    except (UserCodeError, Gone, OSError) as exc:
        raise pytest.UsageError(f"conformance: {exc}") from None


class RemoteImpl:
    """:class:`conformance.adapters.Impl`, its implementation loaded in a :class:`Worker`."""

    def __init__(self, spec: str, reference: str, options: dict, *, limit: Optional[float],
                 on_timeout: Optional[Callable[[str, float], None]] = None, prefix: str = "", guard=None):
        self.load_request = {"op": "load", "spec": spec, "reference": reference, "options": options,
                             "path": list(sys.path), "errstate": np.geterr() if guard is None else guard.errstate}
        self.limit, self.on_timeout, self.guard = limit, on_timeout, guard
        self.prefix = tuple(shlex.split(prefix or ""))
        self.worker: Optional[Worker] = None
        self.generation = 0
        self.incidents: list = []
        self.streams = Streams()
        self.free: list = []
        self.info = self._start()
        self.form = form(self.info["form"])

    spec = property(lambda self: self.info["spec"])
    exact = property(lambda self: bool(self.info["exact"]))
    keeps_p = property(lambda self: bool(self.info["keeps_p"]))
    variants = property(lambda self: tuple(VARIANTS[v] for v in self.info["variants"]))

    def describe(self) -> str:
        return str(self.info["description"])

    def _start(self) -> dict:
        """A fresh worker with the implementation loaded in it (:class:`Refused` if it cannot be)."""
        self.close()
        self.generation += 1
        self.streams.forget()
        self.free = []
        self.worker = Worker(self.prefix)
        reply = self._exchange(dict(self.load_request), f"loading {self.load_request['spec']} (import and probing calls)")
        if "refused" in reply:
            self.close()
            raise Refused(str(reply["refused"]))
        return reply["impl"]

    def _exchange(self, message: dict, what: str) -> dict:
        message["streams"], message["free"], message["what"] = self.streams.changed(), self.free, what
        self.free = []
        try:
            reply = self.worker.request(message, self.limit, what)
        except TimedOut:
            what = self.worker.stopped(what)
            self.close()
            self.incidents.append(f"TIMED OUT: {what} did not return within {self.limit:g} s; its process was ended")
            if self.on_timeout is not None:
                self.on_timeout(what, self.limit)
            raise UserCodeError(f"{what} did not return within {self.limit:g} s (--call-timeout)") from None
        except Gone as gone:
            what = self.worker.stopped(what)
            self.close()
            self.incidents.append(f"CRASHED: {what}: {gone}")
            raise UserCodeError(f"{what}: {gone}; this call failed") from None
        self.streams.adopt(reply.get("streams") or {})
        if reply.get("printed") and self.guard is not None:
            self.guard.output.write(str(reply["printed"]))
        if "error" in reply:
            raise raised(reply["error"])
        return reply

    def request(self, message: dict, what: str, generation: Optional[int] = None) -> dict:
        """One request to the implementation's process, starting a fresh one if the last ended."""
        __tracebackhide__ = True
        if generation is not None and generation != self.generation:
            raise UserCodeError(f"{what}: this instance was lost with the implementation's process, which ended "
                                "in an earlier call of this test")
        if self.worker is None:
            if self.generation > RESTARTS:
                self.incidents.append(f"NOT RUN: {what}: the implementation's process ended {RESTARTS + 1} times")
                raise UserCodeError(f"{what}: not called: the implementation's process ended {RESTARTS + 1} times "
                                    "and is not started again")
            try:
                self._start()
            except (Refused, Gone) as exc:
                self.incidents.append(f"CRASHED: {what}: a fresh process could not load the implementation: {exc}")
                raise UserCodeError(f"{what}: a fresh process could not load the implementation: {exc}") from None
        return self._exchange(message, what)

    def make(self, variant, p: float, seed: int = 0) -> "RemoteDriver":
        reply = self.request({"op": "make", "variant": variant.name, "p": float(p), "seed": int(seed)},
                             f"building the implementation (p={p})")
        return RemoteDriver(self, reply, p)

    def take_incidents(self) -> list:
        """What ended a worker since the last call to this (for the test it happened in)."""
        found, self.incidents = self.incidents, []
        return found

    def close(self) -> None:
        if self.worker is not None:
            self.worker.kill()
            self.worker = None


class RemoteDriver:
    """:class:`conformance.adapters.Driver`, its instance living in the worker."""

    def __init__(self, impl: RemoteImpl, reply: dict, p: float):
        self.impl, self.number, self.generation, self.p = impl, reply["id"], impl.generation, p
        self.accepts_mask = bool(reply["accepts_mask"])
        self.has_backward = bool(reply["has_backward"])
        self.has_eval = bool(reply["has_eval"])
        self.modified: list = []
        self.training = True
        weakref.finalize(self, _release, weakref.ref(impl), self.number, self.generation)

    def _call(self, method: str, what: str, *args, **kwargs):
        __tracebackhide__ = True
        reply = self.impl.request({"op": "call", "id": self.number, "method": method, "args": list(args),
                                   "kwargs": kwargs}, what, self.generation)
        self.modified += list(reply.get("modified") or ())
        return reply.get("value")

    def forward(self, x: np.ndarray, mask: Optional[np.ndarray] = None):
        __tracebackhide__ = True
        return self._call("forward", f"forward ({'training' if self.training else 'eval'}, p={self.p})", x, mask=mask)

    def backward(self, grad: np.ndarray):
        __tracebackhide__ = True
        return self._call("backward", f"backward (p={self.p})", grad)

    def train(self, mode: bool = True) -> "RemoteDriver":
        self.training = mode
        self._call("train", f"setting {'training' if mode else 'eval'} mode", bool(mode))
        return self

    def eval(self) -> "RemoteDriver":
        return self.train(False)


def _release(impl_ref, number: int, generation: int) -> None:
    impl = impl_ref()
    if impl is not None and impl.generation == generation:
        impl.free.append(number)
