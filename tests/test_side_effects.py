"""Side effects: no memory growth over many steps, the global np.random state untouched."""
import gc
import tracemalloc

import numpy as np
import pytest

import npdrop

VARIANTS = {
    "Dropout": (npdrop.Dropout, (64, 128)),
    "Dropout2d": (npdrop.Dropout2d, (8, 16, 4, 4)),
    "AlphaDropout": (npdrop.AlphaDropout, (64, 128)),
    "GaussianDropout": (npdrop.GaussianDropout, (64, 128)),
}


@pytest.mark.parametrize("name", VARIANTS)
def test_ten_thousand_steps_do_not_grow_memory(name):
    cls, shape = VARIANTS[name]
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
    for cls, shape in VARIANTS.values():
        layer = cls(0.5)
        layer(np.ones(shape))
        layer.backward(np.ones(shape))
    after = np.random.get_state()
    assert np.array_equal(state[1], after[1]) and state[2:] == after[2:], "npdrop drew from the global np.random"
