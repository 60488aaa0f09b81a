"""Dropout written in torch, as people write it "from scratch" today: an ``nn.Module`` with
``torch.rand_like`` and ``self.training``, a function of tensors. The suite hands them
torch tensors and differentiates them with ``torch.autograd``; nothing here is adapted to it.
"""
import torch
from torch import nn

from . import Expect


class TorchDropout(nn.Module):
    """The usual from-scratch module: ``rand_like``, a float keep-mask scaled by ``1/(1-p)``,
    identity in eval. Fault: ``rand_like`` on a float16 or bfloat16 tensor draws its uniforms in
    that dtype, whose few values near 0 make ``u >= p`` drop too often at small p (keep-rate).
    And an edge: in float16 at p near 1, autograd's gradient of ``/ (1 - p)`` is ``g / 1e-10 =
    inf`` before the mask's 0 multiplies it, so a dropped unit's gradient is NaN, torch's 0."""

    expect = Expect(fails="keep-rate", diagnoses=("scale-overflows-float16",), only=("keep-rate", "float16-near-one"),
                    message=("keep-rate", "bfloat16"))

    def __init__(self, p=0.5):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        if self.p == 1:
            return x * 0
        keep = (torch.rand_like(x) >= self.p).to(x.dtype)
        return x * keep / (1 - self.p)


class TorchFunctionalNoTraining(TorchDropout):
    """Faulty: ``F.dropout(x, self.p)`` without ``training=self.training``: F.dropout's default
    is ``training=True``, so evaluation still drops."""

    expect = Expect(fails="eval-identity", diagnoses=("eval-still-drops",))

    def forward(self, x):
        return nn.functional.dropout(x, self.p)


def torch_dropout(x, p=0.5, training=True):
    """A function of tensors with ``torch.bernoulli``. Fault: ``full_like(x, 1 - p)`` in bfloat16
    rounds 0.999 to 1.0, so at p = 0.001 nothing is dropped (keep-rate). And the float16 p near 1
    edge of :class:`TorchDropout` (``* (1 / (1 - p))``'s gradient is inf before the mask's 0)."""
    if not training or p == 0:
        return x
    keep = torch.bernoulli(torch.full_like(x, 1 - p))
    return x * keep * (0.0 if p == 1 else 1 / (1 - p))


torch_dropout.expect = Expect(fails="keep-rate", diagnoses=("scale-overflows-float16",),
                             only=("keep-rate", "float16-near-one"), message=("keep-rate", "bfloat16"))


class TorchNoScale(TorchDropout):
    """Faulty: forgets the ``1/(1-p)`` scale."""

    expect = Expect(fails="forward", diagnoses=("no-scale",))

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        return x * (torch.rand_like(x) >= self.p).to(x.dtype)


class TorchDropsAtEval(TorchDropout):
    """Faulty: ignores ``self.training``, so it drops in eval too."""

    expect = Expect(fails="eval-identity", diagnoses=("eval-still-drops", "scale-overflows-float16"))

    def forward(self, x):
        if self.p == 0:
            return x
        if self.p == 1:
            return x * 0
        return x * (torch.rand_like(x) >= self.p).to(x.dtype) / (1 - self.p)


class TorchRefusesBfloat16(TorchDropout):
    """Correct, for the dtypes it takes: it refuses anything but float16/32/64 with a
    TypeError, as code whose kernels exist for those only does. Its bfloat16 cells are
    unsupported (n/a), not failed. :class:`TorchDropout`'s faults in the dtypes it takes: float16
    uniforms from ``rand_like`` (keep-rate), and the float16 p near 1 edge."""

    expect = Expect(fails="keep-rate", diagnoses=("scale-overflows-float16",), only=("keep-rate", "float16-near-one"),
                    message=("keep-rate", "float16"), refuses_bfloat16=True)

    def forward(self, x):
        if x.dtype not in (torch.float16, torch.float32, torch.float64):
            raise TypeError(f"expected a float16/32/64 tensor, got {x.dtype}")
        return super().forward(x)


def torch_dropout_zeros_at_p_one(x, p=0.5, training=True):
    """Right but for one detail: at p = 1 it returns fresh zeros, which autograd sees as not
    connected to ``x`` (gradient 0, as torch's), while torch's ``x * 0`` turns a dropped inf or
    NaN into NaN: ``nonfinite`` fails, with no likely cause (nothing is selected away). It shares
    :class:`TorchDropout`'s ``rand_like`` (keep-rate in float16 and bfloat16) and float16 p near 1
    edge (autograd's gradient of ``/ (1 - p)`` is ``g / 1e-10 = inf`` before the mask's 0)."""
    if not training or p == 0:
        return x
    if p == 1:
        return torch.zeros_like(x)
    keep = (torch.rand_like(x) >= p).to(x.dtype)
    return x * keep / (1 - p)


torch_dropout_zeros_at_p_one.expect = Expect(fails="nonfinite", only=("keep-rate", "nonfinite", "float16-near-one"),
                                             diagnoses=("scale-overflows-float16",))  # p-one and backward pass
