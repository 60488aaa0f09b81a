"""Other libraries' own dropout, run unmodified (the rows of frameworks/table.py): torch's
modules are clean; JAX and Keras ones fail exactly the properties where they really differ
from torch, every failure explained in words by the table's explanations; nothing else fails.

Each run is ``npdrop-conform MODULE:NAME`` in a subprocess; rows whose library is not
installed are skipped (``make test`` installs jax, keras, flax, equinox, haiku, thinc and MLX;
``make frameworks`` adds tinygrad, whose row also needs clang on the PATH, and Paddle).
TensorFlow's and Paddle's rows are left to ``make frameworks``: too heavy here.
"""
from __future__ import annotations

import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import hang_guard

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "frameworks"))

import table  # noqa: E402
from conformance.report import tier  # noqa: E402

#: row label -> the properties that must fail (each a real difference from torch; see the table's explanations);
#: the training ones fail the run, the edge ones (conformance/README.md, "Two tiers") are listed only
_WHERE_EDGES = {"nonfinite", "signed-zero"}                            # where-style selection
EXPECTED = {
    "torch `nn.Dropout`": set(),
    "torch `F.dropout`": set(),
    "torch `nn.Dropout2d`": set(),
    # layer(x) applies the float32 dtype policy; where-style selection; int64 cast to float32
    "keras `layers.Dropout` (numpy backend)": {"forward", "fuzz", "eval-identity", "p-zero", "mode-switch", "dtype",
                                               "float16-near-one", "p-one", "integer-input"} | _WHERE_EDGES,
    # the same on the torch backend (seeded: bernoulli + where), and float32's precision in float64's backward
    "keras `layers.Dropout` (torch backend)": {"forward", "backward", "fuzz", "grad-at-zero-input", "eval-identity",
                                               "p-zero", "mode-switch", "dtype", "float16-near-one", "p-one",
                                               "integer-input"} | _WHERE_EDGES,
    # where-style; a float16 keep probability near 0 flushed (0/0 gradient); p not checked
    "flax `nnx.Dropout`": _WHERE_EDGES | {"float16-near-one", "p-range"},
    "flax `linen.Dropout`": _WHERE_EDGES | {"float16-near-one", "p-range"},
    # and a NaN gradient at p = 1, int64 promoted
    "equinox `nn.Dropout`": _WHERE_EDGES | {"float16-near-one", "p-one", "p-range", "integer-input"},
    # XLA selects; rate 1 raises; float16(1e-10) = 0 divides; int64 promoted
    "haiku `hk.dropout`": _WHERE_EDGES | {"float16-near-one", "p-one", "integer-input"},
    # rate is its keep probability: where-style; x / rate with rate 0 (p = 1) or flushed in float16 gives a NaN
    # gradient; p not checked; int64 promoted
    "jax `stax.Dropout` (an `(init_fun, apply_fun)` pair)": _WHERE_EDGES | {"float16-near-one", "p-one", "p-range",
                                                                            "integer-input"},
    # a float32 mask whatever the input dtype; p not checked; int64 promoted
    "thinc `Dropout` (a model factory)": {"forward", "backward", "fuzz", "dtype", "nonfinite", "float16-near-one",
                                          "p-one", "p-range", "integer-input"},
    # selects; divides by a float16 1 - p through its reciprocal; int64 made float32 (zeros at p = 1, as torch)
    "tinygrad `Tensor.dropout`": _WHERE_EDGES | {"float16-near-one", "integer-input"},
    # multiplies like torch (keeps -0.0, a dropped inf is NaN); p = 1 refused; a float16 scale of inf; int64 made float32
    "MLX `nn.Dropout`": {"nonfinite", "float16-near-one", "p-one", "integer-input"},
}
ROWS = {row.label: row for row in table.ROWS if row.label in EXPECTED}


def _installed(label: str) -> bool:
    return ROWS[label].available()


@pytest.fixture(scope="module")
def results():
    labels = [label for label in EXPECTED if _installed(label)]
    with tempfile.TemporaryDirectory() as workdir, ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(labels, pool.map(lambda label: table.run(ROWS[label], workdir, hang_guard.limit(1200)), labels)))


@pytest.mark.parametrize("label", [pytest.param(label, marks=pytest.mark.skipif(
    not _installed(label), reason=f"{ROWS[label].needs} (or the {ROWS[label].tool or 'tool'} it needs) is not "
                                  "installed")) for label in EXPECTED])
def test_library_fails_exactly_where_it_differs_from_torch(results, label):
    result = results[label]
    report = result["report"]
    assert report, f"{label}: no report (exit {result['code']}):\n{result['output']}"
    failed = set(report["failed_properties"])
    assert failed == EXPECTED[label], f"{label}: failed {sorted(failed)}, expected {sorted(EXPECTED[label])}"
    training = {prop for prop in failed if tier(prop) == "training"}
    assert report["conforms_in_training"] is not training and result["code"] == (1 if training else 0)
    ran = report["totals"]["passed"] + report["totals"]["failed"]   # keras' float32 policy fails most dtype cases
    assert ran > 150 and report["totals"]["passed"] > 50, f"{label}: only {ran} checks ran, {report['totals']}"
    for prop in failed:
        assert (ROWS[label].spec, prop) in table.DIFFERENCES, f"{label}: {prop} failed, and the table cannot say why"


def test_the_table_lists_a_missing_library_as_such_never_as_passing():
    row = table.Row("nothing", "no_such_library:dropout", "no_such_library")
    text = table.table({row: None})
    assert "| nothing |" in text and "not installed" in text and "pass" not in text
