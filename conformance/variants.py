"""The six torch dropout variants and the facts the suite needs about each, in one table.

Written from torch's documentation and ``torch/nn/functional.py``, not from npdrop
(``test_harness.py`` checks the noise shapes against what torch actually draws). Imports
neither torch nor npdrop: the report orders its columns by this table without them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True, eq=False)
class Variant:
    """One ``torch.nn`` dropout module as the suite sees it.

    - ``channel``: one keep/drop decision per (sample, channel), shared over the rest of the
      input (``(N, C, 1, ...)``); otherwise one per element.
    - ``alpha``: dropped units take alpha dropout's saturation value, not 0.
    - ``rank``: the rank of a batched input (``None``: element-wise, any rank).
    - ``unsqueezes``: any other rank is taken as unbatched ``(C, ...)``: torch adds a batch
      axis, so the mask is ``(C, 1, ...)``.
    - ``min_rank``, ``max_rank``: the ranks a training forward takes (``None``: no limit);
      torch raises outside them.
    - ``cases``: the matrix's inputs, case -> (shape, layout in memory).
    """

    name: str
    channel: bool
    alpha: bool
    rank: Optional[int]
    unsqueezes: bool
    min_rank: int
    max_rank: Optional[int]
    cases: dict

    @property
    def batched(self) -> tuple:
        """The shape of the "batched" case, the one most tests use."""
        return self.cases["batched"][0]


_ELEMENTWISE_CASES = {
    "scalar": ((), "plain"),
    "vector": ((64,), "plain"),
    "batched": ((6, 7, 5), "plain"),
    "transposed": ((6, 7, 5), "transposed"),
    "sliced": ((6, 7, 5), "sliced"),
    "empty": ((0, 5), "plain"),
}

#: name -> facts, in torch's documentation order (the report's column order).
VARIANTS = {v.name: v for v in (
    Variant("Dropout", channel=False, alpha=False, rank=None, unsqueezes=False, min_rank=0, max_rank=None,
            cases=_ELEMENTWISE_CASES),
    Variant("Dropout1d", channel=True, alpha=False, rank=3, unsqueezes=True, min_rank=2, max_rank=3, cases={
        "batched": ((4, 6, 9), "plain"), "unbatched": ((6, 9), "plain"),
        "transposed": ((4, 6, 9), "transposed"), "sliced": ((4, 6, 9), "sliced"),
        "empty": ((0, 6, 9), "plain")}),
    Variant("Dropout2d", channel=True, alpha=False, rank=4, unsqueezes=False, min_rank=2, max_rank=None, cases={
        "batched": ((3, 5, 4, 4), "plain"), "NCL": ((4, 6, 9), "plain"),
        "transposed": ((3, 5, 4, 4), "transposed"), "sliced": ((3, 5, 4, 4), "sliced"),
        "empty": ((3, 0, 4, 4), "plain")}),
    Variant("Dropout3d", channel=True, alpha=False, rank=5, unsqueezes=True, min_rank=1, max_rank=None, cases={
        "batched": ((2, 4, 3, 3, 2), "plain"), "unbatched": ((4, 3, 3, 2), "plain"),
        "transposed": ((2, 4, 3, 3, 2), "transposed"), "sliced": ((2, 4, 3, 3, 2), "sliced"),
        "empty": ((0, 4, 3, 3, 2), "plain")}),
    Variant("AlphaDropout", channel=False, alpha=True, rank=None, unsqueezes=False, min_rank=0, max_rank=None,
            cases=_ELEMENTWISE_CASES),
    Variant("FeatureAlphaDropout", channel=True, alpha=True, rank=3, unsqueezes=False, min_rank=2,
            max_rank=None, cases={
        "batched": ((4, 6, 9), "plain"), "4d": ((3, 5, 4, 4), "plain"),
        "transposed": ((4, 6, 9), "transposed"), "sliced": ((4, 6, 9), "sliced"),
        "empty": ((0, 6, 9), "plain")}),
)}


def noise_shape(variant: str, shape: tuple) -> tuple:
    """Shape of the keep-mask ``variant`` draws for an input of ``shape`` (same rank as the input)."""
    v, shape = VARIANTS[variant], tuple(shape)
    if not v.channel:
        return shape
    if v.unsqueezes and len(shape) != v.rank:
        return shape[:1] + (1,) * (len(shape) - 1)
    return shape[:2] + (1,) * (len(shape) - 2)


def broadcast_axes(variant: str, shape: tuple) -> tuple:
    """Axes along which one draw is shared (size 1 in the noise, larger in the input)."""
    ns = noise_shape(variant, shape)
    return tuple(i for i, (n, s) in enumerate(zip(shape, ns)) if s == 1 and n != 1)


def cell_shape(variant: str, samples: int, channels: int, inner: int = 1) -> tuple:
    """An input shape with ``samples x channels`` noise cells: ``inner`` elements per cell for
    channel variants, one (``inner`` ignored) for element-wise ones."""
    v = VARIANTS[variant]
    if not v.channel:
        return (samples, channels)
    return (samples, channels, inner) + (1,) * (v.rank - 3)
