"""Memory layout as torch chooses it: the stride order of a dropout's output, noise and gradient.

Torch's dropout output is ``x * noise``, with ``noise = empty_like(x)``; its input gradient is
``grad * noise``. Both new tensors get their strides from one rule, TensorIterator's
``reorder_dimensions`` (``aten/src/ATen/TensorIterator.cpp``), which ``empty_like``'s
``infer_dense_strides`` (``aten/src/ATen/ExpandUtils.cpp``) shares for a single operand:

- start from C order and insertion-sort the axes from innermost to outermost by stride;
- a pair of axes is ordered by the first operand whose strides for them are both nonzero and
  differ; equal strides put the larger axis outside; a zero (broadcast) stride says nothing;
- the result is dense in that order (a sliced input's gaps are closed, its order kept).

So a channels_last, channels_last_3d or permuted input gives an output in the same order, a
sliced one a dense output in its stride order: NumPy's ``order='K'`` convention. A C-ordered
operand keeps C order, the fast path: npdrop's forward and backward then allocate with
``np.empty`` as before and never call into this module.
NumPy's negative strides, which torch cannot express, are ordered by their magnitude.

``bernoulli_`` fills its noise tensor in memory order, so :class:`npdrop.TorchCPUGenerator`'s
masks are drawn in :func:`stride_order` of the input (see :func:`npdrop.functional.forward`).
"""
from __future__ import annotations

import numpy as np


def stride_order(shape: tuple, *strides: tuple) -> tuple[int, ...]:
    """The axes of a result computed from operands with ``strides``, outermost first.

    Operands are consulted in turn for each pair of axes; C order wherever none decides.
    """
    perm = list(range(len(shape)))[::-1]  # innermost first, as TensorIterator holds it

    def after(a: int, b: int) -> int:
        """1 if axis ``a`` lies outside axis ``b``, -1 if inside, 0 when no operand says."""
        for st in strides:
            sa, sb = abs(st[a]), abs(st[b])
            if sa == 0 or sb == 0:
                continue
            if sa != sb:
                return 1 if sa > sb else -1
            if shape[a] > shape[b]:
                return 1
        return 0

    for i in range(1, len(perm)):
        moving = i
        for j in range(i - 1, -1, -1):
            cmp = after(perm[j], perm[moving])
            if cmp > 0:
                perm[j], perm[moving] = perm[moving], perm[j]
                moving = j
            elif cmp < 0:
                break
    return tuple(perm[::-1])


def dense_strides(shape: tuple, order: tuple[int, ...]) -> tuple[int, ...]:
    """Element strides of a dense array of ``shape`` laid out in ``order`` (outermost first)."""
    strides, step = [0] * len(shape), 1
    for axis in reversed(order):
        strides[axis] = step
        step *= max(shape[axis], 1)
    return tuple(strides)


def empty_in_order(shape: tuple, dtype, order: tuple[int, ...]) -> np.ndarray:
    """An uninitialised dense array of ``shape`` whose axes lie in memory in ``order``."""
    return np.empty(tuple(shape[axis] for axis in order), dtype=dtype).transpose(np.argsort(order))


def empty_like(a: np.ndarray, *others: tuple) -> np.ndarray:
    """A new array for ``a op other``: ``a``'s shape and dtype, torch's layout for it.

    ``others`` are further operands' strides (in any unit; an empty tuple, a 0-d operand,
    says nothing), consulted where ``a``'s own strides leave the order open. A C-contiguous
    ``a`` gets a plain C-ordered array.
    """
    if a.flags.c_contiguous:
        return np.empty(a.shape, dtype=a.dtype)
    return empty_in_order(a.shape, a.dtype, stride_order(a.shape, a.strides, *(o for o in others if o)))


def memory_order(a: np.ndarray) -> tuple[int, ...] | None:
    """The order torch fills a new tensor shaped like ``a`` in; ``None`` for C order."""
    if a.ndim < 2 or a.flags.c_contiguous:
        return None
    order = stride_order(a.shape, a.strides)
    return None if order == tuple(range(a.ndim)) else order
