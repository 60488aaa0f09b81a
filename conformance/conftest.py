"""The conformance suite's options and fixtures; the run itself is :class:`conformance.plugin.ConformancePlugin`.

    pytest conformance/                                    # npdrop, all six variants, bit for bit
    pytest conformance/ --impl mypkg.layers:MyDropout      # your implementation vs torch.nn.Dropout
    pytest conformance/ --impl mypkg:MyDrop2d --reference Dropout2d
    NPDROP_IMPL=mypkg.layers:MyDropout pytest conformance/ # the same, by environment variable
    pytest conformance/ --report-json out.json --report-md out.md
    pytest conformance/ --impl mymod:dropout_forward --p-means keep   # a CS231n pair, p = keep probability
    pytest conformance/ --impl mymod:Net --forward run --form original

How the implementation is driven (its calling convention, mode, p meaning, form) is decided once, in
:func:`conformance.adapters.load_impl`; an object it cannot drive is a usage error here.

With ``--impl`` only the tests that apply to any implementation run (marked ``any_impl``);
npdrop-specific ones (in-place, error classes, MLP, harness self-tests) are deselected.
Without torch every test module skips itself (``pytest.importorskip``); nothing here
imports torch unless it is installed.
"""
from __future__ import annotations

import os
import zlib

import numpy as np
import pytest

try:
    import torch
except ImportError:  # pragma: no cover - exercised on machines without torch
    torch = None

from . import hypothesis_profiles
from .guard import DEFAULT_CALL_TIMEOUT, EXIT_TIMEOUT
from .plugin import ANY_IMPL_MODULES, HERE, ConformancePlugin, of


def pytest_addoption(parser):
    group = parser.getgroup("npdrop-conformance", "npdrop conformance harness")
    group.addoption("--impl", default=os.environ.get("NPDROP_IMPL") or None, metavar="MODULE:NAME",
                    help="implementation under test (default: $NPDROP_IMPL, else npdrop itself)")
    group.addoption("--reference", default="Dropout", metavar="NAME",
                    help="torch.nn module to compare a plugged-in implementation with (default Dropout)")
    group.addoption("--forward", default=None, metavar="NAME",
                    help="the forward method of --impl's class (default: forward, fprop, forward_pass, ...)")
    group.addoption("--backward", default=None, metavar="NAME",
                    help="the backward method, or for a function the module-level backward beside it")
    group.addoption("--p-means", default=None, choices=("drop", "keep"),
                    help="what the implementation's p is (default: from its name, else drop as in torch)")
    group.addoption("--form", default=None, choices=("inverted", "original"),
                    help="inverted dropout (torch's, the default) or the original form: x*m, eval x*(1-p)")
    group.addoption("--array-lib", default=None, choices=("numpy", "torch", "jax", "tensorflow"),
                    help="the array library --impl works in (default: found from the object)")
    group.addoption("--impl-kwargs", default=None, metavar="'NAME=VALUE, ...'",
                    help="arguments for --impl's constructor (or each call of a function), Python literals")
    group.addoption("--mode-global", default=None, metavar="MODULE:ATTR",
                    help="a global train/eval switch to set (e.g. dezero:Config.train)")
    group.addoption("--call-timeout", default=DEFAULT_CALL_TIMEOUT, type=float, metavar="SECONDS",
                    help=f"the longest one call into the implementation may take (default {DEFAULT_CALL_TIMEOUT:g}; "
                         f"0: no limit); past it the run ends with exit status {EXIT_TIMEOUT} and an incomplete report")
    group.addoption("--worker-prefix", default=None, metavar="'CMD ...'",
                    help="a command put before the process the implementation runs in (another user, a "
                         "sandbox), e.g. 'sudo -u nobody'")
    group.addoption("--repro-command", default="python -m pytest", metavar="CMD",
                    help="how failure messages say to rerun a case (npdrop-conform sets its own name)")
    group.addoption("--strict-edges", action="store_true", default=False,
                    help="fail the run (exit 1) on an edge difference too (NaN/inf input, float16 at p near 1, "
                         "p = 1, ...); by default only a training property fails it (npdrop-conform --strict)")
    group.addoption("--report-json", default=None, metavar="PATH", help="write the conformance matrix as JSON")
    group.addoption("--report-md", default=None, metavar="PATH", help="write the conformance matrix as Markdown")
    network = parser.getgroup("npdrop network check", "test_network.py: a whole network against a torch twin")
    network.addoption("--network", default=None, metavar="MODULE:NAME",
                      help="the network (or what builds it) for test_network.py; default npdrop's MLP")
    network.addoption("--network-args", default="", metavar="'--loss M:N --form original ...'",
                      help="npdrop-conform --network's other options, for test_network.py")


def pytest_configure(config):
    config.addinivalue_line("markers", "prop(name): the conformance property a test checks")
    config.addinivalue_line("markers", "any_impl: applies to any implementation plugged in with --impl")
    hypothesis_profiles.load()
    plugin = ConformancePlugin(config)
    config.pluginmanager.register(plugin, "npdrop-conformance")
    plugin.load()


