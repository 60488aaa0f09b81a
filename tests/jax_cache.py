"""One persistent JAX compilation cache for the JAX processes a test starts one after another.

Each such process (one per gallery entry) runs the same small programs, the
suite's shapes and dtypes, which XLA would otherwise compile again in every process (about 9 s
of CPU of a JAX gallery entry's 15). Loading a compiled program instead of compiling it again
changes no result. The cache lives in a folder the test made and removes.
"""
import contextlib
import os

#: cache every compiled program, however small or quick to compile; a size limit (far above the
#: few MB the gallery writes) makes JAX take a file lock around each read and write, so that a
#: process never reads a program another one is still writing
SETTINGS = {"JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0", "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
            "JAX_COMPILATION_CACHE_MAX_SIZE": str(2 ** 30)}


@contextlib.contextmanager
def shared(folder: str):
    """Within the block, processes started from this one share a JAX cache in ``folder/jax-cache``."""
    values = {**SETTINGS, "JAX_COMPILATION_CACHE_DIR": os.path.join(folder, "jax-cache")}
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
