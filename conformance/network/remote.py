"""The learner's network in a process of its own, as the judge sees it: plain descriptions and arrays.

:class:`RemoteNetwork` has what :class:`.stepper.Check` uses of :class:`.drive.Network`
(``layers``, ``where``, ``describe()``, ``train_step``, ``eval_forward``, ``sgd``,
``model_l2``), but the model lives in a :class:`conformance.worker.Worker`, which imports,
builds and calls it (:mod:`.served_side`); the judge never imports the learner's module.
Its layers here are :class:`.kinds.Layer` descriptions without an object (label, class
name, kind, p-like attributes, the weight's shape and dtype); each step's tape arrives as
copies of the arrays recorded there. The global random streams cross with every request
both ways (:mod:`conformance.streams`), so the learner's ``np.random`` draws from the
stream the check seeds, as when both ran in one process.

Each call into the learner's code has ``--call-timeout`` seconds, kept here: past it the
worker's process group is killed, whatever it was doing. A worker that overruns, exits or
dies ends the run with :class:`Stopped`, naming the call; it is never a verdict.
"""
from __future__ import annotations

import os
import shlex
import sys
from typing import Optional

import numpy as np

from ..adapters.usercode import AdapterError
from ..streams import Streams
from ..worker import Gone, TimedOut, Worker, raised
from .kinds import Layer
from .record import Call, Tape


class Stopped(Exception):
    """The learner's process overran a call (``timed_out``) or ended during one: the run ends."""

    def __init__(self, message: str, what: str, timed_out: bool, loading: bool):
        super().__init__(message)
        self.what, self.timed_out, self.loading = what, timed_out, loading


def _layer(d: dict) -> Layer:
    extra = dict(d["extra"])
    if "penalties" in extra:
        extra["penalties"] = {(w, n): float(v) for w, n, v in extra["penalties"]}
    if d.get("weight") is not None:
        extra["weight"] = d["weight"]
    inner = None if d.get("inner") is None else _layer(d["inner"])
    return Layer(str(d["label"]), None, d["kind"], inner=inner, extra=extra)


class RemoteNetwork:
    """The network named by ``spec``, loaded and driven in a worker process."""

    def __init__(self, spec: str, loss_spec: Optional[str] = None, limit: Optional[float] = 60.0, prefix: str = ""):
        self.spec = spec
        self.limit = limit if limit and limit > 0 else None
        self.streams = Streams()
        self.recorder = self      # restore(): nothing of the learner's is wrapped in this process
        self.worker: Optional[Worker] = None
        self.loading = True
        path = list(sys.path)
        if os.getcwd() not in path:   # the learner's project, as ``python -m`` would see it
            path.insert(0, os.getcwd())
        try:
            # each call of a step has its own limit: the worker names them over the pipe
            self.worker = Worker(tuple(shlex.split(prefix or "")), on_board=False)
        except (Gone, OSError) as exc:
            raise Stopped(f"the network's process could not be started: {exc}", "starting its process",
                          False, True) from None
        reply = self._exchange({"action": "load", "spec": spec, "loss": loss_spec, "path": path,
                                "errstate": np.geterr()}, f"loading {spec} (import and building the model)")
        try:
            self.layers = [_layer(d) for d in reply["layers"]]
            self.where, self.kind, self._describe = str(reply["where"]), str(reply["kind"]), str(reply["describe"])
            l2 = reply.get("model_l2")
            self._l2 = None if l2 is None else (float(l2[0]), str(l2[1]))
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            self.close()
            raise Stopped(f"CRASHED: the network's process described its layers in a reply that is not one "
                          f"({type(exc).__name__}: {exc}); it was ended", "reading its reply", False, True) from None
        self.loading = False

    def _exchange(self, message: dict, what: str) -> dict:
        if self.worker is None:
            raise Stopped(f"{what}: not called: the network's process has ended", what, False, self.loading)
        message = dict(message, op="network", streams=self.streams.changed(), free=[], what=what)
        try:
            reply = self.worker.request(message, self.limit, what, per_call=True)
        except TimedOut:
            what = self.worker.stopped(what)
            self.close()
            raise Stopped(f"TIMED OUT: {what} did not return within {self.limit:g} s (--call-timeout); its process "
                          "was ended", what, True, self.loading) from None
        except Gone as gone:
            what = self.worker.stopped(what)
            self.close()
            raise Stopped(f"CRASHED: {what}: {gone}", what, False, self.loading) from None
        self.streams.adopt(reply.get("streams") or {})
        if "error" in reply:
            raise raised(reply["error"])
        if "adapter_error" in reply:
            raise AdapterError(str(reply["adapter_error"]))
        return reply

    def _tape(self, calls) -> Tape:
        """The calls as the check's :class:`.record.Call` s; a reply of another shape is no tape."""
        tape = Tape()
        try:
            for c in calls:
                arrays = [c[k] for k in ("x", "y", "g", "dx")] + [v for k in ("params", "state", "grads")
                                                                    for v in c[k].values()]
                if not all(a is None or isinstance(a, np.ndarray) for a in arrays) or c["x"] is None:
                    raise TypeError("a recorded value is not an array")
                tape.calls.append(Call(self.layers[int(c["layer"])], c["x"], c["y"], dict(c["params"]),
                                       dict(c["state"]), c["g"], c["dx"], bool(c["dx_from_state"]), dict(c["grads"]),
                                       None, int(c["backward_calls"])))
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            self.close()
            raise Stopped(f"CRASHED: the network's process sent a tape that is not one ({type(exc).__name__}: "
                          f"{exc}); it was ended", "reading its reply", False, False) from None
        return tape

    # -- what the check calls -------------------------------------------------------
    def describe(self) -> str:
        return self._describe

    def model_l2(self):
        return self._l2

    def train_step(self, X, y):
        """One training step in the learner's process; returns (loss value, tape)."""
        reply = self._exchange({"action": "train", "X": X, "y": y}, "the training step")
        value = reply.get("value")
        if not isinstance(value, float):
            self.close()
            raise Stopped(f"CRASHED: the network's process sent a loss value that is not one ({value!r:.80}); "
                          "it was ended", "reading its reply", False, False)
        return value, self._tape(reply.get("calls"))

    def eval_forward(self, X):
        reply = self._exchange({"action": "eval", "X": X}, "the evaluation forward")
        out = reply.get("output")
        return (out if isinstance(out, np.ndarray) else None), self._tape(reply.get("calls"))

    def sgd(self, lr: float) -> None:
        self._exchange({"action": "sgd", "lr": float(lr)}, "the SGD step W -= lr * dW")

    def restore(self) -> None:
        pass

    def close(self) -> None:
        """End the learner's process and everything it started, now."""
        if self.worker is not None:
            self.worker.kill()
            self.worker = None
