"""The network check as a test, for CI: a whole network against its torch twin.

    pytest conformance/test_network.py                                   # npdrop's own MLP
    pytest conformance/test_network.py --network mynet:build_model --network-args '--form original'

It passes when the check's verdict is PASS; otherwise it fails with the check's whole screen
(the first differing layer and the likely cause) as the message. A network that cannot be
driven fails with the check's one message saying what it found and which option would help.
"""
import shlex

import pytest

pytest.importorskip("torch")

from conformance.network.cli import parser, run  # noqa: E402
from conformance.network.screen import screen  # noqa: E402

pytestmark = pytest.mark.prop("network")
DEFAULT = "examples.check_network:build"


def test_network_agrees_with_torch(request):
    spec = request.config.getoption("--network") or DEFAULT
    args = parser().parse_args(["--network", spec] + shlex.split(request.config.getoption("--network-args")))
    report, status = run(args)
    assert status == 0, "\n".join(screen(report))
