"""Side effects: no memory growth over many steps, the global np.random state untouched."""
import gc
import tracemalloc

import numpy as np
import pytest

import npdrop
from conformance.variants import VARIANTS

#: one module per masking path (element-wise, per channel, alpha, and npdrop's own Gaussian)
NAMES = ("Dropout", "Dropout2d", "AlphaDropout", "GaussianDropout")


def module_and_shape(name: str) -> tuple:
    """npdrop's module ``name`` and an input shape it takes: its torch variant's batched
    shape (GaussianDropout, element-wise, gets Dropout's)."""
    return getattr(npdrop, name), VARIANTS.get(name, VARIANTS["Dropout"]).batched


@pytest.mark.parametrize("name", NAMES)
def test_ten_thousand_steps_do_not_grow_memory(name):
    cls, shape = module_and_shape(name)
    layer = cls(0.3, rng=0)
    x = np.ones(shape, dtype=np.float32)
    g = np.ones(shape, dtype=np.float32)

    def steps(n):
        for i in range(n):
            layer.train(i % 7 != 0)  # mode switches too
            layer(x)
            layer.backward(g)

    steps(200)  # warm caches and lazily created state
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        steps(10_000)
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Each step's arrays are freed by the next; what stays is one step's worth (< 64 KiB
    # here). A leak of even one 32-byte object per step would show as 320 KB.
    assert after - before < 64 * 1024, f"traced memory grew by {after - before} bytes over 10,000 steps [{name}, {shape}]"


def test_global_numpy_state_untouched_by_every_variant():
    state = np.random.get_state()
    for cls, shape in map(module_and_shape, NAMES):
        layer = cls(0.5)
        layer(np.ones(shape))
        layer.backward(np.ones(shape))
    after = np.random.get_state()
    assert np.array_equal(state[1], after[1]) and state[2:] == after[2:], "npdrop drew from the global np.random"
