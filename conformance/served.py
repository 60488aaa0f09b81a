"""The implementation's own process: ``python -m npdrop_conform.served`` (``conformance.served``
in a clone), started by :mod:`conformance.worker`.

It imports the implementation, builds its instances (:class:`conformance.adapters.Driver`)
and calls them, one request at a time, as the judge asks over its stdin and stdout
(:mod:`conformance.wire`); each array library's conversion and autodiff run here. Nothing
it sends is a verdict: results are arrays for the judge to compare, and an exception (any
``BaseException``, pytest's ``Skipped`` included) is a description of what was raised.

The implementation's prints go to stderr (fd 1 is moved there before it is imported), so
they cannot reach the judge as a message. The global random streams the implementation
draws from (numpy's, torch's, Python's) travel with every call both ways, so they behave
as one stream shared with the judge, as when everything ran in one process.
"""
from __future__ import annotations

import os
import struct
import sys
from contextlib import contextmanager

import numpy as np

from . import board, streams, wire
from .adapters.usercode import UserCodeError, load_refusal, where
from .guard import Guard, install
from .variants import VARIANTS


def described(exc: BaseException, what: str) -> dict:
    """What the judge is told of an exception: never the exception itself."""
    if isinstance(exc, UserCodeError):
        cause = exc.__cause__
        own = None
        if isinstance(cause, Exception):
            own = {"type": type(cause).__name__, "builtin": _builtin(cause), "message": str(cause)[:2000]}
        return {"kind": "user", "message": str(exc)[:20000], "cause": own}
    text = f"{type(exc).__name__}: {str(exc)[:2000]}\n  at {where(exc)}"
    if isinstance(exc, Exception):
        return {"kind": "error", "type": type(exc).__name__, "builtin": _builtin(exc), "message": text}
    return {"kind": "base", "message": f"{what} raised {text}\n  (a {type(exc).__name__} is not an exception "
                                       "the implementation may end a check with: this call failed)"}


def _builtin(exc: BaseException) -> str:
    """The nearest built-in class of ``exc`` (a user's ``class Bad(ValueError)`` is a ValueError)."""
    return next(k.__name__ for k in type(exc).__mro__ if k.__module__ == "builtins")


#: array libraries whose first import does not count against the call limit: with the
#: implementation in the judge's process, torch was imported already and cost it nothing
LIBRARIES = frozenset({"torch", "jax", "jaxlib", "flax", "equinox", "haiku", "optax", "tensorflow", "keras",
                       "ml_dtypes", "scipy", "tinygrad", "mlx", "paddle"})


class LibraryImports:
    """A ``sys.meta_path`` finder that tells the judge when the first import of one of
    :data:`LIBRARIES` starts and ends (its loader, wrapped, runs the module as usual)."""

    def __init__(self, announce):
        self.announce = announce

    def find_spec(self, name, path=None, target=None):
        if name not in LIBRARIES:
            return None
        from importlib.machinery import PathFinder

        spec = PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _Announced(spec.loader, self.announce, name)
        return spec


class _Announced:
    """A loader that says when it starts and ends running its module."""

    def __init__(self, loader, announce, name):
        self.loader, self.announce, self.name = loader, announce, name

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.announce({"library": self.name})
        try:
            self.loader.exec_module(module)
        finally:
            self.announce({"library": None})

    def __getattr__(self, name):
        return getattr(self.loader, name)


class Announcing(Guard):
    """The guard of every call into the implementation, telling the judge which call it is
    making before it makes it (the judge names a call that never returns)."""

    def __init__(self, announce):
        super().__init__(None, lambda what, limit: None)
        self.announce = announce

    @contextmanager
    def calling(self, what: str, *, capture: bool = True):
        if self._depth == 0:
            self.announce(what)
        with super().calling(what, capture=capture):
            yield


