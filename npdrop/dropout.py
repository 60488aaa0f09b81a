"""The dropout modules: torch's six, plus Gaussian dropout.

Every variant is ``out = x * noise (+ shift)`` with ``grad_x = grad * noise``: a noise *shape*
(:mod:`npdrop.variants`) and an affine *rule* (:mod:`npdrop.rules`), stated as a formula in
each class below. ``keep`` is a boolean keep-mask with P(keep) = 1 - p.

Each is a :class:`~npdrop.module.Module` holding ``p``, ``inplace``, its mask source and the
noise of the last forward, so that ``backward`` reuses the forward's mask::

    drop = npdrop.Dropout(p=0.3, rng=0)
    y = drop(x)                 # training: kept units scaled by 1/(1-p)
    gx = drop.backward(gy)      # gy * noise, with the same mask
    drop.eval(); drop(x) is x   # eval is the identity
"""
from __future__ import annotations

import numpy as np

from . import variants as V
from ._checks import check_p
from .functional import Saved, dropout_backward, forward
from .module import Module
from .rng import RNGLike, as_source


class _DropoutNd(Module):
    """Shared shell: ``forward(x, *, mask=None)``, ``backward(grad)``, ``train()``/``eval()``."""

    variant: V.Variant

    def __init__(self, p: float = 0.5, inplace: bool = False, *, rng: RNGLike = None):
        super().__init__()
        self.p = check_p(p, type(self).__name__)
        self.inplace = inplace
        self.rng = as_source(rng)
        self._saved: Saved | None = None

    def forward(self, x: np.ndarray, *, mask: np.ndarray | None = None) -> np.ndarray:
        """Apply dropout; ``mask=`` (bool, the noise shape) replaces the random draw."""
        out, self._saved = forward(self.variant, x, self.p, self.training, self.inplace,
                                   mask=mask, rng=self.rng, caller=type(self).__name__)
        return out

    def backward(self, grad: np.ndarray) -> np.ndarray:
        """Input gradient ``grad * noise`` for the last forward (train or eval)."""
        if self._saved is None:
            raise RuntimeError(f"{type(self).__name__}.backward() called before forward()")
        return dropout_backward(grad, self._saved)

    @property
    def last_mask(self) -> np.ndarray | None:
        """Keep-mask of the last forward (noise shape), ``None`` if that forward drew none."""
        return None if self._saved is None else self._saved.keep

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """``torch.nn.Dropout``: zero each element with probability ``p``, scale the rest by ``1/(1-p)``.

    - train: ``out = x * (keep / (1-p))`` (:func:`npdrop.rules.inverted`); eval: ``out = x``;
    - noise shape: the input's (:func:`npdrop.variants.elementwise`), or size 1 along
      ``broadcast_dims`` (:func:`npdrop.variants.shared`), which shares one draw along those
      axes, like Keras' ``noise_shape`` or Flax's ``broadcast_dims``.

    ``inverted=False`` selects the original dropout of Srivastava et al. (2014): training
    multiplies by the bare keep-mask, ``out = x * keep`` (:func:`npdrop.rules.unscaled`), and
    evaluation multiplies every unit by ``1-p`` (:func:`npdrop.rules.eval_scale`).
    Both forms agree in expectation: inverted training gives ``E[m x / (1-p)] = x``, the
    identity used at eval, while original training gives ``E[m x] = (1-p) x``, the scale used
    at eval. They differ everywhere else: the original form's training outputs and
    gradients are ``(1-p)`` times the inverted ones, so the effective learning rate differs,
    and its eval output is ``(1-p) x`` rather than ``x``.
    """

    def __init__(self, p: float = 0.5, inplace: bool = False, *, rng: RNGLike = None,
                 broadcast_dims: tuple[int, ...] = (), inverted: bool = True):
        super().__init__(p, inplace, rng=rng)
        self.broadcast_dims = tuple(broadcast_dims)
        self.inverted = bool(inverted)
        self.variant = V.dropout_variant(self.broadcast_dims, self.inverted)

    def extra_repr(self) -> str:
        extra = f", broadcast_dims={self.broadcast_dims}" if self.broadcast_dims else ""
        extra += "" if self.inverted else ", inverted=False"
        return super().extra_repr() + extra


