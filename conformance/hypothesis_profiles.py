"""The hypothesis profiles of the project's fuzzers, loaded by the conftests' ``pytest_configure``.

``ci`` (the default): derandomised, the same examples on every run; ``long``
(``NPDROP_HYPOTHESIS_PROFILE=long``): a longer, random search. Both generate and shrink as
usual but skip hypothesis' *explain* phase: it reruns a failing example to list the lines
of the suite's own code that only failing runs reached, which says nothing about the
implementation under test and took about half of a failing fuzz test's time.
"""
import os


def load() -> None:
    """Register both profiles and load the chosen one (nothing without hypothesis, a test
    extra: the fuzzers skip themselves then)."""
    try:
        from hypothesis import HealthCheck, Phase, settings
    except ImportError:
        return
    phases = tuple(phase for phase in Phase if phase.name != "explain")
    shared = dict(deadline=None, phases=phases,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    settings.register_profile("ci", derandomize=True, max_examples=150, **shared)
    settings.register_profile("long", max_examples=3000, **shared)
    settings.load_profile(os.environ.get("NPDROP_HYPOTHESIS_PROFILE", "ci"))
