"""Placeholder until the harness lands: npdrop's Dropout equals torch's closed form under one mask."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import npdrop


def test_dropout_matches_torch_closed_form():
    x = np.linspace(-3, 3, 60, dtype=np.float32).reshape(6, 10)
    keep = np.random.default_rng(0).random(x.shape) < 0.7
    out = npdrop.Dropout(0.3)(x, mask=keep)
    noise = torch.from_numpy(keep).to(torch.float32).div_(1 - 0.3)
    expected = (torch.from_numpy(x) * noise).numpy()
    assert np.array_equal(out, expected)
