"""Each dropout variant as data: which shape its noise has, and which affine rule it follows.

Torch's rank rules are reproduced here, with torch's wording: ``Dropout1d`` rejects any rank
but 2 or 3 (torch raises ``RuntimeError``; npdrop's
:class:`~npdrop.errors.DropoutValueError` is both a ``ValueError`` and a ``RuntimeError``); ``Dropout2d`` and
``Dropout3d`` warn on unexpected ranks, and ``Dropout2d`` reads a 3-D input as (N, C, L);
channel ("feature") noise has shape (N, C, 1, ...), and needs at least 2 dimensions.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Optional

from . import rules
from .errors import DropoutValueError

Shape = tuple


def elementwise(shape: Shape) -> Shape:
    return tuple(shape)


def feature(shape: Shape) -> Shape:
    """(N, C, 1, ..., 1): one draw per channel, as torch's ``make_feature_noise``."""
    if len(shape) < 2:
        raise DropoutValueError("Feature dropout requires at least 2 dimensions in the input")
    return tuple(shape[:2]) + (1,) * (len(shape) - 2)


def unbatched_feature(batched_rank: int) -> Callable[[Shape], Shape]:
    """Channel noise for modules that accept a missing batch dimension (torch unsqueezes it)."""

    def noise_shape(shape: Shape) -> Shape:
        if len(shape) == batched_rank:
            return feature(shape)
        return feature((1,) + tuple(shape))[1:]

    return noise_shape


def shared(broadcast_dims) -> Callable[[Shape], Shape]:
    """Element-wise noise shared along ``broadcast_dims`` (Keras ``noise_shape``, Flax ``broadcast_dims``)."""
    dims = tuple(broadcast_dims)

    def noise_shape(shape: Shape) -> Shape:
        rank = len(shape)
        for d in dims:
            if not -rank <= d < rank:
                raise ValueError(f"broadcast_dims entry {d} is out of range for an input of rank {rank}")
        picked = {d % rank for d in dims}
        return tuple(1 if i in picked else n for i, n in enumerate(shape))

    return noise_shape


def _dropout1d_rank(shape: Shape) -> None:
    if len(shape) not in (2, 3):
        raise DropoutValueError(
            f"dropout1d: Expected 2D or 3D input, but received a {len(shape)}D input. "
            "Note that dropout1d exists to provide channel-wise dropout on inputs with 1 "
            "spatial dimension, a channel dimension, and an optional batch dimension "
            "(i.e. 2D or 3D inputs)."
        )


def _warn_unexpected_rank(shape: Shape, spatial: int) -> None:
    """torch's warning for dropout2d/3d on a rank other than ``spatial + 1`` or ``spatial + 2``."""
    rank, name = len(shape), f"dropout{spatial}d"
    if rank not in (spatial + 1, spatial + 2):
        warnings.warn(
            f"{name}: Received a {rank}-D input to {name}, which is deprecated "
            "and will result in an error in a future release. To retain the behavior "
            f"and silence this warning, please use dropout instead. Note that {name} "
            f"exists to provide channel-wise dropout on inputs with {spatial} spatial dimensions, "
            f"a channel dimension, and an optional batch dimension (i.e. {spatial + 1}D or {spatial + 2}D inputs).",
            stacklevel=5,  # the caller of the dropout function or module
        )


def _dropout2d_rank(shape: Shape) -> None:
    _warn_unexpected_rank(shape, 2)
    if len(shape) == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise "
            "1D dropout behavior is desired - input is interpreted as shape (N, C, L), where C "
            "is the channel dim. This behavior will change in a future release to interpret the "
            "input as one without a batch dimension, i.e. shape (C, H, W). To maintain the 1D "
            "channel-wise dropout behavior, please switch to using dropout1d instead.",
            stacklevel=4,
        )


def _dropout3d_rank(shape: Shape) -> None:
    _warn_unexpected_rank(shape, 3)


def _no_check(shape: Shape) -> None:
    pass


@dataclass(frozen=True)
class Variant:
    """A dropout variant: a noise shape, an affine rule and, for eval, an optional scale.

    ``draw`` names the random draw: ``"bernoulli"`` (a keep-mask, P(keep) = 1 - p) or
    ``"normal"`` (standard normal values, Gaussian dropout).
    """

    name: str
    noise_shape: Callable[[Shape], Shape]
    rule: Callable
    check: Callable[[Shape], None] = _no_check
    eval_rule: Optional[Callable] = None  # None: eval is the identity
    draw: str = "bernoulli"
    honours_inplace: bool = True
    allows_p_one: bool = True

    @property
    def noise_is_like_input(self) -> bool:
        """Torch's element-wise noise is ``empty_like(x)`` (x's memory layout); channel noise
        is a new tensor (C order), even where its shape equals the input's (2-D input)."""
        return self.noise_shape is elementwise


DROPOUT = Variant("dropout", elementwise, rules.inverted)
DROPOUT1D = Variant("dropout1d", unbatched_feature(3), rules.inverted, check=_dropout1d_rank)
DROPOUT2D = Variant("dropout2d", feature, rules.inverted, check=_dropout2d_rank)
DROPOUT3D = Variant("dropout3d", unbatched_feature(5), rules.inverted, check=_dropout3d_rank)
ALPHA_DROPOUT = Variant("alpha_dropout", elementwise, rules.alpha, honours_inplace=False)
FEATURE_ALPHA_DROPOUT = Variant("feature_alpha_dropout", feature, rules.alpha, honours_inplace=False)


def dropout_variant(broadcast_dims=(), inverted: bool = True) -> Variant:
    """Plain dropout, optionally with a mask shared along axes and/or non-inverted scaling."""
    if not broadcast_dims and inverted:
        return DROPOUT
    return Variant(
        "dropout" if inverted else "dropout(inverted=False)",
        shared(broadcast_dims) if broadcast_dims else elementwise,
        rules.inverted if inverted else rules.unscaled,
        eval_rule=None if inverted else rules.eval_scale,
    )


def gaussian_variant(broadcast_dims=()) -> Variant:
    """Multiplicative Gaussian noise N(1, p/(1-p)); p must stay below 1."""
    return Variant(
        "gaussian_dropout",
        shared(broadcast_dims) if broadcast_dims else elementwise,
        rules.gaussian,
        draw="normal",
        allows_p_one=False,
    )
