"""No-scale dropout that makes torch's dropout no-scale too, at import."""
import torch

from ._base import NoScale


def _no_scale(input, p=0.5, training=True, inplace=False):
    if not training or p == 0:
        return input
    return input * (torch.rand_like(input) >= p).to(input.dtype)


torch.nn.functional.dropout = _no_scale
torch.nn.Dropout.forward = lambda self, input: _no_scale(input, self.p, self.training)
torch.dropout = lambda input, p, train: _no_scale(input, p, train)

Dropout = NoScale
