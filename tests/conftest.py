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
    there), removed at the end: a run leaves nothing in the machine's temporary directory.
    And no ``COLUMNS``/``LINES``: those processes print to a pipe, whole lines (a test that
    wants a terminal's width sets them itself)."""
    folder = tmp_path_factory.mktemp("tmpdir")
    saved = {name: os.environ.get(name) for name in ("TMPDIR", "COLUMNS", "LINES")}, tempfile.tempdir
    os.environ["TMPDIR"] = tempfile.tempdir = str(folder)
    os.environ.pop("COLUMNS", None)
    os.environ.pop("LINES", None)
    yield folder
    for name, value in saved[0].items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    tempfile.tempdir = saved[1]
    shutil.rmtree(folder, ignore_errors=True)
