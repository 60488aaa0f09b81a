"""Dropout written as a stax layer: a constructor returning ``(init_fun, apply_fun)``, the key
passed to ``apply_fun`` as ``rng=`` (as ``jax.example_libraries.stax`` layers are). The suite makes
a pair per p and mode, runs ``init_fun`` and calls ``apply_fun`` with a fresh key per call, and
differentiates it with ``jax.vjp``; nothing here is adapted to it.
"""
from jax import random

from . import Expect


def stax_dropout(rate, mode="train"):
    """Correct: ``rate`` is the drop probability (unlike stax's own Dropout, where it is the keep
    probability); ``x * noise``, the noise made at full precision and cast to x's dtype."""

    def init_fun(rng, input_shape):
        return input_shape, ()

    def apply_fun(params, inputs, **kwargs):
        if mode != "train" or rate == 0.0:
            return inputs
        keep = random.bernoulli(kwargs["rng"], 1.0 - rate, inputs.shape)
        return inputs * (keep * (0.0 if rate == 1.0 else 1.0 / (1.0 - rate))).astype(inputs.dtype)

    return init_fun, apply_fun


stax_dropout.expect = Expect(fails=None)


def stax_dropout_test_mode_drops(rate, mode="train"):
    """Faulty: the pair made with ``mode='test'`` still drops (the mode is compared with 'eval',
    a word stax does not use)."""

    def init_fun(rng, input_shape):
        return input_shape, ()

    def apply_fun(params, inputs, **kwargs):
        if mode == "eval" or rate == 0.0:
            return inputs
        keep = random.bernoulli(kwargs["rng"], 1.0 - rate, inputs.shape)
        return inputs * (keep * (0.0 if rate == 1.0 else 1.0 / (1.0 - rate))).astype(inputs.dtype)

    return init_fun, apply_fun


stax_dropout_test_mode_drops.expect = Expect(fails="eval-identity", diagnoses=("eval-still-drops",))
