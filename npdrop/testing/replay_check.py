"""Does this torch replay? A one-call self-test of :class:`npdrop.torchrng.TorchCPUGenerator`.

Imports torch lazily: nothing else in npdrop needs it.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..torchrng import TorchCPUGenerator

_SELF_TEST_SEED = 20240531
_SELF_TEST_P = 0.3
_SELF_TEST_N = 4099  # odd, and large enough that a wrong engine agrees by chance with odds ~2**-4099


def check_torch_replays(
    torch_module=None,
    *,
    device: str = "cpu",
    fused_uniform: bool = True,
    draws: Sequence[str] = ("keep_mask", "uniform", "normal"),
) -> None:
    """Check, with one small draw of each kind, that this torch's stream is replayed exactly.

    Draws with a fresh ``torch.Generator`` (the global generator and thread settings are
    left untouched) and compares with :class:`TorchCPUGenerator`: the values and the
    generator state afterwards. Returns ``None`` on success; raises ``RuntimeError`` naming
    the reason replay cannot work: a non-CPU device (CUDA uses Philox with a launch-dependent
    layout), a build whose CPU ``bernoulli_`` goes through MKL, or a ``uniform_`` kernel with
    the other rounding (then ``fused_uniform`` says which to use).
    """
    if torch_module is None:
        import torch as torch_module  # lazy: npdrop's runtime does not need torch
    torch = torch_module
    dev = torch.device(device)
    if dev.type != "cpu":
        raise RuntimeError(
            f"npdrop.TorchCPUGenerator replays torch's CPU generator (MT19937) only; tensors on "
            f"'{dev.type}' draw from a different engine ({'Philox, with a layout that depends on the kernel launch' if dev.type == 'cuda' else 'device-specific'}), "
            "so their masks cannot be reproduced. Draw the masks on the CPU, or pass them in with npdrop.MaskQueue."
        )
    unknown = set(draws) - {"keep_mask", "uniform", "normal"}
    if unknown:
        raise ValueError(f"unknown draws {sorted(unknown)}; choose from keep_mask, uniform, normal")

    def fresh():
        return torch.Generator(device="cpu").manual_seed(_SELF_TEST_SEED), TorchCPUGenerator(
            _SELF_TEST_SEED, fused_uniform=fused_uniform
        )

    def same_state(g, mine) -> bool:
        return np.array_equal(g.get_state().numpy(), mine.get_state())

    if "keep_mask" in draws:
        g, mine = fresh()
        theirs = torch.empty(_SELF_TEST_N, dtype=torch.float32).bernoulli_(1 - _SELF_TEST_P, generator=g)
        ours = mine.keep_mask((_SELF_TEST_N,), _SELF_TEST_P)
        if not (np.array_equal(theirs.numpy() != 0, ours) and same_state(g, mine)):
            # ATen's MKL Bernoulli paths take one engine output as the seed of an MKL VSL stream
            # (older releases) or draw from a separate MKL generator (none); the serial MT19937
            # path takes 2 per element. The consumption tells them apart.
            after = g.get_state().numpy()
            consumed_0 = TorchCPUGenerator(_SELF_TEST_SEED).get_state()
            probe = TorchCPUGenerator(_SELF_TEST_SEED)
            probe._raw(1)
            if np.array_equal(after, probe.get_state()) or np.array_equal(after, consumed_0):
                why = (
                    "this torch build draws CPU bernoulli_ through MKL's VSL Bernoulli generator, "
                    "not element by element from MT19937"
                )
            else:
                why = "this torch's CPU bernoulli_ does not draw one random64() per element from MT19937"
            raise RuntimeError(
                f"torch {getattr(torch, '__version__', '?')}: dropout masks cannot be replayed: {why}. "
                "Pass torch's masks in with npdrop.MaskQueue instead."
            )

    if "uniform" in draws:
        g, mine = fresh()
        # A span that is not a power of two, so one and two roundings disagree on about
        # half of the values (with b - a == 1 they would always agree).
        a, b = -0.1, 0.1
        theirs = torch.empty(_SELF_TEST_N, dtype=torch.float32).uniform_(a, b, generator=g).numpy()
        ours = mine.uniform(a, b, (_SELF_TEST_N,), np.float32)
        if not np.array_equal(theirs, ours) and same_state(g, mine):
            other = TorchCPUGenerator(_SELF_TEST_SEED, fused_uniform=not fused_uniform)
            if np.array_equal(theirs, other.uniform(a, b, (_SELF_TEST_N,), np.float32)):
                raise RuntimeError(
                    "this torch's CPU uniform_ kernel rounds x * (b - a) + a "
                    f"{'twice (no FMA)' if fused_uniform else 'once (fused multiply-add)'}; "
                    f"use TorchCPUGenerator(seed, fused_uniform={not fused_uniform}) "
                    f"(ATen CPU capability: {_cpu_capability(torch)})"
                )
        if not (np.array_equal(theirs, ours) and same_state(g, mine)):
            raise RuntimeError(
                "torch's CPU uniform_ draws differ from the replay (neither rounding matches, or a "
                "different number of engine outputs was used); Linear initialisations cannot be "
                "replayed with this torch"
            )

    if "normal" in draws:
        for n in (5, 37):  # both of ATen's paths: per element (< 16) and normal_fill (>= 16)
            g, mine = fresh()
            theirs = torch.randn(n, dtype=torch.float64, generator=g).numpy()
            if not (np.array_equal(theirs, mine.normal((n,), np.float64)) and same_state(g, mine)):
                raise RuntimeError(
                    f"torch's CPU float64 normal_ ({'normal_distribution' if n < 16 else 'normal_fill'} path) "
                    "differs from the replay, e.g. torch and Python's math module use different libm "
                    "functions; normal draws cannot be replayed with this torch"
                )


def _cpu_capability(torch) -> str:
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except Exception:  # old torch: no such query
        return "unknown"
