"""npdrop's ``inplace=True`` against torch's ``inplace=True``, input object and all.

Torch's in-place dropout writes into its input and returns it (eval and p == 0 return the
input untouched; p == 1 writes ``x * 0``); AlphaDropout and FeatureAlphaDropout ignore
``inplace``. For each case npdrop must produce torch's output bit for bit, leave its input
array exactly as torch leaves its input tensor, and return the input object exactly when
torch does.
"""
import warnings

import numpy as np
import pytest

pytest.importorskip("torch")

import npdrop  # noqa: E402
from .harness import DTYPE_IDS, PS, Judge, draw_keep  # noqa: E402
from .inputs import make_input  # noqa: E402
from .reference import run_torch, torch_draws  # noqa: E402
from .variants import VARIANTS  # noqa: E402

pytestmark = [pytest.mark.prop("inplace"), pytest.mark.filterwarnings("ignore::UserWarning")]


@pytest.mark.parametrize("training", (True, False), ids=("train", "eval"))
@pytest.mark.parametrize("layout", ("batched", "transposed"))
@pytest.mark.parametrize("p", PS, ids=lambda p: f"p{p}")
@pytest.mark.parametrize("dtype", DTYPE_IDS, indirect=True)
@pytest.mark.parametrize("variant", VARIANTS.values(), ids=str)
def test_inplace_matches_torch(variant, dtype, p, layout, training, rng, repro):
    x = make_input(variant, layout, dtype, rng)
    original = x.copy()
    keep = draw_keep(variant, x.shape, p, rng) if torch_draws(variant, p, x, training) else None
    layer = getattr(npdrop, variant.name)(p, inplace=True, rng=0).train(training)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = layer(x, mask=keep)
    expected = run_torch(variant, p, original, keep, training=training, inplace=True)
    judge = Judge(None, variant, p, dtype, x.shape, repro)
    judge.same(out, expected.out, "in-place output", exact=True)
    judge.same(x, expected.input_after, "input after the in-place call", exact=True)
    assert (out is x) == expected.same_object, (
        f"npdrop returned {'its input' if out is x else 'a new array'}, torch "
        f"{'its input' if expected.same_object else 'a new tensor'} [{variant}(p={p}, inplace=True), "
        f"{'train' if training else 'eval'}]")
