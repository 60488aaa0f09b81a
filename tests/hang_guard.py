"""Time limits in the tests are hang guards, never checks of speed: each is set far above
the time its step takes on a quiet 2-core machine (10 to 100 times), so that only a hang
trips it, and ``NPDROP_TEST_HANG_GUARD`` scales them all: ``4`` for a machine four times
slower still, ``0`` for none at all.
"""
from __future__ import annotations

import os
from typing import Optional

#: the environment variable that scales every hang guard (a factor; 0: no limit)
VARIABLE = "NPDROP_TEST_HANG_GUARD"


def limit(seconds: float) -> Optional[float]:
    """``seconds`` times the factor; ``None`` (no limit) when the factor is 0."""
    text = os.environ.get(VARIABLE, "").strip() or "1"
    try:
        factor = float(text)
    except ValueError:
        raise ValueError(f"{VARIABLE} must be a number (a factor; 0: no limit), got {text!r}") from None
    return None if factor <= 0 else seconds * factor
