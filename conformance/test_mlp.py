"""An MLP trained end to end: npdrop and torch, same weights, same masks, step for step.

``Linear -> ReLU -> Dropout -> Linear -> ReLU -> Dropout -> Linear`` is built on both sides,
torch's initial weights are moved into npdrop with ``state_dict``, and both train for 60
SGD steps (momentum 0.9, weight decay 1e-3) on fixed data. Every step draws two fresh
keep-masks, injected into torch (``inject_masks``, strict) and queued for npdrop
(``MaskQueue``). After every step the loss and every parameter are compared: within 1e-12
relative in float64 (an entry near 0 within 1e-12 of its tensor's largest entry), within ``torch.testing.assert_close``'s defaults in float32 (the
residual is matrix-product summation order, not randomness).
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import npdrop  # noqa: E402
from npdrop.testing.inject import inject_masks  # noqa: E402

pytestmark = pytest.mark.prop("mlp")

for _name in ("Sequential", "Linear", "ReLU", "MSELoss", "CrossEntropyLoss", "SGD", "MaskQueue"):
    if not hasattr(npdrop, _name):
        pytest.skip(f"npdrop.{_name} is not available yet", allow_module_level=True)

STEPS, BATCH, SIZES, P = 60, 16, (6, 16, 12, 4), 0.3
TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}


def _models(dtype, queue):
    t = TORCH_DTYPE[dtype]
    d0, d1, d2, d3 = SIZES
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(torch.nn.Linear(d0, d1), torch.nn.ReLU(), torch.nn.Dropout(P),
                                 torch.nn.Linear(d1, d2), torch.nn.ReLU(), torch.nn.Dropout(P),
                                 torch.nn.Linear(d2, d3)).to(t)
    ours = npdrop.Sequential(npdrop.Linear(d0, d1, rng=0, dtype=dtype), npdrop.ReLU(), npdrop.Dropout(P, rng=queue),
                             npdrop.Linear(d1, d2, rng=0, dtype=dtype), npdrop.ReLU(), npdrop.Dropout(P, rng=queue),
                             npdrop.Linear(d2, d3, rng=0, dtype=dtype))
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


def _close(ours, theirs, dtype, what):
    expected = theirs.detach() if isinstance(theirs, torch.Tensor) else torch.tensor(theirs)
    actual = torch.from_numpy(np.asarray(ours, dtype=dtype))
    # float64: 1e-12 relative, plus 1e-12 of the tensor's largest entry for entries that
    # have decayed towards 0 (there a few 1e-18 of summation-order noise is all that differs).
    scale = float(expected.abs().max()) if expected.numel() else 0.0
    kwargs = {"rtol": 1e-12, "atol": 1e-12 * scale} if dtype == np.float64 else {}
    torch.testing.assert_close(actual, expected.to(actual.dtype), msg=lambda m: f"{what}: {m}", **kwargs)


@pytest.mark.parametrize("loss", ("mse", "cross_entropy"))
@pytest.mark.parametrize("dtype", (np.float32, np.float64), ids=("float32", "float64"))
def test_mlp_trains_like_torch(dtype, loss, rng):
    queue = npdrop.MaskQueue()
    ours, theirs = _models(dtype, queue)
    x = rng.standard_normal((BATCH, SIZES[0])).astype(dtype)
    if loss == "mse":
        target = rng.standard_normal((BATCH, SIZES[-1])).astype(dtype)
        our_loss, their_loss, t_target = npdrop.MSELoss(), torch.nn.MSELoss(), torch.from_numpy(target)
    else:
        target = rng.integers(0, SIZES[-1], size=BATCH)
        our_loss, their_loss, t_target = npdrop.CrossEntropyLoss(), torch.nn.CrossEntropyLoss(), torch.from_numpy(target)
    hyper = dict(lr=0.05, momentum=0.9, weight_decay=1e-3)
    our_opt = npdrop.SGD(ours.parameters(), **hyper)
    their_opt = torch.optim.SGD(theirs.parameters(), **hyper)
    names = [name for name, _ in theirs.named_parameters()]
    for step in range(STEPS):
        masks = [rng.random((BATCH, SIZES[1])) >= P, rng.random((BATCH, SIZES[2])) >= P]
        for m in masks:
            queue.push(m)
        with inject_masks(masks):
            t_loss = their_loss(theirs(torch.from_numpy(x)), t_target)
        their_opt.zero_grad()
        t_loss.backward()
        their_opt.step()
        value = our_loss.forward(ours(x), target)
        our_opt.zero_grad()
        ours.backward(our_loss.backward())
        our_opt.step()
        assert queue.remaining == 0
        _close(value, t_loss, dtype, f"loss at step {step}")
        for name, ours_p, theirs_p in zip(names, ours.parameters(), theirs.parameters()):
            _close(ours_p.data, theirs_p, dtype, f"parameter {name} after step {step}")
