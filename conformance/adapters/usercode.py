"""Calling the implementation under test: its exceptions become test failures that point at it.

Two kinds of error leave this package:

- :class:`AdapterError` (a ``ValueError``): the harness cannot drive the object at all. It
  is raised while the implementation is loaded, before any test runs, and ``conftest.py``
  turns it into one usage error that says what was found and which option would help.
- :class:`UserCodeError` (an ``AssertionError``): the implementation raised while a test
  called it. That test fails, and the message names the user's file and line.
"""
from __future__ import annotations

import os
import traceback

import numpy as np

from ..guard import user_call
from . import hints


class AdapterError(ValueError):
    """The object cannot be driven as a dropout (found, and the option that would fix it)."""


class NotThisConvention(Exception):
    """A convention's closer look (a probing call) shows the object is not of that convention
    after all: detection moves on to the next convention in the registry."""


class UserCodeError(AssertionError):
    """The implementation under test raised during a call."""


_NUMPY = os.path.dirname(np.__file__)
_HERE = os.path.dirname(os.path.abspath(__file__))


def where(exc: BaseException) -> str:
    """``file:line (in function)`` of the innermost frame of ``exc`` outside numpy and this package."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not f.filename.startswith((_NUMPY, _HERE))]
    if not frames:
        return "location unknown"
    frame = frames[-1]
    path = frame.filename
    if path.startswith(os.getcwd() + os.sep):  # the user's own project: a short, portable path
        path = os.path.relpath(path)
    return f"{path}:{frame.lineno} (in {frame.name})"


def where_loading_failed(exc: BaseException) -> str:
    """``file:line`` in the user's code of an exception raised while importing or probing it."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{exc.filename}:{exc.lineno}"
    skip = (os.path.dirname(_HERE), _NUMPY, os.path.dirname(os.__file__), "<frozen")
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith(skip)]
    return f"{frames[-1].filename}:{frames[-1].lineno} (in {frames[-1].name})" if frames else ""


def load_refusal(spec: str, exc: BaseException) -> str:
    """The usage error for an implementation that could not be loaded: what it raised, where."""
    if isinstance(exc, (ImportError, AttributeError, ValueError)):
        at = "" if isinstance(exc, ValueError) else where_loading_failed(exc)
        return (f"conformance: cannot load the implementation: {exc}" + (f"\n  at {at}" if at else "")
                + hints.for_loading(spec, exc))
    what = "exit" if isinstance(exc, SystemExit) else type(exc).__name__
    return (f"conformance: loading the implementation {spec} raised {what}: {exc}\n"
            f"  at {where_loading_failed(exc) or 'location unknown'}")


def call(what: str, function, *args, **kwargs):
    """``function(*args, **kwargs)``; an exception it raises becomes a :class:`UserCodeError`
    naming ``what`` was called and where in the user's code it failed."""
    __tracebackhide__ = True  # pytest shows the user's frames and the test's, not these
    try:
        with user_call(what):   # the time limit, the user's np.seterr state, output capped
            return function(*args, **kwargs)
    except Exception as exc:
        text = str(exc)   # once: a message is the user's code too
        raise UserCodeError(f"{what} raised {type(exc).__name__}: {text}{hints.for_error(text)}\n  at {where(exc)}") \
            from exc
