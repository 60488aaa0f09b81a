"""npdrop.layout: torch's stride order for new results, checked against facts measured in torch.

The expected strides were read off torch 2.13 (``out.stride()`` of ``nn.Dropout(0.3)(x)``
for each layout of a (2, 3, 4, 5) input) and off the example in the comment of ATen's
``infer_dense_strides``; none is computed by the code under test.
"""
import numpy as np
import pytest

import npdrop
from npdrop.layout import dense_strides, stride_order


def channels_last(shape, rng):
    n, c, h, w = shape
    return rng.standard_normal((n, h, w, c)).astype(np.float32).transpose(0, 3, 1, 2)


# layout -> (array of shape (2, 3, 4, 5), the output strides torch gives it, in elements)
TORCH_STRIDES = {
    "contiguous": (lambda r: r.standard_normal((2, 3, 4, 5)).astype(np.float32), (60, 20, 5, 1)),
    "channels_last": (lambda r: channels_last((2, 3, 4, 5), r), (60, 1, 15, 3)),
    "channels_last_sliced": (lambda r: channels_last((2, 3, 4, 10), r)[..., ::2], (60, 1, 15, 3)),
    "permuted": (lambda r: r.standard_normal((5, 4, 3, 2)).astype(np.float32).transpose(), (1, 2, 6, 24)),
    "sliced": (lambda r: r.standard_normal((4, 6, 8, 10)).astype(np.float32)[1::2, 1::2, 1::2, 1::2], (60, 20, 5, 1)),
    "sliced_channels": (lambda r: r.standard_normal((2, 6, 4, 5)).astype(np.float32)[:, ::2], (60, 20, 5, 1)),
}


@pytest.mark.parametrize("layout", TORCH_STRIDES)
def test_output_strides_are_torchs(layout):
    make, expected = TORCH_STRIDES[layout]
    x = make(np.random.default_rng(0))
    for variant in (npdrop.Dropout, npdrop.Dropout2d, npdrop.AlphaDropout, npdrop.FeatureAlphaDropout):
        layer = variant(0.3, rng=0)
        out = layer(x)
        got = tuple(s // out.itemsize for s in out.strides)
        assert got == expected, f"output strides {got}, torch gives {expected} [{variant.__name__}, {layout} input]"
        grad = layer.backward(np.ones_like(out))  # upstream gradient in the output's layout
        assert grad.strides == out.strides, f"input gradient strides {grad.strides} vs output {out.strides} [{layout}]"
        c_grad = layer.backward(np.ones(x.shape, np.float32))  # a C-ordered one gives a C-ordered gradient
        assert c_grad.flags.c_contiguous, f"gradient of a C-ordered upstream gradient is not C-ordered [{layout}]"


def test_zero_strides_keep_their_place():
    """ATen's example: sizes (6, 5, 4, 3, 2), strides (6, 0, 120, 0, 1) sort (innermost first)
    to (4, 3, 0, 1, 2): outermost first that is (2, 1, 0, 3, 4)."""
    assert stride_order((6, 5, 4, 3, 2), (6, 0, 120, 0, 1)) == (2, 1, 0, 3, 4)


def test_dense_strides():
    assert dense_strides((2, 3, 4, 5), (0, 2, 3, 1)) == (60, 1, 15, 3)
    assert dense_strides((2, 0, 4), (0, 1, 2)) == (4, 4, 1)  # an empty axis counts as 1


def test_c_ordered_input_gives_c_ordered_output():
    x = np.ones((3, 4), np.float32)
    assert npdrop.Dropout(0.5, rng=0)(x).flags.c_contiguous


def test_out_and_inplace_keep_their_own_layout():
    x = channels_last((2, 3, 4, 5), np.random.default_rng(1))
    buf = np.empty(x.shape, np.float32)  # C-ordered buffer for a channels_last input
    out, _ = npdrop.dropout_forward(x, 0.3, rng=0, out=buf)
    assert out is buf and out.flags.c_contiguous
    y = x.copy(order="K")
    assert npdrop.Dropout(0.3, inplace=True, rng=0)(y) is y
