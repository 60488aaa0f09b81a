"""Finite-difference gradient checking in float64, for any module with forward/backward.

The analytic gradients a module's ``backward`` produces are compared with central
differences (f(v + eps) - f(v - eps)) / (2 eps) of the scalar <g, module(x)>, for the input
and for every parameter, like ``torch.autograd.gradcheck`` does for autograd functions.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

from npdrop.module import Module
from npdrop.rng import RNGLike, as_source


def _central_differences(array: np.ndarray, evaluate: Callable[[], float], eps: float) -> np.ndarray:
    """d evaluate() / d array, perturbing ``array`` in place one element at a time.

    Each element is restored to its exact original value afterwards (not by subtracting
    eps, which could round).
    """
    grad = np.zeros(array.shape, dtype=np.float64)
    for index in np.ndindex(array.shape):
        original = array[index]
        try:
            array[index] = original + eps
            plus = evaluate()
            array[index] = original - eps
            minus = evaluate()
        finally:
            array[index] = original
        grad[index] = (plus - minus) / (2 * eps)
    return grad


def numerical_gradient(f: Callable[[np.ndarray], float], x, eps: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of the scalar function ``f`` at ``x`` (float64, x's shape).

    ``f`` receives a float64 working copy of ``x``; the caller's ``x`` is never touched.
    """
    work = np.array(x, dtype=np.float64, copy=True)
    return _central_differences(work, lambda: float(f(work.copy())), eps)


def _compare(caller: str, tensor: str, analytic, numeric: np.ndarray, atol: float, rtol: float) -> float:
    note = ""
    if analytic is None:
        analytic = np.zeros_like(numeric)  # no gradient reached it: fine only if numerics agree
        note = " (its grad was None after backward)"
    analytic = np.asarray(analytic, dtype=np.float64)
    if analytic.shape != numeric.shape:
        raise AssertionError(
            f"{caller}: analytic gradient of {tensor} has shape {analytic.shape}, expected {numeric.shape}"
        )
    diff = np.abs(analytic - numeric)
    excess = diff - (atol + rtol * np.abs(numeric))
    bad = ~(excess <= 0)  # NaN in either gradient counts as a failure
    if bad.any():
        worst = np.unravel_index(np.argmax(np.where(np.isnan(excess), np.inf, excess)), excess.shape)
        worst = tuple(int(i) for i in worst)
        raise AssertionError(
            f"{caller}: gradient of {tensor} disagrees with finite differences at index {worst}: "
            f"analytic {float(analytic[worst])!r}{note}, numeric {float(numeric[worst])!r} "
            f"(|diff| {diff[worst]:.3g} > atol {atol:g} + rtol {rtol:g} * |numeric|); "
            f"{int(bad.sum())} of {bad.size} elements out of tolerance"
        )
    return float(diff.max()) if diff.size else 0.0


def check_module_gradients(
    module: Module,
    x,
    *,
    forward_kwargs: Mapping[str, Any] | None = None,
    grad_output=None,
    rng: RNGLike = 0,
    eps: float = 1e-6,
    atol: float = 1e-7,
    rtol: float = 1e-6,
    name: str | None = None,
) -> dict[str, float]:
    """Check ``module.backward`` against central differences for the input and every parameter.

    Computes y = module(x, **forward_kwargs), draws an upstream gradient g of y's shape
    from ``rng`` (standard normal; or takes ``grad_output``), and compares
    ``module.backward(g)`` (input) and each ``param.grad`` with the numerical derivative
    of <g, module(x)>. Parameters must be float64 (call ``module.double()``); ``x`` is
    used as a float64 copy. Anything random in forward must be pinned through
    ``forward_kwargs`` (e.g. a dropout ``mask``) or eval mode.

    Returns the largest absolute difference per tensor ({"input": ..., "0.weight": ...}).
    Raises ``AssertionError`` naming the module, the tensor, the worst index and both values.
    Parameter values and gradients are left as they were found.
    """
    caller = name or type(module).__name__
    kwargs = dict(forward_kwargs or {})
    params = list(module.named_parameters())
    for pname, param in params:
        if param.dtype != np.float64:
            raise TypeError(f"{caller}: parameter {pname} is {param.dtype}; gradcheck needs float64 (module.double())")
    x64 = np.array(x, dtype=np.float64, copy=True)
    saved = [(param, param.grad, param.data.copy()) for _, param in params]
    try:
        for param, _, _ in saved:
            param.grad = None
        # Fresh copies each call: an in-place module must not corrupt the point we probe.
        y = np.asarray(module(x64.copy(), **kwargs))
        if grad_output is None:
            g = as_source(rng).normal(y.shape, np.float64)
        else:
            g = np.array(grad_output, dtype=np.float64)
            if g.shape != y.shape:
                raise ValueError(f"{caller}: grad_output has shape {g.shape}, the output has shape {y.shape}")
        analytic_input = module.backward(g.copy())
        analytic = {pname: None if p.grad is None else p.grad.copy() for pname, p in params}

        def objective(point: np.ndarray) -> float:
            return float(np.sum(g * np.asarray(module(point.copy(), **kwargs), dtype=np.float64)))

        report = {}
        numeric_input = numerical_gradient(objective, x64, eps)
        report["input"] = _compare(caller, "input", analytic_input, numeric_input, atol, rtol)
        for pname, param in params:
            numeric = _central_differences(param.data, lambda: objective(x64), eps)
            report[pname] = _compare(caller, f"parameter {pname}", analytic[pname], numeric, atol, rtol)
        return report
    finally:
        for param, grad, data in saved:
            param.grad = grad
            param.data[...] = data
