"""Dropout written as a haiku module: an ``hk.Module`` that draws with ``hk.next_rng_key()``, which
exists only inside ``hk.transform``. The suite builds and calls it there, as haiku users do
(``hk.transform_with_state``; ``apply(params, state, key, x, is_training=...)`` with a fresh key per
call), and differentiates it with ``jax.vjp``; nothing here is adapted to it.
"""
import haiku as hk
import jax

from . import Expect


class HaikuModuleDropout(hk.Module):
    """Correct: ``x * noise``, the noise ``keep * scale`` made at full precision and cast to x's
    dtype (as torch does), scale 0 at rate 1; ``is_training=False`` is the identity."""

    expect = Expect(fails=None)

    def __init__(self, rate, name=None):
        super().__init__(name=name)
        self.rate = rate

    def __call__(self, x, is_training=True):
        if not is_training or self.rate == 0.0:
            return x
        keep = jax.random.bernoulli(hk.next_rng_key(), 1.0 - self.rate, x.shape)
        return x * (keep * (0.0 if self.rate == 1.0 else 1.0 / (1.0 - self.rate))).astype(x.dtype)


class HaikuKeepRateAsRate(HaikuModuleDropout):
    """Faulty: keeps each unit with probability ``rate`` (``bernoulli(key, rate)``, as stax's
    Dropout does, where rate is the keep probability) while scaling kept units by torch's
    ``1 / (1 - rate)``: every value is right for the units it kept, but it keeps the share it
    should drop (the same at rate 0.5; at rate 1e-10 it drops nearly everything)."""

    expect = Expect(fails="keep-rate", diagnoses=("keep-prob",))

    def __call__(self, x, is_training=True):
        if not is_training or self.rate == 0.0:
            return x
        keep = jax.random.bernoulli(hk.next_rng_key(), self.rate, x.shape)
        return x * (keep * (0.0 if self.rate == 1.0 else 1.0 / (1.0 - self.rate))).astype(x.dtype)


class HaikuAroundDropout(hk.Module):
    """Haiku's own ``hk.dropout`` inside a module, as haiku models use it
    (``hk.dropout(hk.next_rng_key(), rate, x)`` when training). Its differences from torch are
    haiku's: rate 1 raises, a dropped inf or NaN gives 0 and a dropped -0.0 gives +0.0 (``bool * x``),
    float16 at rate near 1 divides by a keep rate of 0, int64 input comes out float; all edges."""

    expect = Expect(fails="p-one", conforms_in_training=True, diagnoses=("scale-overflows-float16", "where-select"),
                    only=("nonfinite", "float16-near-one", "p-one", "signed-zero", "integer-input"))

    def __init__(self, rate, name=None):
        super().__init__(name=name)
        self.rate = rate

    def __call__(self, x, is_training=True):
        return hk.dropout(hk.next_rng_key(), self.rate, x) if is_training else x
