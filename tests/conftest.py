"""The hypothesis profile for the fuzzers here (``test_fuzz.py``, ``test_torchrng.py``): ``ci``
unless ``NPDROP_HYPOTHESIS_PROFILE`` names another (:mod:`conformance.hypothesis_profiles`)."""
from conformance import hypothesis_profiles


def pytest_configure(config):
    hypothesis_profiles.load()