class Servant:
    """The loaded implementation and its live instances, by number."""

    def __init__(self, announce=lambda what: None):
        self.impl = None
        self.drivers: dict = {}
        self.count = 0
        self.guard = Announcing(announce)
        install(self.guard)
        self.streams = streams.Streams()
        self.dtype = None

    def handle(self, request: dict) -> dict:
        for number in request.get("free", ()):
            self.drivers.pop(number, None)
        self.streams.adopt(request.get("streams") or {})
        try:
            return getattr(self, "_" + request["op"])(request)
        finally:
            torch = sys.modules.get("torch")
            if self.dtype is not None and torch is not None:
                torch.set_default_dtype(self.dtype)

    def _load(self, request: dict) -> dict:
        from .adapters import load_impl

        sys.path[:] = request["path"]
        self.guard.errstate = request["errstate"]
        options = request["options"]
        saved = streams.Streams().snapshot()
        errstate = np.geterr()
        try:
            with self.guard.calling(f"loading {request['spec']} (import and probing calls)"):
                impl = load_impl(request["spec"], request["reference"], **options)
        except BaseException as exc:  # noqa: BLE001 - sys.exit, Skipped... at import: not loaded
            return {"refused": load_refusal(request["spec"], exc)}
        finally:
            saved.restore()
            np.seterr(**errstate)
        torch = sys.modules.get("torch")
        self.dtype = torch.float32 if torch is not None else None   # the judge's: its module's choice is undone
        self.impl = impl
        return {"impl": {"spec": impl.spec, "exact": impl.exact, "form": impl.form.name,
                         "variants": [v.name for v in impl.variants], "keeps_p": impl.keeps_p,
                         "description": impl.describe()}}

    def _make(self, request: dict) -> dict:
        driver = self.impl.make(VARIANTS[request["variant"]], request["p"], request["seed"])
        self.count += 1
        self.drivers[self.count] = driver
        return {"id": self.count, "accepts_mask": driver.accepts_mask, "has_backward": driver.has_backward,
                "has_eval": driver.has_eval}

    def _call(self, request: dict) -> dict:
        driver = self.drivers[request["id"]]
        before = len(driver.modified)
        value = getattr(driver, request["method"])(*request["args"], **request["kwargs"])
        return {"value": value if request["method"] in ("forward", "backward") else None,
                "modified": list(driver.modified[before:])}

    def _network(self, request: dict) -> dict:
        """The network check's requests: :mod:`conformance.network.served_side`."""
        from .network.served_side import handle

        return handle(self, request)


def _read(stream, n: int) -> bytearray:
    out = bytearray(n)
    view, got = memoryview(out), 0
    while got < n:
        count = stream.readinto(view[got:])
        if not count:
            raise EOFError
        got += count
    return out


def _own_channel():
    """The protocol's pipes, moved off fds 0 and 1: the implementation reads /dev/null and
    its fd-level writes to stdout land on stderr."""
    requests, replies = os.fdopen(os.dup(0), "rb", buffering=0), os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.dup2(2, 1)
    sys.stdin = open(os.devnull)
    sys.stdout = sys.stderr
    return requests, replies


def _die_with_parent() -> None:
    """Ask Linux to end this process when its parent ends (even with the GIL held by C code)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, 9)   # PR_SET_PDEATHSIG, SIGKILL
    except Exception:  # noqa: BLE001 - elsewhere the judge kills the process group
        pass


def main() -> None:
    requests, replies = _own_channel()
    _die_with_parent()
    def send(message) -> None:
        for piece in wire.pieces(message):
            view = memoryview(piece).cast("B")
            while len(view):
                view = view[replies.write(view):]

    sys.meta_path.insert(0, LibraryImports(send))
    named = board.writer(sys.argv[sys.argv.index("--board") + 1] if "--board" in sys.argv[:-1] else None)
    servant = Servant(named or (lambda what: send({"calling": what})))
    send({"ready": os.getpid()})
    while True:
        try:
            (size,) = struct.unpack("<Q", _read(requests, 8))
            request = wire.decode(_read(requests, size))
        except EOFError:
            os._exit(0)
        try:
            reply = servant.handle(request)
        except BaseException as exc:  # noqa: BLE001 - whatever it is, it is described, not obeyed
            reply = {"error": described(exc, request.get("what", "the call"))}
        reply["printed"] = servant.guard.take_output()
        reply["streams"] = servant.streams.changed()
        try:
            frame = wire.pieces(reply)
        except wire.WireError as exc:
            frame = wire.pieces({"error": {"kind": "harness", "message": f"{request.get('what')}: {exc}"},
                                 "printed": "", "streams": servant.streams.changed()})
        for piece in frame:
            view = memoryview(piece).cast("B")
            while len(view):
                view = view[replies.write(view):]


if __name__ == "__main__":
    main()
