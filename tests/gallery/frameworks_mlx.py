"""Dropout written in MLX, as its users write it: an ``mlx.nn.Module`` drawing from
``mx.random``, mode from ``train()``/``eval()``. The suite hands them ``mx.array`` and
differentiates them with ``mx.vjp`` (rerunning the forward under the same MLX seed); nothing
here is adapted to it.
"""
import mlx.core as mx
from mlx import nn

from . import Expect


class MlxWhereDropout(nn.Module):
    """Selects, as JAX code does: ``mx.where(keep, x / (1 - p), 0)``. Edges: a dropped inf or
    NaN comes out 0 (torch: NaN), a dropped -0.0 comes out +0.0, and where ``1 - p`` is 0 (p = 1,
    or float16 at p = 1 - 1e-10) the gradient of ``x / 0`` is ``g / 0`` before the select, so a
    dropped unit's gradient is NaN (torch: 0)."""

    expect = Expect(fails="nonfinite", conforms_in_training=True,
                    only=("nonfinite", "signed-zero", "p-one", "float16-near-one"),
                    diagnoses=("where-select", "scale-overflows-float16"))

    def __init__(self, p=0.5):
        super().__init__()
        self.p = p

    def __call__(self, x):
        if not self.training or self.p == 0:
            return x
        keep = mx.random.uniform(shape=x.shape) >= self.p
        return mx.where(keep, x / (1 - self.p), 0)


class MlxAlwaysDrops(MlxWhereDropout):
    """Faulty: never looks at ``self.training``, so ``model.eval()`` still drops."""

    expect = Expect(fails="eval-identity", only=("eval-identity", "mode-switch", "nonfinite", "signed-zero", "p-one",
                                                 "float16-near-one"),
                    diagnoses=("eval-still-drops", "where-select", "scale-overflows-float16"))

    def __call__(self, x):
        if self.p == 0:
            return x
        keep = mx.random.uniform(shape=x.shape) >= self.p
        return mx.where(keep, x / (1 - self.p), 0)
