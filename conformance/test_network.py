"""The network check as a test, for CI: a whole network against its torch twin.

    pytest conformance/test_network.py                                   # npdrop's own MLP (npdrop_mlp below)
    pytest conformance/test_network.py --network mynet:build_model --network-args '--form original'

It passes when the check's verdict is PASS; otherwise it fails with the check's whole screen
(the first differing layer and the likely cause) as the message. A network that cannot be
driven fails with the check's one message saying what it found and which option would help.
"""
import shlex

import pytest

pytest.importorskip("torch")

from .network.cli import parser, run  # noqa: E402
from .network.screen import screen  # noqa: E402

pytestmark = pytest.mark.prop("network")
#: without --network: npdrop's own MLP, defined here so that the installed suite has it too
DEFAULT = f"{__name__}:npdrop_mlp"


def npdrop_mlp():
    """npdrop.MLP (float64) with its loss on ``model.loss``, as examples/check_network.py builds it."""
    import numpy as np

    import npdrop

    model = npdrop.MLP([6, 16, 16, 4], "relu", p=0.2, rng=0, dtype=np.float64)
    model.loss = npdrop.CrossEntropyLoss()
    return model


def test_network_agrees_with_torch(request):
    spec = request.config.getoption("--network") or DEFAULT
    args = parser().parse_args(["--network", spec] + shlex.split(request.config.getoption("--network-args")))
    report, status = run(args)
    assert status == 0, "\n".join(screen(report))