class Dropout1d(_DropoutNd):
    """``torch.nn.Dropout1d``: zero whole channels of (N, C, L) or (C, L).

    - train: ``out = x * (keep / (1-p))`` (:func:`npdrop.rules.inverted`); eval: ``out = x``;
    - noise shape: (N, C, 1) or (C, 1) (:func:`npdrop.variants.unbatched_feature`); other ranks raise.
    """

    variant = V.DROPOUT1D


class Dropout2d(_DropoutNd):
    """``torch.nn.Dropout2d``: zero whole channels of (N, C, H, W).

    - train: ``out = x * (keep / (1-p))`` (:func:`npdrop.rules.inverted`); eval: ``out = x``;
    - noise shape: (N, C, 1, 1) (:func:`npdrop.variants.feature`). As in torch, a 3-D input
      is read as (N, C, L) with a warning, other ranks warn.
    """

    variant = V.DROPOUT2D


class Dropout3d(_DropoutNd):
    """``torch.nn.Dropout3d``: zero whole channels of (N, C, D, H, W) or (C, D, H, W).

    - train: ``out = x * (keep / (1-p))`` (:func:`npdrop.rules.inverted`); eval: ``out = x``;
    - noise shape: (N, C, 1, 1, 1) or (C, 1, 1, 1) (:func:`npdrop.variants.unbatched_feature`);
      other ranks warn.
    """

    variant = V.DROPOUT3D


class AlphaDropout(_DropoutNd):
    """``torch.nn.AlphaDropout``: dropped units go to SELU's saturation, mean and variance kept.

    - train: ``out = a * (x * keep - alpha' * (1 - keep)) + b`` with ``alpha' = 1.7580993408473766``,
      ``a = ((1-p) * (1 + p * alpha'^2))^(-1/2)``, ``b = a * alpha' * p``
      (:func:`npdrop.rules.alpha`); eval: ``out = x``;
    - noise shape: the input's (:func:`npdrop.variants.elementwise`).

    ``inplace`` is stored but ignored, as in torch.
    """

    variant = V.ALPHA_DROPOUT


class FeatureAlphaDropout(_DropoutNd):
    """``torch.nn.FeatureAlphaDropout``: alpha dropout of whole channels.

    - train: ``out = a * (x * keep - alpha' * (1 - keep)) + b`` as :class:`AlphaDropout`
      (:func:`npdrop.rules.alpha`); eval: ``out = x``;
    - noise shape: (N, C, 1, ..., 1) (:func:`npdrop.variants.feature`).
    """

    variant = V.FEATURE_ALPHA_DROPOUT


class GaussianDropout(_DropoutNd):
    """Multiplicative Gaussian noise (Keras' GaussianDropout).

    - train: ``out = x * (1 + sqrt(p/(1-p)) * z)``, ``z ~ N(0, 1)`` (:func:`npdrop.rules.gaussian`);
      eval: ``out = x``;
    - noise shape: the input's, or size 1 along ``broadcast_dims`` (:func:`npdrop.variants.shared`).

    The noise has mean 1 and variance ``p/(1-p)``, the same as inverted Bernoulli dropout's
    ``keep/(1-p)`` (Srivastava et al. 2014, section 10). Eval is the identity; ``p`` must be
    below 1. ``mask=`` supplies ``z`` (float, the noise shape).
    """

    def __init__(self, p: float = 0.5, inplace: bool = False, *, rng: RNGLike = None,
                 broadcast_dims: tuple[int, ...] = ()):
        super().__init__(p, inplace, rng=rng)
        if self.p == 1.0:
            raise ValueError("GaussianDropout: p must be below 1 (the noise variance p/(1-p) is infinite at p=1), got 1.0")
        self.broadcast_dims = tuple(broadcast_dims)
        self.variant = V.gaussian_variant(self.broadcast_dims)
