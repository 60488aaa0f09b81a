"""npdrop's own MLP, ready for the network check::

    npdrop-conform --network examples.check_network:build

``build()`` returns ``npdrop.MLP`` (Linear -> ReLU -> Dropout -> Linear -> ReLU -> Dropout ->
Linear, float64) with its loss on ``model.loss``, where the check looks for one; the check
finds the layers, draws data, runs three SGD steps beside a torch twin under the same masks
and prints one screen.
"""
import numpy as np

import npdrop


def build():
    model = npdrop.MLP([6, 16, 16, 4], "relu", p=0.2, rng=0, dtype=np.float64)
    model.loss = npdrop.CrossEntropyLoss()
    return model


if __name__ == "__main__":
    import sys

    from conformance.network.cli import main

    sys.exit(main(["--network", "examples.check_network:build"] + sys.argv[1:]))
