"""What the replay tests share: which uniform_ rounding this torch uses, and a clean global RNG."""
from __future__ import annotations

import pytest
import torch

from npdrop.testing import check_torch_replays


def uniform_is_fused() -> bool:
    """Which rounding this torch's uniform_ kernel uses (see TorchCPUGenerator.fused_uniform)."""
    try:
        check_torch_replays(torch, draws=("uniform",), fused_uniform=True)
        return True
    except RuntimeError:
        return False


FUSED = uniform_is_fused()


@pytest.fixture(autouse=True)
def restore_global_rng():
    """Each replay test seeds torch's global generator; put it back afterwards."""
    state = torch.get_rng_state()
    yield
    torch.set_rng_state(state)
