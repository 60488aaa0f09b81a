"""What both fuzzers draw: odd arrays and p (``conformance/test_fuzz_torch.py`` against torch,
``tests/test_fuzz.py`` npdrop alone).

Strategies only; the settings they run under are :mod:`conformance.hypothesis_profiles`.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from hypothesis import strategies as st

#: p at the ends and a hair from them, where a scale 1/(1-p) or a threshold goes wrong; 1e-20
#: is so small that 1 - p rounds to 1.0: torch keeps every unit for certain, so code that
#: drops with probability 1 - p (p taken as the keep probability) is caught at every draw
EDGE_PS = (0.0, 1e-20, 1e-10, 0.5, 1 - 1e-10, 1.0)

#: p anywhere in [0, 1], the edges drawn often
PROBABILITIES = st.one_of(st.sampled_from(EDGE_PS), st.floats(0.0, 1.0))


@st.composite
def arrays(draw, ranks, dtypes, fill: Callable, *, first_at_least: int = 0) -> np.ndarray:
    """A view of an array of one of ``ranks`` and ``dtypes``: dimensions of 0-4 (the first
    ``first_at_least`` more), every other element along each axis, forwards or reversed,
    and from rank 2 possibly transposed. ``fill(shape, dtype, rng)`` makes the values."""
    rank = draw(st.sampled_from(ranks))
    shape = draw(st.lists(st.integers(0, 4), min_size=rank, max_size=rank))
    if rank:
        shape[0] += first_at_least
    dtype = draw(st.sampled_from(dtypes))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    base = fill(tuple(2 * n + 1 for n in shape), dtype, rng)
    view = base[tuple(slice(None, None, draw(st.sampled_from([2, -2]))) for _ in shape)]
    if rank > 1 and draw(st.booleans()):
        view = view.transpose(draw(st.permutations(range(rank))))
    return np.asarray(view)  # indexing a 0-d array with () gives a numpy scalar
