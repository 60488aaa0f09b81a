"""The conformance suite on the real dropout of other array libraries: one Markdown table.

    python frameworks/table.py [frameworks/table.md]        # or: make frameworks

Each row runs ``npdrop-conform MODULE:NAME`` (in a subprocess, with the row's environment,
e.g. ``KERAS_BACKEND``) on a library's own dropout, unmodified, and reads its JSON report;
a library that is not installed is listed as such, never as passing. Each column is a
conformance property: ``pass``, ``FAIL(n)`` (n failed checks) or ``n/a`` (the library has
no such thing, e.g. no eval mode). Below the table, every failed cell is explained in words
from :data:`DIFFERENCES`; a failure with no explanation there is printed as *unexplained*
(then the table is news and this file needs a look).
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
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


ROWS = (
    Row("torch `nn.Dropout`", "torch.nn:Dropout", "torch"),
    Row("torch `F.dropout`", "torch.nn.functional:dropout", "torch"),
    Row("torch `nn.Dropout2d`", "torch.nn:Dropout2d", "torch", "Dropout2d"),
    Row("torch from scratch (`nn.Module`, `rand_like`)", "tests.gallery.frameworks_torch:TorchDropout", "torch"),
    Row("jax from scratch (`dropout(key, x, rate)`)", "tests.gallery.frameworks_jax:jax_dropout", "jax"),
    Row("flax `nnx.Dropout`", "flax.nnx:Dropout", "flax"),
    Row("flax `linen.Dropout`", "flax.linen:Dropout", "flax"),
    Row("equinox `nn.Dropout`", "equinox.nn:Dropout", "equinox"),
    Row("haiku `hk.dropout`", "haiku:dropout", "haiku"),
    Row("keras `layers.Dropout` (numpy backend)", "keras.layers:Dropout", "keras", env=(("KERAS_BACKEND", "numpy"),)),
    Row("keras `layers.Dropout` (jax backend)", "keras.layers:Dropout", "keras", env=(("KERAS_BACKEND", "jax"),)),
    Row("keras `layers.SpatialDropout2D` (numpy backend)", "keras.layers:SpatialDropout2D", "keras", "Dropout2d",
        ("--impl-kwargs", 'data_format="channels_first"'), (("KERAS_BACKEND", "numpy"),)),
    Row("TensorFlow `tf.nn.dropout`", "tensorflow.nn:dropout", "tensorflow"),
    Row("thinc `Dropout` (a model factory)", "thinc.api:Dropout", "thinc"),
)

_WHERE = ("a dropped inf or NaN comes out 0, torch's NaN (`inf * 0`): the library selects with "
          "`where(mask, x / keep, 0)` instead of multiplying by the mask")
_RATE_ONE_RAISES = "rate 1 raises a `ValueError` (rate must be in [0, 1)); torch returns zeros"
_NAN_GRAD_AT_ONE = ("at p = 1 the gradient is NaN, torch's 0: the gradient of `where(mask, x / (1 - p), 0)` "
                    "is `0 * inf` where every unit is dropped")
_FLOAT32_MASK = ("the mask is float32 whatever the input (`(coinflips >= drop) / (1 - drop)` cast to float32): "
                 "float16 and bfloat16 come out float32, and float64 results carry the scale rounded to float32 "
                 "(about 1e-7 relative off)")
#: (spec, property) -> the difference from torch in words
DIFFERENCES = {
    ("flax.nnx:Dropout", "nonfinite"): _WHERE,
    ("flax.linen:Dropout", "nonfinite"): _WHERE,
    ("equinox.nn:Dropout", "nonfinite"): _WHERE,
    ("equinox.nn:Dropout", "p-one"): _NAN_GRAD_AT_ONE,
    ("equinox.nn:Dropout", "backward"): _NAN_GRAD_AT_ONE + " (the p = 1 cases of the backward matrix)",
    ("equinox.nn:Dropout", "fuzz"): _NAN_GRAD_AT_ONE + " (p = 1 drawn by the fuzzer)",
    ("haiku:dropout", "nonfinite"): _WHERE + "; and " + _RATE_ONE_RAISES,
    ("haiku:dropout", "p-one"): _RATE_ONE_RAISES,
    ("haiku:dropout", "forward"): _RATE_ONE_RAISES + " (the p = 1 cases of the forward matrix); and at rate "
                                  "1 - 1e-10 in float16 `keep * x / keep_rate` divides by float16(1e-10) = 0, so "
                                  "dropped units are 0/0 = NaN where torch gives 0",
    ("haiku:dropout", "backward"): _RATE_ONE_RAISES + " (the p = 1 cases of the backward matrix)",
    ("haiku:dropout", "fuzz"): _RATE_ONE_RAISES + " (p = 1 drawn by the fuzzer)",
    ("tensorflow.nn:dropout", "nonfinite"): _WHERE + "; and " + _RATE_ONE_RAISES,
    ("tensorflow.nn:dropout", "p-one"): _RATE_ONE_RAISES,
    ("tensorflow.nn:dropout", "forward"): _RATE_ONE_RAISES + " (the p = 1 cases of the forward matrix)",
    ("tensorflow.nn:dropout", "backward"): _RATE_ONE_RAISES + " (the p = 1 cases of the backward matrix)",
    ("tensorflow.nn:dropout", "fuzz"): _RATE_ONE_RAISES + " (p = 1 drawn by the fuzzer)",
    **{("thinc.api:Dropout", prop): _FLOAT32_MASK for prop in ("forward", "nonfinite", "backward", "fuzz",
                                                                "p-one", "dtype")},
    ("keras.layers:Dropout", "nonfinite"): _WHERE.replace("the library selects", "keras selects"),
    ("keras.layers:SpatialDropout2D", "forward"): "takes 4-D input only: the 3-D `(N, C, L)` cases, which "
                                                  "torch's `Dropout2d` also takes, raise a `ValueError`",
    ("keras.layers:SpatialDropout2D", "fuzz"): "takes 4-D input only: a 3-D input drawn by the fuzzer raises",
    ("keras.layers:SpatialDropout2D", "nonfinite"): _WHERE.replace("the library selects", "keras selects"),
}
#: explanations of cells that are n/a for a reason of the library's own
NOT_APPLICABLE = {
    "haiku:dropout": "`hk.dropout(rng, rate, x)` has no eval mode (the caller skips it): eval checks n/a",
    "tensorflow.nn:dropout": "`tf.nn.dropout` has no eval mode (the caller skips it): eval checks n/a",
    "keras.layers:Dropout@numpy": "keras' numpy backend has no autodiff: backward checks n/a",
    "keras.layers:SpatialDropout2D@numpy": "keras' numpy backend has no autodiff: backward checks n/a",
}


def run(row: Row, workdir: str) -> dict:
    """The row's JSON report (``{}`` if none was written), its exit status, output tail and time."""
    report = os.path.join(workdir, f"{abs(hash(row))}.json")
    command = [sys.executable, "-m", "conformance.cli", row.spec, "--reference", row.reference, *row.options,
               "--report-json", report, "-q", "--tb=no", "-p", "no:cacheprovider", "-W", "ignore"]
    env = {**os.environ, **dict(row.env), "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
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


DISTRIBUTIONS = ("torch", "jax", "flax", "equinox", "dm-haiku", "keras", "tensorflow-cpu", "tensorflow", "thinc")


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
            results[row] = run(row, workdir) if importlib.util.find_spec(row.needs) else None
            state = "not installed" if results[row] is None else f"exit {results[row]['code']}, " \
                f"{results[row]['seconds']:.0f} s"
            print(f"{row.label}: {state}", file=sys.stderr)
    text = versions() + "\n\n" + table(results)
    target.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
