"""The conformance suite on the real dropout of other array libraries: one Markdown table.

    python frameworks/table.py [frameworks/table.md]        # or: make frameworks

Each row runs ``npdrop-conform MODULE:NAME`` (in a subprocess, with the row's environment,
e.g. ``KERAS_BACKEND``) on a library's own dropout, unmodified, and reads its JSON report;
a library that is not installed (or whose tool, such as tinygrad's clang, is not on the PATH) is
listed as such, never as passing. Each column is a
conformance property: ``pass``, ``FAIL(n)`` (n failed checks) or ``n/a`` (the library has
no such thing, e.g. no eval mode). Below the table, every failed cell is explained in words
from :data:`DIFFERENCES`; a failure with no explanation there is printed as *unexplained*
(then the table is news and this file needs a look).
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Optional
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from conformance.report import PROPERTIES, tier  # noqa: E402


@dataclass(frozen=True)
class Row:
    label: str                       #: library and variant, as the table shows it
    spec: str                        #: MODULE:NAME handed to npdrop-conform
    needs: str                       #: the module that must be importable
    reference: str = "Dropout"
    options: tuple = ()
    env: tuple = ()                  #: (name, value) pairs set in the environment of the run
    tool: str = ""                   #: a program the library needs on the PATH (tinygrad compiles with clang)

    def available(self) -> bool:
        """Whether the row can run here: its module importable, its tool (if any) on the PATH."""
        if importlib.util.find_spec(self.needs) is None:
            return False
        return not self.tool or shutil.which(os.environ.get("CC", self.tool)) is not None


ROWS = (
    Row("torch `nn.Dropout`", "torch.nn:Dropout", "torch"),
    Row("torch `F.dropout`", "torch.nn.functional:dropout", "torch"),
    Row("torch `nn.Dropout2d`", "torch.nn:Dropout2d", "torch", "Dropout2d"),
    Row("torch from scratch (`nn.Module`, `rand_like`)", "tests.gallery.frameworks_torch:TorchDropout", "torch"),
    Row("jax from scratch (`dropout(key, x, rate)`)", "tests.gallery.frameworks_jax:jax_dropout", "jax"),
    Row("flax `nnx.Dropout`", "flax.nnx:Dropout", "flax"),
    Row("flax `linen.Dropout`", "flax.linen:Dropout", "flax"),
    Row("flax linen module around `nn.Dropout` (its key from `make_rng`)",
        "tests.gallery.frameworks_flax:LinenAroundDropout", "flax"),
    Row("equinox `nn.Dropout`", "equinox.nn:Dropout", "equinox"),
    Row("haiku `hk.dropout`", "haiku:dropout", "haiku"),
    Row("haiku `hk.Module` around `hk.dropout` (inside `hk.transform`)",
        "tests.gallery.frameworks_haiku:HaikuAroundDropout", "haiku"),
    Row("jax `stax.Dropout` (an `(init_fun, apply_fun)` pair)", "jax.example_libraries.stax:Dropout", "jax"),
    Row("keras `layers.Dropout` (numpy backend)", "keras.layers:Dropout", "keras", env=(("KERAS_BACKEND", "numpy"),)),
    Row("keras `layers.Dropout` (jax backend)", "keras.layers:Dropout", "keras", env=(("KERAS_BACKEND", "jax"),)),
    Row("keras `layers.Dropout` (torch backend)", "keras.layers:Dropout", "keras", env=(("KERAS_BACKEND", "torch"),)),
    Row("keras `layers.SpatialDropout2D` (numpy backend)", "keras.layers:SpatialDropout2D", "keras", "Dropout2d",
        ("--impl-kwargs", 'data_format="channels_first"'), (("KERAS_BACKEND", "numpy"),)),
    Row("TensorFlow `tf.nn.dropout`", "tensorflow.nn:dropout", "tensorflow"),
    Row("thinc `Dropout` (a model factory)", "thinc.api:Dropout", "thinc"),
    Row("tinygrad `Tensor.dropout`", "tinygrad:Tensor.dropout", "tinygrad", tool="clang"),
    Row("MLX `nn.Dropout`", "mlx.nn:Dropout", "mlx"),
    Row("Paddle `nn.Dropout`", "paddle.nn:Dropout", "paddle"),
    Row("Paddle `nn.Dropout` (`mode='downscale_in_infer'`, the original form)", "paddle.nn:Dropout", "paddle",
        options=("--impl-kwargs", 'mode="downscale_in_infer"')),
    Row("Paddle `nn.functional.dropout`", "paddle.nn.functional:dropout", "paddle"),
)

_WHERE = ("a dropped inf or NaN comes out 0, torch's NaN (`inf * 0`): the library selects with "
          "`where(mask, x / keep, 0)` instead of multiplying by the mask")
_XLA_SELECT = ("a dropped inf or NaN comes out 0, torch's NaN (`inf * 0`): haiku multiplies (`keep * x / keep_rate`), "
               "but XLA compiles a product with a boolean mask into `select(keep, x, 0)`, so nothing is multiplied "
               "by 0")
_PLUS_ZERO = "a dropped negative unit comes out +0.0, torch's -0.0 (`x * 0`): a select writes the constant 0"
_RATE_ONE_RAISES = "rate 1 raises a `ValueError` (rate must be in [0, 1)); torch returns zeros"
_NAN_GRAD_AT_ONE = ("at p = 1 the gradient is NaN, torch's 0: the gradient of `where(mask, x / (1 - p), 0)` "
                    "is `0 * inf` where every unit is dropped")
_FLUSHED_KEEP = ("in float16 at p = 1 - 1e-5 and 1 - 1e-10 the gradient is NaN where torch's is 0: the keep "
                 "probability 1 - p in float16 is below its smallest normal (2^-14) or rounds to 0, and the "
                 "gradient of `where(mask, x / keep, 0)` is then `0/0`")
_FLOAT32_MASK = ("the mask is float32 whatever the input (`(coinflips >= drop) / (1 - drop)` cast to float32): "
                 "float16 and bfloat16 come out float32, and float64 results carry the scale rounded to float32 "
                 "(about 1e-7 relative off)")
_KERAS_POLICY = ("`layer(x, training=True)`, as Keras users call it, applies the layer's dtype policy (float32): "
                 "float16, float64 and bfloat16 input comes out float32, so every check in those dtypes gets "
                 "another dtype (and float64 float32's precision)")
_NO_P_CHECK = "p = -0.5 and 1.5 are taken without a word; torch raises `ValueError`"
_INT_PROMOTED = "int64 input in training comes out float64 (divided by the keep probability); torch raises"
_RAND_LIKE = ("`torch.rand_like` on a float16 or bfloat16 tensor draws its uniforms in that dtype, which has few "
              "values near 0: at p = 0.001 `u >= p` drops about 0.0013 (float16) and 0.003 (bfloat16) of the "
              "units, not 0.001")
_AUTOGRAD_INF = ("in float16 at p near 1 autograd's gradient of `x * keep / (1 - p)` is `g / 1e-10 = inf` before "
                 "the mask's 0 multiplies it: a dropped unit's gradient is NaN, torch's 0")
_INT_TO_FLOAT32 = "int64 input in training comes out float32 ({how}); torch raises"
_F16_RECIPROCAL = ("in float16 at p = 1 - 1e-5 and 1 - 1e-10 dropped units come out NaN, torch's 0: {how}")
_PADDLE_FLOAT_P = ("in float64 the {what} is computed from p rounded to float32 (paddle's dropout kernels take p as "
                   "a C++ `float`: `1.0f - dropout_prob`): at p = 0.3 about 2e-8 relative off, past float64's "
                   "tolerance; float16, bfloat16 and float32 are unaffected")
_PADDLE_SELECT = ("a dropped inf or NaN comes out 0, torch's NaN (`inf * 0`): paddle's compiled kernel writes 0 "
                  "for a dropped unit instead of multiplying (seen in its output)")
#: (spec, property) -> the difference from torch in words
DIFFERENCES = {
    ("tests.gallery.frameworks_torch:TorchDropout", "keep-rate"): _RAND_LIKE,
    ("tests.gallery.frameworks_torch:TorchDropout", "float16-near-one"): _AUTOGRAD_INF,
    ("tests.gallery.frameworks_torch:TorchDropout", "p-range"): _NO_P_CHECK + " (the from-scratch code has no check)",
    ("tests.gallery.frameworks_jax:jax_dropout", "p-range"): _NO_P_CHECK + " (the from-scratch code has no check)",
    ("tests.gallery.frameworks_jax:jax_dropout", "integer-input"): "int64 input comes back int64 (`jnp.where` of "
                                                                   "the input's dtype); torch raises",
    **{(spec, prop): words for spec in ("flax.nnx:Dropout", "flax.linen:Dropout") for prop, words in (
        ("nonfinite", _WHERE), ("signed-zero", _PLUS_ZERO), ("float16-near-one", _FLUSHED_KEEP),
        ("p-range", _NO_P_CHECK))},
    ("equinox.nn:Dropout", "nonfinite"): _WHERE,
    ("equinox.nn:Dropout", "signed-zero"): _PLUS_ZERO,
    ("equinox.nn:Dropout", "float16-near-one"): _FLUSHED_KEEP,
    ("equinox.nn:Dropout", "p-one"): _NAN_GRAD_AT_ONE + " (with the p = 1 cases of the forward and backward matrices)",
    ("equinox.nn:Dropout", "p-range"): _NO_P_CHECK,
    ("equinox.nn:Dropout", "integer-input"): _INT_PROMOTED,
    ("haiku:dropout", "nonfinite"): _XLA_SELECT + "; and " + _RATE_ONE_RAISES,
    ("haiku:dropout", "signed-zero"): _PLUS_ZERO.replace("a select writes", "XLA's select writes"),
    ("haiku:dropout", "p-one"): _RATE_ONE_RAISES + " (with the p = 1 cases of the forward and backward matrices)",
    ("haiku:dropout", "float16-near-one"): "at rate 1 - 1e-10 in float16 `keep * x / keep_rate` divides by "
                                           "float16(1e-10) = 0, so dropped units are 0/0 = NaN where torch gives 0; "
                                           "at 1 - 1e-5, a float16 subnormal that XLA flushes to 0, the gradient is NaN the same way",
    ("haiku:dropout", "integer-input"): _INT_PROMOTED,
    ("tensorflow.nn:dropout", "nonfinite"): _WHERE + "; and " + _RATE_ONE_RAISES,
    ("tensorflow.nn:dropout", "p-one"): _RATE_ONE_RAISES,
    **{("thinc.api:Dropout", prop): _FLOAT32_MASK for prop in ("forward", "nonfinite", "backward", "fuzz",
                                                                "p-one", "dtype", "float16-near-one")},
    ("thinc.api:Dropout", "p-range"): _NO_P_CHECK,
    ("thinc.api:Dropout", "integer-input"): _INT_PROMOTED.replace("(divided by the keep probability)",
                                                                  "(times the float mask)"),
    **{("keras.layers:Dropout", prop): _KERAS_POLICY for prop in (
        "forward", "backward", "fuzz", "grad-at-zero-input", "eval-identity", "p-zero", "mode-switch", "dtype",
        "float16-near-one", "p-one")},
    ("keras.layers:Dropout", "nonfinite"): _WHERE.replace("the library selects", "keras selects"),
    ("keras.layers:Dropout", "signed-zero"): _PLUS_ZERO,
    ("keras.layers:Dropout", "integer-input"): "`layer(x)` casts int64 input to float32 and drops it; torch raises",
    **{("keras.layers:SpatialDropout2D", prop): _KERAS_POLICY for prop in (
        "eval-identity", "p-zero", "mode-switch", "dtype", "float16-near-one", "p-one")},
    ("keras.layers:SpatialDropout2D", "forward"): _KERAS_POLICY + "; and it takes 4-D input only: the 3-D "
                                                  "`(N, C, L)` cases, which torch's `Dropout2d` also takes, raise a "
                                                  "`ValueError`",
    ("keras.layers:SpatialDropout2D", "fuzz"): "takes 4-D input only: a 3-D input drawn by the fuzzer raises",
    ("keras.layers:SpatialDropout2D", "noise-shape"): "takes 4-D input only: the 2-, 3- and 5-D inputs torch's "
                                                      "`Dropout2d` takes raise a `ValueError`",
    ("keras.layers:SpatialDropout2D", "nonfinite"): _WHERE.replace("the library selects", "keras selects"),
    ("keras.layers:SpatialDropout2D", "signed-zero"): _PLUS_ZERO,
    ("tinygrad:Tensor.dropout", "nonfinite"): "a dropped inf or NaN comes out 0, torch's NaN (`inf * 0`): "
                                              "tinygrad selects, `(rand >= p).where(x, 0) / (1 - p)`",
    ("tinygrad:Tensor.dropout", "signed-zero"): _PLUS_ZERO.replace("a select", "tinygrad's `where`"),
    ("tinygrad:Tensor.dropout", "float16-near-one"): _F16_RECIPROCAL.format(
        how="`where(x, 0) / (1 - p)` divides by the Python float `1 - p` in float16, and tinygrad divides by "
            "multiplying with the reciprocal, which is inf there (1e5 and 1e10 pass float16's 65504): 0 * inf"),
    ("tinygrad:Tensor.dropout", "integer-input"): _INT_TO_FLOAT32.format(
        how="`where(x, 0)` divided by a Python float, in tinygrad's default float"),
    ("mlx.nn:Dropout", "p-one"): "p = 1 raises a `ValueError` when the layer is built (p must be in [0, 1)); "
                                 "torch returns zeros (with the p = 1 cases of the forward and backward matrices)",
    ("mlx.nn:Dropout", "nonfinite"): "only the p = 1 cases: the layer cannot be built at p = 1 (`ValueError`); at "
                                     "every other p it multiplies by the mask, so a dropped inf is NaN as in torch",
    ("mlx.nn:Dropout", "float16-near-one"): _F16_RECIPROCAL.format(
        how="`(mask * x) * (1 / keep)` takes the Python float `1 / keep` (1e5, 1e10) in float16, inf, "
            "and a dropped unit is 0 * inf"),
    ("mlx.nn:Dropout", "integer-input"): _INT_TO_FLOAT32.format(
        how="`(mask * x)` stays int64, then `* (1 / keep)`, a Python float, makes it MLX's default float"),
    **{(spec, prop): _PADDLE_FLOAT_P.format(what="training scale 1/(1 - p)")
       for spec in ("paddle.nn:Dropout", "paddle.nn.functional:dropout") for prop in ("forward", "backward", "fuzz")},
    **{("paddle.nn:Dropout", prop): _PADDLE_FLOAT_P.format(
        what="evaluation factor 1 - p of `mode='downscale_in_infer'`") for prop in ("eval-identity", "mode-switch")},
    **{(spec, "nonfinite"): _PADDLE_SELECT for spec in ("paddle.nn:Dropout", "paddle.nn.functional:dropout")},
    **{(spec, "signed-zero"): _PLUS_ZERO.replace("a select writes", "paddle's kernel writes")
       for spec in ("paddle.nn:Dropout", "paddle.nn.functional:dropout")},
    ("keras.layers:SpatialDropout2D", "integer-input"): "`layer(x)` casts int64 input to float32 and drops it; "
                                                        "torch raises",
}
#: modules of one's own around a library's dropout (gallery entries) differ from torch where that dropout does
_AROUND = {"tests.gallery.frameworks_flax:LinenAroundDropout": "flax.linen:Dropout",
           "tests.gallery.frameworks_haiku:HaikuAroundDropout": "haiku:dropout"}
DIFFERENCES.update({(module, prop): words for module, library in _AROUND.items()
                    for (spec, prop), words in list(DIFFERENCES.items()) if spec == library})
_STAX = "jax.example_libraries.stax:Dropout"
DIFFERENCES.update({
    (_STAX, "nonfinite"): _WHERE.replace("the library selects with `where(mask, x / keep, 0)`",
                                         "stax selects with `where(keep, x / rate, 0)`"),
    (_STAX, "signed-zero"): _PLUS_ZERO,
    (_STAX, "float16-near-one"): _FLUSHED_KEEP.replace("the keep probability 1 - p", "stax's `rate`, its keep "
                                                       "probability 1 - p,").replace("x / keep", "x / rate"),
    (_STAX, "p-one"): "at p = 1 stax is handed rate 0 (its keep probability): the forward is zeros, but the "
                      "gradient of `where(keep, x / 0, 0)` is 0/0 = NaN, torch's 0",
    (_STAX, "p-range"): _NO_P_CHECK,
    (_STAX, "integer-input"): "int64 input comes out float64 (`x / rate`); torch raises",
})
#: explanations of cells that are n/a for a reason of the library's own
NOT_APPLICABLE = {
    "haiku:dropout": "`hk.dropout(rng, rate, x)` has no eval mode (the caller skips it): eval checks n/a",
    "tensorflow.nn:dropout": "`tf.nn.dropout` has no eval mode (the caller skips it): eval checks n/a",
    "keras.layers:Dropout@numpy": "keras' numpy backend has no autodiff: backward checks n/a",
    "keras.layers:SpatialDropout2D@numpy": "keras' numpy backend has no autodiff: backward checks n/a",
}


def run(row: Row, workdir: str, timeout: Optional[float] = 1200) -> dict:
    """The row's JSON report (``{}`` if none was written), its exit status, output tail and
    time; its log and reports stay in ``workdir``. ``timeout``: a hang guard (None: none)."""
    report = os.path.join(workdir, f"{abs(hash(row))}.json")
    command = [sys.executable, "-m", "npdrop_conform.cli", row.spec, "--reference", row.reference, *row.options,
               "--report-json", report, "--log-dir", os.path.join(workdir, f"{abs(hash(row))}-log"),
               "-q", "--tb=no", "-p", "no:cacheprovider", "-W", "ignore"]
    env = {**os.environ, **dict(row.env), "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - start
    data = json.loads(Path(report).read_text()) if os.path.exists(report) else {}
    return {"report": data, "code": done.returncode, "seconds": seconds, "output": (done.stdout + done.stderr)[-1500:]}


def _cell(status: dict) -> str:
    return {"fail": f"FAIL({status['failed']})", "pass": "pass", "n/a": "n/a", "skip": "skip"}[status["status"]]


def table(results: dict) -> str:
    props = [p for p in PROPERTIES
             if any(r is not None and p in r["report"].get("properties", {}) for r in results.values())]
    props = [p for p in props if tier(p) == "training"] + [p for p in props if tier(p) == "edge"]
    heads = [p if tier(p) == "training" else f"{p} *(edge)*" for p in props]
    lines = ["| library / variant | in training | " + " | ".join(heads) + " | time |",
             "|---|" + "---|" * (len(props) + 2)]
    explanations, unexplained = [], []
    for row, result in results.items():
        if result is None:
            lines.append(f"| {row.label} | not run | " + " | ".join("" for _ in props) + " | not installed |")
            continue
        properties = result["report"].get("properties", {})
        if not properties:
            lines.append(f"| {row.label} | could not be driven (exit {result['code']}) |" + " |" * (len(props) + 1))
            unexplained.append(f"{row.label}: {result['output'].strip().splitlines()[-1] if result['output'] else ''}")
            continue
        cells = []
        for prop in props:
            statuses = list(properties.get(prop, {}).values())
            cells.append(_cell(statuses[0]) if statuses else "")
        trains = "conforms" if result["report"].get("conforms_in_training") else "**FAIL**"
        lines.append(f"| {row.label} | {trains} | " + " | ".join(cells) + f" | {result['seconds']:.0f} s |")
        for prop in result["report"].get("failed_properties", []):
            words = DIFFERENCES.get((row.spec, prop))
            (explanations if words else unexplained).append(
                f"{row.label}, `{prop}` ({tier(prop)}): {words or 'unexplained'}")
        backend = dict(row.env).get("KERAS_BACKEND")
        na = NOT_APPLICABLE.get(f"{row.spec}@{backend}" if backend else row.spec)
        if na and any(s["status"] == "n/a" for by in properties.values() for s in by.values()):
            explanations.append(f"{row.label}: {na}")
    text = "\n".join(lines) + ("\n\n*in training*: whether the library conforms in every training property "
                                "(conformance/README.md, \"Two tiers\"); the *(edge)* columns differ only at NaN/inf "
                                "input, p = 1, float16 at p near 1, the sign of zero, p outside [0, 1], integer input.")
    if explanations:
        text += "\n\nThe differences from torch, in words:\n\n" + "\n".join(f"- {n}" for n in explanations)
    if unexplained:
        text += "\n\nNot explained (look into these):\n\n" + "\n".join(f"- {n}" for n in unexplained)
    return text + "\n"


DISTRIBUTIONS = ("torch", "jax", "flax", "equinox", "dm-haiku", "keras", "tensorflow-cpu", "tensorflow", "thinc",
                 "tinygrad", "mlx", "paddlepaddle")


def versions() -> str:
    """The installed versions of the libraries in the table, one line."""
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in DISTRIBUTIONS:
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            continue
    return "Measured with " + ", ".join(found) + "; time: wall seconds of the whole run."


def main(argv: list) -> int:
    target = Path(argv[0]) if argv else ROOT / "frameworks" / "table.md"
    results = {}
    with tempfile.TemporaryDirectory() as workdir:
        for row in ROWS:
            results[row] = run(row, workdir) if row.available() else None
            state = "not installed" if results[row] is None else f"exit {results[row]['code']}, " \
                f"{results[row]['seconds']:.0f} s"
            print(f"{row.label}: {state}", file=sys.stderr)
    text = versions() + "\n\n" + table(results)
    target.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
