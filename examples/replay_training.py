"""Reproduce a PyTorch training run in NumPy, seed for seed.

The same small classifier, ``Linear(8, 32) -> ReLU -> Dropout(0.2) -> Linear(32, 3)``, is
built and trained twice from nothing but a seed: in torch after ``torch.manual_seed(seed)``,
and in npdrop from ``npdrop.torchrng.TorchCPUGenerator(seed)``. Both get the same initial
weights and the same dropout mask at every step, so the losses agree to float rounding.
The training data come from NumPy's own generator and are shared by both sides.

    python examples/replay_training.py [--seed 0] [--steps 20] [--dtype float32]

Prints the per-step losses side by side and exits with status 1 if they diverge.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

import npdrop
from npdrop.testing import check_torch_replays
from npdrop.torchrng import TorchCPUGenerator

try:
    import torch
except ImportError:  # npdrop itself does not need torch; this comparison does
    sys.exit("this example compares against PyTorch: pip install torch")

D_IN, HIDDEN, N_CLASSES, BATCH, P, LR = 8, 32, 3, 32, 0.2, 0.1
TOLERANCE = {"float32": 1e-6, "float64": 1e-12}


def replay_mode() -> bool:
    """Check this torch can be replayed; return the uniform_ rounding it uses (fused or not)."""
    error = None
    for fused in (True, False):
        try:
            check_torch_replays(torch, fused_uniform=fused, draws=("keep_mask", "uniform"))
            return fused
        except RuntimeError as exc:
            error = exc
    sys.exit(f"cannot replay this torch: {error}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--dtype", choices=sorted(TOLERANCE), default="float32")
    args = parser.parse_args()
    dtype = np.dtype(args.dtype)
    tdtype = getattr(torch, args.dtype)

    # Data from NumPy, so that only initialisation and dropout draw from torch's generator.
    data = np.random.default_rng(12345)
    xs = data.standard_normal((args.steps, BATCH, D_IN)).astype(dtype)
    ys = data.integers(0, N_CLASSES, size=(args.steps, BATCH))

    # torch: everything from the global generator after manual_seed.
    torch.manual_seed(args.seed)
    t_model = torch.nn.Sequential(
        torch.nn.Linear(D_IN, HIDDEN, dtype=tdtype), torch.nn.ReLU(),
        torch.nn.Dropout(P), torch.nn.Linear(HIDDEN, N_CLASSES, dtype=tdtype),
    )
    t_loss_fn = torch.nn.CrossEntropyLoss()
    t_opt = torch.optim.SGD(t_model.parameters(), lr=LR, momentum=0.9)

    # npdrop: every layer draws from one replay of that generator, in the same order.
    g = TorchCPUGenerator(args.seed, fused_uniform=replay_mode())
    n_model = npdrop.Sequential(
        npdrop.Linear(D_IN, HIDDEN, rng=g, dtype=dtype), npdrop.ReLU(),
        npdrop.Dropout(P, rng=g), npdrop.Linear(HIDDEN, N_CLASSES, rng=g, dtype=dtype),
    )
    n_loss_fn = npdrop.CrossEntropyLoss()
    n_opt = npdrop.SGD(n_model.parameters(), lr=LR, momentum=0.9)

    same_init = all(np.array_equal(n.data, t.detach().numpy())
                    for n, t in zip(n_model.parameters(), t_model.parameters()))
    print(f"seed {args.seed}, {args.dtype}: initial weights bit-identical: {same_init}")
    print(f"{'step':>4}  {'torch loss':>20}  {'npdrop loss':>20}  {'rel. diff':>9}")
    worst, streams_equal = 0.0, True
    for step in range(args.steps):
        t_opt.zero_grad()
        t_loss = t_loss_fn(t_model(torch.from_numpy(xs[step])), torch.from_numpy(ys[step]))
        t_loss.backward()
        t_opt.step()

        n_opt.zero_grad()
        n_loss = float(n_loss_fn.forward(n_model(xs[step]), ys[step]))
        n_model.backward(n_loss_fn.backward())
        n_opt.step()

        diff = abs(n_loss - t_loss.item()) / abs(t_loss.item())
        worst = max(worst, diff)
        streams_equal &= bool(np.array_equal(g.get_state(), torch.get_rng_state().numpy()))
        print(f"{step:>4}  {t_loss.item():>20.12g}  {n_loss:>20.12g}  {diff:>9.2e}")

    print(f"generator states identical after every step: {streams_equal}")
    print(f"max relative loss difference: {worst:.3g} (tolerance {TOLERANCE[args.dtype]:g})")
    ok = same_init and streams_equal and worst <= TOLERANCE[args.dtype]
    print("OK: the NumPy run reproduces the PyTorch run" if ok else "DIVERGED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
