"""Dropout written in JAX, randomness passed as a key: a function ``dropout(key, x, rate,
deterministic=False)`` and an Equinox-like class ``__call__(x, *, key, inference=False)``.
The suite hands them jax arrays, a fresh key per call, and differentiates them with
``jax.vjp``; nothing here is adapted to it.
"""
import jax
import jax.numpy as jnp

from . import Expect


def jax_dropout(key, x, rate, deterministic=False):
    """Correct: ``x * noise``, the noise ``keep * scale`` made at full precision and then cast
    to x's dtype, as torch does (a dropped inf becomes NaN, as in torch; where the scale
    overflows float16 a dropped unit stays 0), scale 0 at rate 1."""
    if deterministic or rate == 0.0:
        return x
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    return x * (keep * (0.0 if rate == 1.0 else 1.0 / (1.0 - rate))).astype(x.dtype)


jax_dropout.expect = Expect(fails=None)


class KeyedDropout:
    """Correct: the key by keyword, ``inference=True`` for evaluation."""

    expect = Expect(fails=None)

    def __init__(self, p=0.5):
        self.p = p

    def __call__(self, x, *, key=None, inference=False):
        if inference:
            return x
        return jax_dropout(key, x, self.p)


class KeyFixedAtConstruction(KeyedDropout):
    """Faulty: keeps one key from construction and ignores the one it is given, so every
    call draws the same mask."""

    expect = Expect(fails="call-independence", diagnoses=("fixed-mask",))

    def __init__(self, p=0.5, seed=0):
        super().__init__(p)
        self.own_key = jax.random.PRNGKey(seed)

    def __call__(self, x, *, key=None, inference=False):
        if inference:
            return x
        return jax_dropout(self.own_key, x, self.p)
