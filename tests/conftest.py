"""The hypothesis profile for the fuzzers here (``test_fuzz.py``, ``test_torchrng.py``): ``ci``
unless ``NPDROP_HYPOTHESIS_PROFILE`` names another (:mod:`conformance.hypothesis_profiles`);
and a temporary directory of the run's own for everything the tests start."""
import os
import shutil
import tempfile

import pytest

from conformance import hypothesis_profiles


def pytest_configure(config):
    hypothesis_profiles.load()


def pytest_collection_modifyitems(config, items):
    """The modules that share one long set-up (``pytest.mark.xdist_group``: the gallery's
    runs first, the longest) go first: with ``-n 2`` one worker starts on them at once
    while the other takes the many short tests, so neither waits on the other at the end."""
    def rank(item):
        group = item.get_closest_marker("xdist_group")
        return 2 if group is None else 0 if group.args[0] == "gallery" else 1

    items.sort(key=rank)   # stable: the order within each rank is the collected one


@pytest.fixture(scope="session", autouse=True)
def own_temporary_directory(tmp_path_factory):
    """``TMPDIR`` for the processes the tests start (``npdrop-conform`` makes its log folder
    there), removed at the end: a run leaves nothing in the machine's temporary directory."""
    folder = tmp_path_factory.mktemp("tmpdir")
    saved = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"] = tempfile.tempdir = str(folder)
    yield folder
    if saved[0] is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = saved[0]
    tempfile.tempdir = saved[1]
    shutil.rmtree(folder, ignore_errors=True)
