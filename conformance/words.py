"""The user's words for p in messages, test ids and reports.

The harness thinks in torch's p, the drop probability. An implementation whose p is the
keep probability (``--p-means keep``, or a parameter called ``keep_prob``) is spoken to in
its own terms, with torch's p beside it: ``keep_p=0.9 (torch p=0.1)`` in messages,
``keep_p0.9-torch_p0.1`` in test ids. In torch's meaning, the default, nothing changes:
``p=0.1`` and ``p0.1``, so node ids stay stable.

:func:`speak` is set once per run, from the implementation's resolved meaning, before any
test is collected.
"""
from __future__ import annotations

_STATE = {"keep": False}


def speak(keep: bool) -> None:
    """Whether this run's implementation reads p as the keep probability."""
    _STATE["keep"] = bool(keep)


def keeps() -> bool:
    return _STATE["keep"]


def _num(x: float) -> str:
    """A probability as written: 1 - 0.8 is 0.2, not 0.19999999999999996."""
    return repr(round(float(x), 12))


def keep_of(p: float) -> str:
    return _num(1.0 - p)


def p_text(p: float) -> str:
    """``p=0.1``, or ``keep_p=0.9 (torch p=0.1)`` when the implementation's p means keep."""
    return f"keep_p={keep_of(p)} (torch p={p})" if keeps() else f"p={p}"


def p_id(p: float) -> str:
    """A test id's p: ``p0.1``, or ``keep_p0.9-torch_p0.1`` when the implementation's p means keep."""
    return f"keep_p{keep_of(p)}-torch_p{p}" if keeps() else f"p{p}"


def at_p(p: float) -> str:
    """``at p=0.1`` in evidence sentences (the user's p first)."""
    return f"at {p_text(p)}"
