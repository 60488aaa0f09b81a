"""Exceptions that both torch code and NumPy code catch.

Torch raises ``RuntimeError`` where NumPy convention (and npdrop's documentation) says
``ValueError`` or ``TypeError``: a wrong rank for a channel variant, a gradient of the wrong
shape, a NaN ``p`` at forward time, an integer or bool input. npdrop raises classes derived
from both, so ``except ValueError`` and ``except RuntimeError`` each catch them, with the
messages unchanged. A complex input makes torch raise ``NotImplementedError`` (itself a
``RuntimeError``), and npdrop's error for it is one too.
"""
from __future__ import annotations

__all__ = ["DropoutValueError", "DropoutTypeError", "ComplexInputError"]


class DropoutValueError(ValueError, RuntimeError):
    """A bad value or shape that torch rejects with ``RuntimeError``; also a ``ValueError``."""


class DropoutTypeError(TypeError, RuntimeError):
    """A dtype torch rejects with ``RuntimeError`` (integer, bool); also a ``TypeError``."""


class ComplexInputError(DropoutTypeError, NotImplementedError):
    """A complex input: torch raises ``NotImplementedError`` (no complex Bernoulli kernel)."""
