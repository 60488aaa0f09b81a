"""A notebook's dropout: a forward function that returns the output and leaves its mask in
a module-level variable, and a backward that takes only the upstream gradient and reads it.

Nothing is cached per call, so two "layers" built from these functions share one mask:
``instance-isolation`` must fail; everything else is correct inverted dropout.
"""
import numpy as np

from . import Expect

mask = None


def dropout_forward(x, p, training=True):
    global mask
    if not training or p == 0:
        mask = None
        return x
    if p == 1:
        mask = np.zeros_like(x)
        return x * mask
    mask = ((np.random.random_sample(x.shape) >= p) / (1 - p)).astype(x.dtype)
    return x * mask


# only instance-isolation: its backward(dout) is driven and correct
dropout_forward.expect = Expect(fails="instance-isolation", only=("instance-isolation",))


def dropout_backward(dout):
    return dout if mask is None else dout * mask
