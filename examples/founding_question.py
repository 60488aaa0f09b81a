"""Is dropout just zeroing random neurons? Measure it: expected outputs in training and at eval.

    python examples/founding_question.py

For p = 0.3 and an input of ones, it prints the mean output in training and at evaluation
for three dropouts, the agreement between the forward's mask and the gradient's, and the
noise statistics Gaussian dropout shares with inverted dropout. Deterministic (fixed seeds).
"""
import numpy as np

import npdrop
from zeroing_only import ZeroingOnlyDropout  # examples/ is on sys.path when run as a script

P, N = 0.3, 1_000_000


def main() -> None:
    x = np.ones(N)
    np.random.seed(0)  # ZeroingOnlyDropout draws from the global np.random, as such code does
    naive = ZeroingOnlyDropout(P)
    inverted = npdrop.Dropout(P, rng=0)
    original = npdrop.Dropout(P, rng=0, inverted=False)
    print(f"p = {P}, input = ones({N:,})")
    print(f"{'dropout':38s} {'mean in training':>17s} {'mean at eval':>13s}")
    rows = [
        ("zeroing only (no scaling)", naive.forward(x).mean(), naive.forward(x, training=False).mean()),
        ("inverted: train x*m/(1-p), eval x", inverted(x).mean(), inverted.eval()(x).mean()),
        ("original: train x*m, eval x*(1-p)", original(x).mean(), original.eval()(x).mean()),
    ]
    for name, train, test in rows:
        verdict = "same expectation" if abs(train - test) < 0.01 else "train and eval disagree"
        print(f"{name:38s} {train:17.4f} {test:13.4f}   {verdict}")

    layer = npdrop.Dropout(P, rng=1)
    y = layer(x)
    grad = layer.backward(np.ones(N))
    fresh = npdrop.Dropout(P, rng=2)(x)  # what a backward that redraws its mask would use
    print(f"backward reuses the forward's mask: gradient nonzero exactly where the output is: "
          f"{np.array_equal(grad != 0, y != 0)}; a redrawn mask agrees on {np.mean((fresh != 0) == (y != 0)):.1%}")
    noise = npdrop.GaussianDropout(P, rng=3)(x)
    print(f"gaussian dropout noise: mean {noise.mean():.4f}, variance {noise.var():.4f}; "
          f"inverted dropout noise: mean {y.mean():.4f}, variance {y.var():.4f} (p/(1-p) = {P / (1 - P):.4f})")


if __name__ == "__main__":
    main()
