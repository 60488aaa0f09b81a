"""An incomplete run is said first: its verdict never reads as a pass.

A run is incomplete when a call timed out, the implementation's process (or a pytest-xdist
worker) ended in a test, or selected tests did not run (``-x``, an interrupt): what was
checked may all have passed, but what was not checked is unknown. The report's verdict
line then starts with ``INCOMPLETE:`` and says why, and the exit status is not 0.
"""
from __future__ import annotations

import functools
from typing import Optional


def why(meta: dict) -> Optional[str]:
    """Why the run recorded in ``meta`` is incomplete (None: it is complete)."""
    if meta.get("complete", True) and not meta.get("crashed") and not meta.get("timed_out"):
        return None
    parts = []
    if meta.get("timed_out"):
        parts.append("a call timed out")
    if meta.get("crashed"):
        n = len(meta["crashed"])
        parts.append(f"{n} test{'s' if n != 1 else ''} crashed")
    tests = meta.get("tests") or {}
    if tests.get("not_run"):
        parts.append(f"{tests['not_run']} of {tests.get('selected', '?')} selected tests did not run")
    return ", ".join(parts) or "the run was stopped"


def said_first(verdict):
    """Decorates :meth:`conformance.report.Matrix.verdict`: ``INCOMPLETE: why; so far: ...``."""
    @functools.wraps(verdict)
    def first(self) -> str:
        line = verdict(self)
        reason = why(self.meta)
        return f"INCOMPLETE: {reason}; what ran: {line}" if reason else line
    return first
