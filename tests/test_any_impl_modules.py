"""The suite's list of the modules that hold tests for any implementation
(``ANY_IMPL_MODULES``, the only ones collected with ``--impl``) is what the modules say: each
listed module marks ``any_impl`` tests, and no other module does."""
from pathlib import Path

from conformance.plugin import ANY_IMPL_MODULES

SUITE = Path(__file__).resolve().parents[1] / "conformance"


def test_the_modules_collected_with_impl_are_those_with_any_impl_tests():
    marking = {path.name for path in SUITE.glob("test_*.py") if "mark.any_impl" in path.read_text()}
    assert marking == set(ANY_IMPL_MODULES), (
        f"modules that mark any_impl tests: {sorted(marking)}; ANY_IMPL_MODULES: {sorted(ANY_IMPL_MODULES)}")
