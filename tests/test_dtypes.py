"""bfloat16 through ml_dtypes: optional, recognised without importing it, and kept through dropout."""
import subprocess
import sys

import numpy as np
import pytest

import hang_guard

import npdrop
from npdrop.dtypes import is_bfloat16, is_float, opmath


def test_runtime_works_without_ml_dtypes():
    """With ml_dtypes unimportable, npdrop imports and runs, and float16/32/64 are unchanged."""
    code = (
        "import sys; sys.modules['ml_dtypes'] = None\n"
        "import numpy as np, npdrop\n"
        "y = npdrop.Dropout(0.5, rng=0)(np.ones((4, 8), np.float32))\n"
        "assert y.dtype == np.float32 and set(np.unique(y)) <= {0.0, 2.0}\n"
        "print('ok')\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=hang_guard.limit(300))
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stdout + run.stderr


def test_npdrop_does_not_import_ml_dtypes():
    code = ("import sys, numpy as np, npdrop\n"
            "npdrop.AlphaDropout(0.3, rng=0).train()(np.ones(50, np.float16))\n"
            "print('ml_dtypes' in sys.modules)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=hang_guard.limit(300))
    assert run.stdout.strip() == "False", run.stdout + run.stderr


def test_numpy_dtypes_are_not_bfloat16():
    for dtype in (np.float16, np.float32, np.float64, np.int16, np.uint16, np.dtype("V2")):
        assert not is_bfloat16(dtype), dtype
    with pytest.raises(TypeError, match="longdouble|float128|float96"):  # torch has no such dtype
        npdrop.Dropout(0.5, rng=0)(np.ones(3, np.longdouble))


def test_bfloat16_is_kept_through_every_variant():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    bf16 = np.dtype(ml_dtypes.bfloat16)
    assert is_bfloat16(bf16) and is_float(bf16) and opmath(bf16) is np.float32
    x = np.linspace(-3, 3, 2 * 4 * 6 * 5).reshape(2, 4, 6, 5).astype(bf16)
    for variant in (npdrop.Dropout, npdrop.Dropout2d, npdrop.AlphaDropout, npdrop.FeatureAlphaDropout,
                    npdrop.GaussianDropout):
        layer = variant(0.3, rng=0)
        out = layer(x)
        grad = layer.backward(np.ones(x.shape, bf16))
        assert out.dtype == bf16 and grad.dtype == bf16, f"{variant.__name__}: {out.dtype}, {grad.dtype}"


def test_bfloat16_dropout_scales_kept_units_by_the_rounded_scale():
    """p = 0.3: 1/0.7 = 1.428571... is 1.4296875 in bfloat16 (0x3fb7, rounded to nearest even)."""
    ml_dtypes = pytest.importorskip("ml_dtypes")
    out = npdrop.Dropout(0.3, rng=0)(np.ones(1000, ml_dtypes.bfloat16))
    assert set(np.unique(out.view(np.uint16)).tolist()) == {0x0000, 0x3FB7}
