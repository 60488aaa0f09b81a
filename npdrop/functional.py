"""Pure dropout functions: ``*_forward`` returns ``(out, saved)``, ``dropout_backward`` takes ``saved``.

One generic forward serves every variant (see :mod:`npdrop.variants`):

1. check ``p``, the input dtype and the variant's rank rules (torch's errors and warnings);
2. eval, ``p == 0`` and an empty input are the identity (the input object itself comes back,
   as in torch), and draw nothing;
3. ``p == 1`` is ``x * 0`` (:func:`npdrop.rules.zero`), and draws nothing;
4. otherwise the keep-mask of the variant's noise shape comes from ``mask=`` or from the
   mask source, and the variant's affine rule turns it into noise, applied by
   :func:`npdrop._masking.apply_noise`.

A new output is laid out as torch lays it out (the input's stride order, see
:mod:`npdrop.layout`), and so is a new input gradient (the upstream gradient's order).

Backward is ``grad * noise`` with the forward's own noise: never a fresh draw, never a mask
re-derived from ``out != 0`` (wrong wherever the input was exactly 0).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

import numpy as np

from . import rules
from . import variants as V
from ._checks import check_grad, check_input, check_mask, check_out, check_p
from ._masking import BernoulliNoise, ConstantNoise, DenseNoise, PackedKeep, apply_noise, noise_grad
from .layout import dense_strides, empty_like, memory_order
from .rng import RNGLike, as_source


#: What a forward multiplies by, in the form backward needs (see :mod:`npdrop._masking`):
#: a keep-mask with a scale and shifts, one scalar, a float array, or ``None`` (the identity).
Noise = Optional[Union[BernoulliNoise, ConstantNoise, DenseNoise]]


@dataclass
class Saved:
    """What a forward hands its backward: ``grad_x = grad * noise``."""

    name: str  #: the variant's name, for messages (``"dropout2d"``)
    p: float  #: the drop probability, checked
    noise: Noise  #: the noise ``x`` was multiplied by; ``None`` when the forward was the identity
    shape: tuple  #: the input's (and output's) shape
    dtype: np.dtype  #: the input's dtype
    order: Optional[tuple] = None  #: memory order of torch's noise tensor; ``None``: C order (:mod:`npdrop.layout`)

    @property
    def keep(self) -> np.ndarray | None:
        """The boolean keep-mask drawn (or supplied) in forward, ``None`` when nothing was drawn."""
        return getattr(self.noise, "keep", None)

    def noise_strides(self, shape: tuple) -> tuple:
        """Strides of torch's noise tensor broadcast to ``shape``: the layout ``grad * noise`` falls back on."""
        noise_shape = tuple(getattr(self.noise, "shape", ()))
        if len(noise_shape) != len(shape):  # a scalar noise (p == 1: torch's zeros({})) says nothing
            return ()
        # element-wise noise lies in x's order (self.order), channel noise in C order
        strides = dense_strides(noise_shape, self.order or tuple(range(len(shape))))
        return tuple(0 if n == 1 and m != 1 else st for st, n, m in zip(strides, noise_shape, shape))


def _draw(variant: V.Variant, shape: tuple, p: float, mask, rng, order) -> Union[np.ndarray, PackedKeep]:
    """The random part of ``shape``: a keep-mask (bool, or packed and perhaps still to be drawn),
    or for Gaussian dropout a standard-normal draw; ``mask=`` when supplied."""
    if mask is not None:
        return mask
    source = as_source(rng)
    if variant.draw == "normal":
        return source.normal(shape, np.float64)
    if order is not None and getattr(source, "draws_in_memory_order", False):
        # A replay of torch's stream (npdrop.TorchCPUGenerator) must draw in torch's order:
        # bernoulli_ fills empty_like(x) in memory order, for sliced inputs too.
        return source.keep_mask(tuple(shape[axis] for axis in order), p).transpose(np.argsort(order))
    # Optional: a source may return the mask packed, drawn as it is applied (npdrop.fastmask).
    packed_keep_mask = getattr(source, "packed_keep_mask", None)
    return source.keep_mask(shape, p) if packed_keep_mask is None else packed_keep_mask(shape, p)


def _check_supplied(variant: V.Variant, mask, shape: tuple, caller: str):
    noise_shape = variant.noise_shape(shape)
    if variant.draw == "normal":
        mask = np.asarray(mask)
        if mask.dtype.kind != "f" or mask.shape != noise_shape:
            raise ValueError(
                f"{caller}: mask= must be a float standard-normal draw of shape {noise_shape}, "
                f"got {mask.dtype} of shape {mask.shape}"
            )
        return mask
    return check_mask(mask, noise_shape, caller)


