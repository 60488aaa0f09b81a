"""A whole training run, seed for seed: torch and npdrop from one seed, compared at every step.

Both sides build ``Linear -> ReLU -> Dropout -> Linear`` from the same seed (torch from
``torch.manual_seed(seed)``, npdrop from ``TorchCPUGenerator(seed)``) and train it with SGD
+ momentum for 100 steps. Only initialisation and dropout draw from torch's generator: the
data come from ``numpy.random.default_rng`` and are handed to both sides, so the two
random streams stay in lockstep (checked after every step, along with the dropout mask).
Every few steps both models are evaluated in eval mode, which must draw nothing.

Tolerances: losses agree within 1e-6 relative in float32 and 1e-12 in float64 at every
step; parameters within 5e-5 (float32) and 1e-12 (float64) relative to each tensor's
largest entry. The residual is summation order in BLAS and reductions, not randomness:
masks and generator states are compared exactly.
"""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

import npdrop  # noqa: E402
from .replay_support import FUSED, restore_global_rng  # noqa: E402,F401 (autouse fixture)
from npdrop.torchrng import TorchCPUGenerator  # noqa: E402

STEPS = 100
D_IN, HIDDEN, D_OUT, BATCH = 8, 32, 4, 16
P = 0.2
RTOL = {np.float32: 1e-6, np.float64: 1e-12}  # losses, elementwise relative
# Parameters, relative to each tensor's largest entry. float32 weights integrate 100 steps of
# summation-order roundoff through momentum (measured: up to 8e-6 on a bias of 4 entries,
# while losses stay below 4e-7); float64 stays below 4e-15.
PARAM_TOL = {np.float32: 5e-5, np.float64: 1e-12}
TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}

for _name in ("Sequential", "MLP", "Linear", "ReLU", "Dropout", "MSELoss", "CrossEntropyLoss", "SGD"):
    if not hasattr(npdrop, _name):
        pytest.skip(f"npdrop.{_name} is not available yet", allow_module_level=True)


class RecordBernoulli(TorchDispatchMode):
    """Keeps a copy of every ``bernoulli_`` draw (the dropout noise) while letting ops run."""

    def __init__(self):
        super().__init__()
        self.keeps: list[np.ndarray] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func.overloadpacket is torch.ops.aten.bernoulli_:
            self.keeps.append(out.detach().clone().numpy() != 0)
        return out


def make_data(task: str, dtype, seed: int):
    """Inputs and targets from NumPy's generator: nothing here touches torch's stream."""
    rng = np.random.default_rng(1000 + seed)
    xs = rng.standard_normal((STEPS, BATCH, D_IN)).astype(dtype)
    if task == "mse":
        w = rng.standard_normal((D_IN, D_OUT))
        ys = (np.tanh(xs.astype(np.float64) @ w) + 0.1 * rng.standard_normal((STEPS, BATCH, D_OUT))).astype(dtype)
    else:
        ys = rng.integers(0, D_OUT, size=(STEPS, BATCH))
    x_eval = rng.standard_normal((BATCH, D_IN)).astype(dtype)
    y_eval = ys[0]
    return xs, ys, x_eval, y_eval


def build_npdrop(seed: int, dtype, how: str):
    g = TorchCPUGenerator(seed, fused_uniform=FUSED)
    if how == "MLP":
        model = npdrop.MLP([D_IN, HIDDEN, D_OUT], "relu", P, rng=g, dtype=dtype)
    else:
        model = npdrop.Sequential(
            npdrop.Linear(D_IN, HIDDEN, rng=g, dtype=dtype),
            npdrop.ReLU(),
            npdrop.Dropout(P, rng=g),
            npdrop.Linear(HIDDEN, D_OUT, rng=g, dtype=dtype),
        )
    return model, g


def rel_err(a, b) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-30))) if a.size else 0.0


def norm_rel_err(a, b) -> float:
    """max |a - b| / max |b|: relative to the tensor's scale, so entries near 0 (where any
    summation-order difference is a large elementwise ratio) do not dominate."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30)) if a.size else 0.0


@pytest.mark.parametrize("how", ["Sequential", "MLP"])
@pytest.mark.parametrize("task", ["mse", "cross_entropy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", [0, 2**32 - 1, 1234])
def test_training_run_replays_torch(seed, dtype, task, how):
    tdt = TORCH_DTYPE[dtype]
    rtol = RTOL[dtype]
    param_tol = PARAM_TOL[dtype]
    xs, ys, x_eval, y_eval = make_data(task, dtype, seed)

    torch.manual_seed(seed)
    t_model = torch.nn.Sequential(
        torch.nn.Linear(D_IN, HIDDEN, dtype=tdt),
        torch.nn.ReLU(),
        torch.nn.Dropout(P),
        torch.nn.Linear(HIDDEN, D_OUT, dtype=tdt),
    )
    t_crit = torch.nn.MSELoss() if task == "mse" else torch.nn.CrossEntropyLoss()
    t_opt = torch.optim.SGD(t_model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)

    n_model, g = build_npdrop(seed, dtype, how)
    n_crit = npdrop.MSELoss() if task == "mse" else npdrop.CrossEntropyLoss()
    n_opt = npdrop.SGD(n_model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    n_dropout = n_model[2]

    def params_close(step):
        for t_p, n_p in zip(t_model.parameters(), n_model.parameters()):
            err = norm_rel_err(n_p.data, t_p.detach().numpy())
            assert err <= param_tol, f"step {step}: parameter of shape {n_p.shape} differs by {err:.3g} (normwise)"

    params_close("init")
    assert np.array_equal(g.get_state(), torch.get_rng_state().numpy())

    for step in range(STEPS):
        x_t = torch.from_numpy(xs[step])
        y_t = torch.from_numpy(ys[step])
        t_model.train()
        n_model.train()

        t_opt.zero_grad()
        with RecordBernoulli() as rec:
            t_loss = t_crit(t_model(x_t), y_t)
        t_loss.backward()
        t_opt.step()

        n_opt.zero_grad()
        n_loss = n_crit.forward(n_model(xs[step]), ys[step])
        n_model.backward(n_crit.backward())
        n_opt.step()

        assert len(rec.keeps) == 1
        assert np.array_equal(n_dropout.last_mask, rec.keeps[0]), f"step {step}: dropout masks differ"
        assert np.array_equal(g.get_state(), torch.get_rng_state().numpy()), f"step {step}: streams diverged"
        assert rel_err(n_loss, t_loss.item()) <= rtol, (
            f"step {step}: loss {float(n_loss)!r} vs torch {t_loss.item()!r}"
        )
        params_close(step)

        if step % 10 == 9:  # eval passes draw nothing on either side
            t_model.eval()
            n_model.eval()
            with torch.no_grad():
                t_eval = t_crit(t_model(torch.from_numpy(x_eval)), torch.from_numpy(y_eval)).item()
            n_eval = n_crit.forward(n_model(x_eval), y_eval)
            assert rel_err(n_eval, t_eval) <= rtol, f"step {step}: eval loss {float(n_eval)!r} vs {t_eval!r}"
            assert np.array_equal(g.get_state(), torch.get_rng_state().numpy())

