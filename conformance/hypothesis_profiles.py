"""The hypothesis profiles of the project's fuzzers, registered once (importing this loads one).

``ci`` (the default): derandomised, the same examples on every run; ``long``
(``NPDROP_HYPOTHESIS_PROFILE=long``): a longer, random search.
"""
import os

from hypothesis import HealthCheck, settings

_SHARED = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("ci", derandomize=True, max_examples=150, **_SHARED)
settings.register_profile("long", max_examples=3000, **_SHARED)
settings.load_profile(os.environ.get("NPDROP_HYPOTHESIS_PROFILE", "ci"))