def forward(
    variant: V.Variant,
    x,
    p: float,
    training: bool,
    inplace: bool = False,
    *,
    mask=None,
    rng: RNGLike = None,
    caller: str | None = None,
    out: np.ndarray | None = None,
):
    """Run ``variant`` on ``x``; returns ``(out, Saved)``. The module classes call this.

    ``caller`` names the function or module in error messages (default: the variant's name).

    ``out=`` takes a buffer for the result (same shape and dtype as ``x``, not overlapping
    it), which is filled and returned, also when the forward is the identity (then ``x`` is
    copied). A large forward into a reused buffer skips the zeroing of fresh pages.
    """
    caller = caller or variant.name
    p = check_p(p, caller)
    if p == 1.0 and not variant.allows_p_one:
        raise ValueError(f"{caller}: p must be below 1 (the noise variance p/(1-p) is infinite at p=1), got {p}")
    x = check_input(x, caller)
    if out is not None:
        if inplace:
            raise ValueError(f"{caller}: inplace=True and out= cannot be combined")
        out = check_out(out, x, caller)
    variant.check(x.shape)
    if mask is not None:
        mask = _check_supplied(variant, mask, x.shape, caller)
    inplace = bool(inplace) and variant.honours_inplace

    dtype, contiguous = x.dtype, x.flags.c_contiguous
    # torch's element-wise noise is empty_like(x), in x's memory order; channel noise is a new C-ordered tensor
    order = None if contiguous or not variant.noise_is_like_input else memory_order(x)
    # torch is silent about inf * 0 and about scales that overflow float16 (p near 1)
    with np.errstate(invalid="ignore", over="ignore"):
        if not training:
            noise = variant.eval_rule(p, dtype) if variant.eval_rule else None
        elif p == 0.0 or x.size == 0:
            noise = None
        elif p == 1.0:
            noise = rules.zero(dtype)
        else:
            noise_shape = variant.noise_shape(x.shape)
            noise = variant.rule(_draw(variant, noise_shape, p, mask, rng, order), p, dtype)
        saved = Saved(variant.name, p, noise, x.shape, dtype, order)
        if x.ndim > 0:
            if out is None and noise is not None and not inplace and not contiguous:
                out = empty_like(x, saved.noise_strides(x.shape))  # torch's layout for x * noise
            out = apply_noise(x, noise, inplace, out)
        else:  # a 0-d input runs as shape (1,): numpy turns 0-d results into scalars otherwise
            res = apply_noise(x.reshape(1), noise, inplace, None if out is None else out.reshape(1))
            if inplace or (noise is None and out is None):
                out = x  # torch returns the input object itself
            elif out is None:
                out = res.reshape(())
    return out, saved


def dropout_backward(grad, saved: Saved, *, out: np.ndarray | None = None) -> np.ndarray:
    """Input gradient of any dropout variant: ``grad * noise`` (torch's ``mul`` backward).

    A new result is laid out as torch lays out ``grad * noise``: in ``grad``'s stride order.

    ``out=`` takes a buffer for it (the forward output's shape and dtype, not overlapping
    ``grad`` unless it is ``grad`` itself), filled and returned.
    """
    grad = check_grad(grad, saved.shape, saved.dtype, saved.name)
    if out is not None:
        out = check_out(out, grad, f"{saved.name}.backward")
    with np.errstate(invalid="ignore", over="ignore"):
        if grad.ndim > 0:
            if out is None and saved.noise is not None and not grad.flags.c_contiguous:
                out = empty_like(grad, saved.noise_strides(grad.shape))  # torch's layout for grad * noise
            return noise_grad(grad, saved.noise, out)
        res = noise_grad(grad.reshape(1), saved.noise, None if out is None else out.reshape(1))
        return res.reshape(()) if out is None else out


def dropout_forward(x, p=0.5, training=True, inplace=False, *, mask=None, rng=None,
                    broadcast_dims=(), inverted=True, out=None):
    """``F.dropout``: element-wise keep-mask, kept units scaled by ``1/(1-p)``.

    ``broadcast_dims`` shares one mask draw along those axes; ``inverted=False`` is the
    original dropout (no training scale, eval multiplies by ``1-p``), see :class:`npdrop.Dropout`.
    """
    variant = V.dropout_variant(broadcast_dims, inverted)
    return forward(variant, x, p, training, inplace, mask=mask, rng=rng, out=out)


def dropout1d_forward(x, p=0.5, training=True, inplace=False, *, mask=None, rng=None, out=None):
    """``F.dropout1d``: whole channels of (N, C, L) or (C, L); noise (N, C, 1) or (C, 1)."""
    return forward(V.DROPOUT1D, x, p, training, inplace, mask=mask, rng=rng, out=out)


def dropout2d_forward(x, p=0.5, training=True, inplace=False, *, mask=None, rng=None, out=None):
    """``F.dropout2d``: whole channels of (N, C, H, W); noise (N, C, 1, 1)."""
    return forward(V.DROPOUT2D, x, p, training, inplace, mask=mask, rng=rng, out=out)


def dropout3d_forward(x, p=0.5, training=True, inplace=False, *, mask=None, rng=None, out=None):
    """``F.dropout3d``: whole channels of (N, C, D, H, W) or (C, D, H, W)."""
    return forward(V.DROPOUT3D, x, p, training, inplace, mask=mask, rng=rng, out=out)


def alpha_dropout_forward(x, p=0.5, training=False, inplace=False, *, mask=None, rng=None, out=None):
    """``F.alpha_dropout`` (note torch's default ``training=False``); ``inplace`` is ignored as in torch."""
    return forward(V.ALPHA_DROPOUT, x, p, training, inplace, mask=mask, rng=rng, out=out)


def feature_alpha_dropout_forward(x, p=0.5, training=False, inplace=False, *, mask=None, rng=None, out=None):
    """``F.feature_alpha_dropout``: alpha dropout of whole channels; noise (N, C, 1, ...)."""
    return forward(V.FEATURE_ALPHA_DROPOUT, x, p, training, inplace, mask=mask, rng=rng, out=out)


def gaussian_dropout_forward(x, p=0.5, training=True, inplace=False, *, mask=None, rng=None,
                             broadcast_dims=(), out=None):
    """Gaussian dropout: ``x * (1 + sqrt(p/(1-p)) * z)``, ``z ~ N(0, 1)``; ``mask=`` supplies ``z``."""
    return forward(V.gaussian_variant(broadcast_dims), x, p, training, inplace, mask=mask, rng=rng, out=out)
