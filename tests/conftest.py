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


#: the test files with one long set-up shared by their tests, longest first
LONG_SET_UPS = ("test_gallery.py", "test_frameworks.py", "test_conform_command.py")


def pytest_collection_modifyitems(config, items):
    """The files of :data:`LONG_SET_UPS` go first: with ``-n 2 --dist loadfile`` one worker
    starts on the gallery at once while the other takes the rest, so that neither waits on
    the other at the end."""
    def rank(item):
        name = item.path.name
        return LONG_SET_UPS.index(name) if name in LONG_SET_UPS else len(LONG_SET_UPS)

    items.sort(key=rank)   # stable: each file's tests stay together, in their order


#: JAX's compilation cache on disk, for every compilation however short: each JAX run the tests
#: start (gallery entries, the framework table's rows) is a new process that would otherwise
#: compile again the same small programs (op by op, per shape and dtype) as the runs before it;
#: with the cache it spends about half the CPU. The compiled programs are the same either way.
JAX_CACHE = {"JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0", "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}


@pytest.fixture(scope="session", autouse=True)
def own_temporary_directory(tmp_path_factory):
    """``TMPDIR`` for the processes the tests start (``npdrop-conform`` makes its log folder
    there), removed at the end: a run leaves nothing in the machine's temporary directory.
    JAX's compilation cache (:data:`JAX_CACHE`) lives there too, unless one is set already.
    And no ``COLUMNS``/``LINES``: those processes print to a pipe, whole lines (a test that
    wants a terminal's width sets them itself), even where pytest runs on a terminal."""
    folder = tmp_path_factory.mktemp("tmpdir")
    saved = {name: os.environ.get(name) for name in ("TMPDIR", "COLUMNS", "LINES", "JAX_COMPILATION_CACHE_DIR", *JAX_CACHE)}, tempfile.tempdir
    os.environ["TMPDIR"] = tempfile.tempdir = str(folder)
    if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
        os.environ.update(JAX_CACHE, JAX_COMPILATION_CACHE_DIR=str(folder / "jax-cache"))
    for name in ("COLUMNS", "LINES"):
        os.environ.pop(name, None)
        # GNU readline, which pytest imports, puts the terminal's size in the C environment
        # (not os.environ) when stdin is a terminal, and child processes inherit that
        os.unsetenv(name)
    yield folder
    for name, value in saved[0].items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    tempfile.tempdir = saved[1]
    shutil.rmtree(folder, ignore_errors=True)