def _parametrizes(metafunc, name: str) -> bool:
    """Whether the test names ``name`` in a parametrize mark of its own (npdrop-only tests
    choose their variants themselves)."""
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0].split(",") if isinstance(mark.args[0], str) else mark.args[0]
        if name in (n.strip() for n in names):
            return True
    return False


def pytest_generate_tests(metafunc):
    plugin = of(metafunc.config)
    impl = plugin.impl if plugin is not None else None
    if impl is None or "variant" not in metafunc.fixturenames or _parametrizes(metafunc, "variant"):
        return
    if "case" in metafunc.fixturenames:
        pairs = [(v, c) for v in impl.variants for c in v.cases]
        metafunc.parametrize(("variant", "case"), pairs, ids=[f"{v}-{c}" for v, c in pairs])
    else:
        metafunc.parametrize("variant", impl.variants, ids=str)


# -- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def impl(request):
    """The implementation under test (see :mod:`conformance.adapters`)."""
    plugin = of(request.config)
    value = plugin.impl if plugin is not None else None
    if value is None:
        pytest.skip("torch is not installed")
    return value


@pytest.fixture
def seed(request) -> int:
    """A fixed seed per test, derived from its node id: every case reruns identically."""
    return zlib.crc32(request.node.nodeid.encode())


@pytest.fixture
def dtype(request) -> type:
    """The dtype a test is parametrized with, by its name in ``DTYPE_IDS`` (``indirect=True``):
    ml_dtypes is imported by the first bfloat16 test, not by every run."""
    from .harness import dtype_named

    return dtype_named(request.param)


@pytest.fixture
def rng(seed) -> np.random.Generator:
    """The harness's own generator: a stream independent of the ``seed`` handed to the
    implementation (``default_rng(seed)`` there must not replay the harness's draws)."""
    return np.random.default_rng([seed, 0x4E504452])


@pytest.fixture(autouse=True)
def _seeded_global_numpy(request, seed):
    """Black boxes draw from ``np.random`` (torch code from torch's global generator): seed
    it per test, and restore it afterwards."""
    if request.node.get_closest_marker("any_impl") is None:
        yield
        return
    state = np.random.get_state()   # the plugin restores both after each test too
    torch_state = torch.random.get_rng_state() if torch is not None else None
    _seed_other_libraries(seed)
    np.random.seed(seed)
    if torch is not None:   # the CPU generator, the one saved and restored (torch.manual_seed also
        torch.random.default_generator.manual_seed(seed)   # queues a CUDA seeding, with a stack trace, per test)
    try:
        yield
    finally:
        np.random.set_state(state)
        if torch_state is not None:
            torch.random.set_rng_state(torch_state)


def _seed_other_libraries(seed: int) -> None:
    """TensorFlow's and Keras' global generators, where the implementation imported them (in
    its own process: :func:`conformance.streams.seed_frameworks`), from the test's seed as an
    int32 (every backend takes it): their draws rerun identically too. Keras' call also seeds
    numpy's global generator, which the caller seeds afterwards."""
    from .streams import seed_frameworks

    seed_frameworks(seed % 2**31)


@pytest.fixture
def repro(request) -> str:
    """The command that reruns this very case, options included."""
    options = []
    impl = request.config.getoption("impl")
    command = request.config.getoption("repro_command")
    if impl:
        options.append(f"--impl {impl}")
        options.append(f"--reference {request.config.getoption('reference')}")
        for name in ("forward", "backward", "p_means", "form", "array_lib", "impl_kwargs", "mode_global"):
            value = request.config.getoption(name)
            if value:
                options.append(f"--{name.replace('_', '-')} " + (repr(value) if name == "impl_kwargs" else value))
    case = f"'{request.node.nodeid}'"
    if command == "npdrop-conform" and impl:  # MODULE:NAME comes first there
        return " ".join([command, impl, case] + options[1:])
    return " ".join([command, case] + options)


def pytest_ignore_collect(collection_path, config):
    """With ``--impl`` (not npdrop), the suite's modules of npdrop-only tests are not collected
    (:data:`~conformance.plugin.ANY_IMPL_MODULES`); a module named on the command line still is."""
    if config.getoption("--impl") in (None, "", "npdrop"):
        return None
    name = collection_path.name
    if str(collection_path.parent) == HERE and name.startswith("test_") and name.endswith(".py"):
        return True if name not in ANY_IMPL_MODULES else None
    return None


def pytest_collection_modifyitems(config, items):
    """Cases that do not exist are not collected: a ``rank`` a variant does not take (the
    noise shape on every rank is a channel variant's check), rather than shown as n/a."""
    keep, drop = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        variant, rank = params.get("variant"), params.get("rank")
        exists = rank is None or not hasattr(variant, "channel") or (
            variant.channel and variant.min_rank <= rank <= (variant.max_rank if variant.max_rank is not None else 5))
        (keep if exists else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
