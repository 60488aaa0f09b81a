"""The one option that helps, when an error message says what is missing.

Some errors name their own fix: torch's channel dropout refuses a 1-D input ("Feature
dropout requires at least 2 dimensions"), which means the object is a channel dropout
compared with the elementwise ``Dropout`` (``--reference Dropout2d`` is missing); Keras
without ``KERAS_BACKEND`` loads TensorFlow, its default backend. The hint is added to the
message, in its first line (the line the screen shows), only where the message matches.
"""
from __future__ import annotations

import traceback

#: the torch module the run compares with (``--reference``), as :func:`.load_impl` resolved it
reference = "Dropout"

#: (words in the error, the references that fix it): torch's own messages for a rank it refuses
_RANKS = (("Feature dropout requires at least 2 dimensions", ("Dropout2d", "Dropout3d", "FeatureAlphaDropout")),
          ("dropout1d: Expected 2D or 3D input", ("Dropout1d",)))


def for_error(text: str) -> str:
    """`` (hint: ...)`` for an exception's message ``text`` that says the reference is the wrong
    torch module; ``""`` otherwise (or when the reference is already one of those it names)."""
    for words, fixes in _RANKS:
        if words in text and reference not in fixes:
            others = f" or {'/'.join(fixes[1:])}" if len(fixes) > 1 else ""
            return f" (hint: channel dropout? --reference {fixes[0]}{others}, not {reference})"
    return ""


def for_loading(spec: str, exc: BaseException) -> str:
    """A line for an import that failed on Keras' default backend, TensorFlow, where it is not installed."""
    name = getattr(exc, "name", None) or ""
    if not isinstance(exc, ImportError) or name.split(".")[0] != "tensorflow":
        return ""
    if not any("/keras/" in frame.filename.replace("\\", "/") for frame in traceback.extract_tb(exc.__traceback__)):
        return ""
    return (f"\n  hint: Keras loads its default backend, TensorFlow, which is not installed; choose an installed "
            f"one: KERAS_BACKEND=jax npdrop-conform {spec} (or KERAS_BACKEND=torch, or numpy)")
