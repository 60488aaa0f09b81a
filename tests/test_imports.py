"""The runtime apart from the test tools: ``import npdrop`` needs numpy only."""
import subprocess
import sys

import hang_guard


def _run(code: str) -> str:
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=hang_guard.limit(300))
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout.strip()


def test_import_npdrop_leaves_out_testing_and_torch():
    """Every layer and TorchCPUGenerator run without npdrop.testing or torch being imported."""
    code = (
        "import sys, numpy as np, npdrop\n"
        "x = np.ones((2, 3, 4, 5, 6), np.float32)\n"
        "for layer in (npdrop.Dropout, npdrop.Dropout2d, npdrop.Dropout3d, npdrop.AlphaDropout,\n"
        "              npdrop.FeatureAlphaDropout, npdrop.GaussianDropout):\n"
        "    layer(0.3, rng=npdrop.TorchCPUGenerator(0))(x)\n"
        "npdrop.Dropout1d(0.3, rng=0)(x[0, 0])\n"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith(('torch.', 'npdrop.testing'))))\n"
    )
    assert _run(code) == "[]"


def test_runtime_and_numpy_tools_work_with_torch_unimportable():
    """With torch blocked, npdrop and npdrop.testing's numpy tools import; only the injection needs torch."""
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import numpy as np, npdrop\n"
        "from npdrop.testing import assert_same\n"
        "assert_same(npdrop.Dropout(0.5, rng=0)(np.ones(8)), npdrop.Dropout(0.5, rng=0)(np.ones(8)))\n"
        "try:\n"
        "    import npdrop.testing.inject\n"
        "except ImportError:\n"
        "    print('inject needs torch')\n"
    )
    assert _run(code) == "inject needs torch"


def test_injecting_a_mask_does_not_import_torch_dynamo():
    """The draw modes opt out of torch's dynamo wrapping of ``__torch_dispatch__``: its first
    call would import ``torch._dynamo``, about 1 s of CPU in every process that injects."""
    code = (
        "import sys, numpy as np, torch\n"
        "from npdrop.testing.inject import inject_masks\n"
        "with inject_masks([np.ones((2, 3), bool)]):\n"
        "    torch.nn.functional.dropout(torch.ones(2, 3), 0.5, True)\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    assert _run(code) == "False"
