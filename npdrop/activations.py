"""Elementwise activations ReLU, Tanh, Sigmoid and GELU, each with its backward, plus ``erf``.

Every activation keeps the input's float dtype and shape, saves what its backward needs
in forward, and follows torch's formulas (including ReLU's zero gradient at 0).
"""
from __future__ import annotations

import math

import numpy as np

from npdrop._checks import check_floating
from npdrop._fma import two_prod
from npdrop.module import Module

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_ONE_OVER_SQRT_PI = 1.0 / math.sqrt(math.pi)
_SQRT1_2 = math.sqrt(0.5)
_SERIES_LIMIT = 1.5  # below: Kummer series; at and above: continued fraction for erfc
_CF_TERMS = 100  # enough for full double precision from x = 1.5 upwards


def _exp_neg_square(x: np.ndarray) -> np.ndarray:
    """exp(-x*x) without the x**2 * eps relative error of rounding x*x first."""
    square, rounding_error = two_prod(x, x)  # square + rounding_error == x*x exactly
    return np.exp(-square) * (1.0 - rounding_error)  # exp(-e) ~ 1 - e


def _erf_series(a: np.ndarray) -> np.ndarray:
    """erf(a) for 0 <= a < 1.5: 2/sqrt(pi) exp(-a^2) sum_n (2a^2)^n a / (1*3*...*(2n+1)).

    Every term is positive (A&S 7.1.6), so there is no cancellation, unlike Maclaurin.
    """
    two_a2 = 2.0 * a * a
    term = a.copy()
    total = a.copy()
    for n in range(1, 200):
        term *= two_a2 / (2 * n + 1)
        total += term
        if not np.any(term > 1e-17 * total):
            break
    return _TWO_OVER_SQRT_PI * _exp_neg_square(a) * total


def _erfc_continued_fraction(a: np.ndarray) -> np.ndarray:
    """erfc(a) for a >= 1.5: exp(-a^2)/sqrt(pi) / (a + (1/2)/(a + 1/(a + (3/2)/(a + ...)))).

    Laplace's continued fraction (A&S 7.1.14), evaluated bottom-up with a fixed depth.
    """
    denominator = a.copy()
    for k in range(_CF_TERMS, 0, -1):
        denominator = a + (0.5 * k) / denominator
    return _exp_neg_square(a) * _ONE_OVER_SQRT_PI / denominator


def erf(x) -> np.ndarray:
    """The error function elementwise, like ``torch.erf``; same float dtype as ``x``.

    Computed in float64 (within a few ulp of ``math.erf``) and rounded to ``x``'s dtype.
    erf(+-inf) = +-1, erf(nan) = nan.
    """
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise TypeError(f"erf: expected a floating array, got dtype {x.dtype}")
    x64 = x.astype(np.float64)
    a = np.abs(x64)
    out = np.full(x64.shape, np.nan)
    small = a < _SERIES_LIMIT
    out[small] = _erf_series(a[small])
    # erfc(6) < 2**-54, so erf rounds to exactly 1 beyond; capping keeps the fraction tame.
    large = a >= _SERIES_LIMIT
    out[large] = 1.0 - _erfc_continued_fraction(np.minimum(a[large], 6.0))
    return (np.copysign(out, x64)).astype(x.dtype, copy=False)


class _Elementwise(Module):
    """Shared plumbing: save one array in forward, check the incoming grad in backward."""

    def __init__(self) -> None:
        super().__init__()
        self._saved: np.ndarray | None = None

    def _grad_for(self, grad) -> tuple[np.ndarray, np.ndarray]:
        saved = self._saved
        if saved is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        grad = np.asarray(grad)
        if grad.shape != saved.shape:
            raise ValueError(
                f"{type(self).__name__}.backward: grad must have the output's shape {saved.shape}, got {grad.shape}"
            )
        return grad.astype(saved.dtype, copy=False), saved


class ReLU(_Elementwise):
    """max(x, 0), like ``torch.nn.ReLU``; gradient 1 where x > 0, else 0 (0 at x == 0)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = check_floating(x, "ReLU")
        y = np.maximum(x, 0)
        self._saved = y
        return y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        """grad * (y > 0), torch's ``threshold_backward`` on the output."""
        grad, y = self._grad_for(grad)
        return np.where(y > 0, grad, 0).astype(y.dtype, copy=False)


class Tanh(_Elementwise):
    """tanh(x), like ``torch.nn.Tanh``; derivative 1 - tanh(x)^2 from the saved output."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = check_floating(x, "Tanh")
        y = np.tanh(x)
        self._saved = y
        return y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        grad, y = self._grad_for(grad)
        return grad * (1 - y * y)


class Sigmoid(_Elementwise):
    """1 / (1 + exp(-x)), like ``torch.nn.Sigmoid``; derivative y (1 - y).

    Evaluated through exp(-|x|) <= 1, so large |x| neither overflows nor warns.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = check_floating(x, "Sigmoid")
        z = np.exp(-np.abs(x))
        y = np.where(x >= 0, 1 / (1 + z), z / (1 + z)).astype(x.dtype, copy=False)
        self._saved = y
        return y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        grad, y = self._grad_for(grad)
        return grad * (1 - y) * y


class GELU(_Elementwise):
    """x * Phi(x), like ``torch.nn.GELU(approximate=...)``.

    ``approximate="none"``: 0.5 x (1 + erf(x / sqrt(2))), derivative Phi(x) + x phi(x).
    ``approximate="tanh"``: 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3),
    derivative 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 x^2).
    """

    _KAPPA = 0.044715
    _BETA = math.sqrt(2.0) * _TWO_OVER_SQRT_PI * 0.5  # sqrt(2/pi), as torch spells it

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = check_floating(x, "GELU")
        self._saved = x
        if self.approximate == "tanh":
            inner = self._BETA * (x + self._KAPPA * x * x * x)
            return 0.5 * x * (1 + np.tanh(inner))
        return x * 0.5 * (1 + erf(x * _SQRT1_2))

    def backward(self, grad: np.ndarray) -> np.ndarray:
        grad, x = self._grad_for(grad)
        if self.approximate == "tanh":
            tanh_inner = np.tanh(self._BETA * (x + self._KAPPA * x * x * x))
            left = 0.5 * x
            right = 1 + tanh_inner
            d_right = left * (1 - tanh_inner * tanh_inner) * self._BETA * (1 + 3 * self._KAPPA * x * x)
            return grad * (0.5 * right + d_right)
        cdf = 0.5 * (1 + erf(x * _SQRT1_2))
        pdf = np.exp(-0.5 * x * x) * (_ONE_OVER_SQRT_PI * _SQRT1_2)
        return grad * (cdf + x * pdf)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"
