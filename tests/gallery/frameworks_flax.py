"""Dropout written as a Flax linen module that draws its key with ``self.make_rng('dropout')``,
as linen code usually does. The suite calls it as linen users do,
``module.apply({}, x, deterministic=..., rngs={'dropout': key})`` with a fresh key per call, and
differentiates it with ``jax.vjp``; nothing here is adapted to it.
"""
import flax.linen as nn
import jax

from . import Expect


class LinenMakeRngDropout(nn.Module):
    """Correct: the key from ``make_rng('dropout')``, ``x * noise`` with the noise ``keep * scale``
    made at full precision and cast to x's dtype (as torch does), scale 0 at rate 1."""

    expect = Expect(fails=None)

    rate: float

    @nn.compact
    def __call__(self, x, deterministic=False):
        if deterministic or self.rate == 0.0:
            return x
        keep = jax.random.bernoulli(self.make_rng("dropout"), 1.0 - self.rate, x.shape)
        return x * (keep * (0.0 if self.rate == 1.0 else 1.0 / (1.0 - self.rate))).astype(x.dtype)


class LinenOneKeyPerModule(nn.Module):
    """Faulty: draws from ``make_rng('dropout')`` once, then reuses a key it made itself from a
    constant, so every call drops the same units."""

    expect = Expect(fails="call-independence", diagnoses=("fixed-mask",))

    rate: float

    @nn.compact
    def __call__(self, x, deterministic=False):
        if deterministic or self.rate == 0.0:
            return x
        self.make_rng("dropout")               # drawn, and then not used
        keep = jax.random.bernoulli(jax.random.PRNGKey(0), 1.0 - self.rate, x.shape)
        return x * (keep * (0.0 if self.rate == 1.0 else 1.0 / (1.0 - self.rate))).astype(x.dtype)


class LinenAroundDropout(nn.Module):
    """Flax's own ``nn.Dropout`` inside a module of one's own, as linen models use it: the key is
    drawn by flax's ``make_rng('dropout')``, not by this code. Its differences from torch are flax's
    (``select(mask, x / keep, 0)``): a dropped inf or NaN gives 0 and a dropped -0.0 gives +0.0,
    in float16 at p within 1e-4 of 1 the gradient is 0/0 = NaN, and p outside [0, 1] is taken;
    all edges."""

    expect = Expect(fails="nonfinite", conforms_in_training=True, diagnoses=("scale-overflows-float16", "where-select"),
                    only=("nonfinite", "float16-near-one", "signed-zero", "p-range"))

    rate: float

    @nn.compact
    def __call__(self, x, deterministic=False):
        return nn.Dropout(rate=self.rate)(x, deterministic=deterministic)
