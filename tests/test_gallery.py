"""The conformance harness catches real mistakes: every faulty gallery entry fails, with the
broken property named, and every correct one passes; where the fault is one the harness
knows (:mod:`conformance.diagnose`), the report names it (``diagnoses``), and correct
entries get no diagnosis.

Each entry runs the plugged-in-implementation subset of the suite in a subprocess,
``python -m pytest <generic conformance modules> --impl tests.gallery.<module>:<Class>
--report-json ...``; the runs go in parallel (one per CPU) once per pytest run, and each
entry's test reads its report. Needs torch (the harness compares with it): skipped without.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]
#: The conformance modules that apply to any implementation (the ``any_impl`` subset).
GENERIC = ["conformance/test_forward.py", "conformance/test_modes.py",
           "conformance/test_contract.py", "conformance/test_statistics.py", "conformance/test_fuzz_torch.py"]

#: entry -> (torch reference, the property that must fail; None for a correct entry)
ENTRIES = {
    "values:ScaleByInverseP": ("Dropout", "forward"),
    "values:NoScaling": ("Dropout", "forward"),
    "values:NanAtPOne": ("Dropout", "p-one"),
    "values:Float64Output": ("Dropout", "dtype"),
    "values:WhereLiteralZero": ("Dropout", "nonfinite"),
    "draws:PAsKeepProbability": ("Dropout", "keep-rate"),
    "draws:Uint8Threshold": ("Dropout", "keep-rate"),
    "draws:OneMaskPerBatch": ("Dropout", "batch-independence"),
    "draws:MaskNeverRedrawn": ("Dropout", "call-independence"),
    "draws:ReseedsEveryCall": ("Dropout", "call-independence"),
    "state:DropsAtEval": ("Dropout", "eval-identity"),
    "state:ScalesAtEval": ("Dropout", "eval-identity"),
    "state:StaleMaskAfterEval": ("Dropout", "mode-switch"),
    "state:SharedClassMask": ("Dropout", "instance-isolation"),
    "state:ModifiesInput": ("Dropout", "input-unchanged"),
    "backward:BackwardWithoutScale": ("Dropout", "backward"),
    "backward:BackwardFreshMask": ("Dropout", "backward-reuses-mask"),
    "backward:BackwardFromOutput": ("Dropout", "grad-at-zero-input"),
    "backward:BackwardIgnoresMask": ("Dropout", "backward-reuses-mask"),
    "variants:ChannelPerElement": ("Dropout2d", "noise-shape"),
    "variants:ChannelWrongAxis": ("Dropout2d", "noise-shape"),
    "variants:AlphaWrongConstant": ("AlphaDropout", "forward"),
    "variants:AlphaBackwardAddsShift": ("AlphaDropout", "backward"),
    "variants:AlphaDropsToZero": ("AlphaDropout", "forward"),
    "faults:OriginalDropout": ("Dropout", "eval-identity"),
    "faults:KeepProbDivide": ("Dropout", "keep-rate"),
    "faults:Float32Mask": ("Dropout", "dtype"),
    "faults:BackwardAfterEvalRaises": ("Dropout", "mode-switch"),
    "faults:MaskedNoScale": ("Dropout", "forward"),
    "faults:MaskedFixedMask": ("Dropout", "call-independence"),
    "faults:ChannelNoScale": ("Dropout2d", "forward"),
    "faults:AlphaOneMaskPerBatch": ("AlphaDropout", "batch-independence"),
    "faults:ScaleDividesByZero": ("Dropout", "p-one"),
    "faults:NoEvalModeNoScale": ("Dropout", "forward"),
    "_base:BlackBoxDropout": ("Dropout", None),
    "_base:BlackBoxAlphaDropout": ("AlphaDropout", None),
    "correct:WhereDropout": ("Dropout", None),
    "correct:IndexDropout": ("Dropout", None),
    # correct but at p = 1 - 1e-10 in float16, where x.dtype.type(1 - p) rounds to 0: 0/0 = NaN, torch 0
    "correct:NoiseDropout": ("Dropout", None),
    "correct:ChannelDropout2d": ("Dropout2d", None),
    "correct:SeluAlphaDropout": ("AlphaDropout", None),
    # the shapes people write: every calling convention, run unmodified
    "shapes_attributes:LayerDropout": ("Dropout", None),
    "shapes_attributes:LayerDropoutStaleMask": ("Dropout", "mode-switch"),
    "shapes_modes:TrainFlgDropout": ("Dropout", None),
    "shapes_modes:IsTrainingDropout": ("Dropout", None),
    "shapes_modes:ModeStringDropout": ("Dropout", None),
    "shapes_modes:FlaxLikeDropout": ("Dropout", None),
    "shapes_modes:FlaxLikeInverted": ("Dropout", "eval-identity"),
    "shapes_modes:KerasLikeDropout": ("Dropout", None),
    "shapes_modes:KerasLikeDropsAlways": ("Dropout", "eval-identity"),
    "shapes_cs231n:dropout_forward": ("Dropout", None),
    "shapes_cs231n:old_dropout_forward": ("Dropout", None),
    "shapes_cs231n:cached_dropout_forward": ("Dropout", "mode-switch"),
    "shapes_forward_only:dropout_layer": ("Dropout", None),
    "shapes_forward_only:dropout_layer_flag": ("Dropout", None),
    "shapes_forward_only:dropout_layer_nan": ("Dropout", "p-one"),
    "shapes_names:FpropDropout": ("Dropout", None),
    "shapes_names:RunDropout": ("Dropout", None),
    "shapes_names:ForwardPassDropout": ("Dropout", "backward"),
    "shapes_keep:KeepProbDropout": ("Dropout", None),
    "shapes_keep:KeepP": ("Dropout", None),
    "shapes_keep:KeepProbWrongScale": ("Dropout", "forward"),
    "shapes_original:OriginalDropout": ("Dropout", None),
    "shapes_original:OriginalNoEvalScale": ("Dropout", "eval-identity"),
    "shapes_global:dropout": ("Dropout", None),
    "shapes_global:dropout_ignores_config": ("Dropout", "eval-identity"),
    # written in other array libraries: driven in their own arrays and autodiff
    "frameworks_torch:TorchDropout": ("Dropout", None),
    "frameworks_torch:torch_dropout": ("Dropout", None),
    "frameworks_torch:TorchNoScale": ("Dropout", "forward"),
    "frameworks_torch:TorchDropsAtEval": ("Dropout", "eval-identity"),
    "frameworks_torch:TorchRefusesBfloat16": ("Dropout", None),
    "frameworks_torch:torch_dropout_zeros_at_p_one": ("Dropout", "nonfinite"),
    "frameworks_jax:jax_dropout": ("Dropout", None),
    "frameworks_jax:KeyedDropout": ("Dropout", None),
    "frameworks_jax:KeyFixedAtConstruction": ("Dropout", "call-independence"),
    # held-out cases: correct code never flagged, faults never reported clean or named wrongly
    "verdicts:RefusesBfloat16": ("Dropout", None),
    "seterr_raise:SeterrDropout": ("Dropout", None),
    "seterr_raise:CarefulDropout": ("Dropout", None),
    "verdicts:ReseedsInBackward": ("Dropout", "call-independence"),
    "verdicts:Float16ScaleOverflow": ("Dropout", "forward"),
    "verdicts:ReturnsList": ("Dropout", "forward"),
    "verdicts:NoneAtEval": ("Dropout", "eval-identity"),
    "verdicts:ReturnsInput": ("Dropout", "keep-rate"),
    "verdicts:KeepProbDropsWithIt": ("Dropout", "keep-rate"),
    "shapes_notebook:dropout_forward": ("Dropout", "instance-isolation"),
}
#: entry module -> the library it needs beyond torch (its entries are skipped without it)
NEEDS = {"frameworks_jax": "jax"}


def _available(entry: str) -> bool:
    import importlib.util

    needed = NEEDS.get(entry.partition(":")[0])
    return needed is None or importlib.util.find_spec(needed) is not None


def _entries(entries) -> list:
    return [e if _available(e) else pytest.param(e, marks=pytest.mark.skip(
        reason=f"{NEEDS[e.partition(':')[0]]} is not installed")) for e in entries]
#: entry -> the options it needs beyond --impl and --reference (what no name can tell).
OPTIONS = {
    "shapes_cs231n:dropout_forward": ["--p-means", "keep"],
    "shapes_names:RunDropout": ["--forward", "run"],
    "shapes_keep:KeepP": ["--p-means", "keep"],
    "shapes_original:OriginalDropout": ["--form", "original"],
    "shapes_original:OriginalNoEvalScale": ["--form", "original"],
}
#: entries with no backward: their backward properties must be n/a, never pass or fail.
FORWARD_ONLY = ("shapes_modes:KerasLikeDropout", "shapes_forward_only:dropout_layer",
                "shapes_forward_only:dropout_layer_flag", "shapes_global:dropout")

#: entry -> every property that must fail, and no other (a fault counted once, where it is)
ONLY = {
    "draws:OneMaskPerBatch": ("batch-independence",),         # not call-independence, keep-rate, noise-shape
    "faults:AlphaOneMaskPerBatch": ("batch-independence",),
    "shapes_notebook:dropout_forward": ("instance-isolation",),  # its backward(dout) is driven and correct
    "verdicts:NoneAtEval": ("eval-identity", "mode-switch", "dtype"),   # the three that evaluate
    "frameworks_torch:torch_dropout_zeros_at_p_one": ("nonfinite",),     # p-one and backward pass
}
#: entry -> (property, words one of its failure messages must contain)
MESSAGES = {
    "verdicts:ReturnsList": ("forward", "forward returned a list"),
    "verdicts:NoneAtEval": ("eval-identity", "forward returned None"),
    "verdicts:Float16ScaleOverflow": ("forward", "p = 1 - 1e-10, float16"),
    "verdicts:ReseedsInBackward": ("call-independence", "training steps 2 and 3"),
}
#: entry -> words its diagnoses' advice must contain (read from the resolved p meaning)
ADVICE = {
    "verdicts:KeepProbDropsWithIt": "run with --p-means drop",
}
#: correct entries that refuse bfloat16: those cells are n/a ("unsupported"), never failed
REFUSES_BFLOAT16 = ("verdicts:RefusesBfloat16", "frameworks_torch:TorchRefusesBfloat16")

#: entry -> the diagnosis ids its report must name (entries not listed: none at all)
DIAGNOSES = {
    "values:ScaleByInverseP": ("scale-by-p",),
    "values:NoScaling": ("no-scale",),
    "values:NanAtPOne": ("nan-at-p1",),
    "values:WhereLiteralZero": ("where-select",),
    "values:Float64Output": ("dtype-upcast",),
    "draws:PAsKeepProbability": ("keep-prob",),
    "draws:Uint8Threshold": ("quantised-threshold",),
    "draws:OneMaskPerBatch": ("batch-shared-mask",),
    "draws:MaskNeverRedrawn": ("fixed-mask",),
    "draws:ReseedsEveryCall": ("fixed-mask",),
    "state:StaleMaskAfterEval": ("eval-backward",),
    "backward:BackwardWithoutScale": ("backward-no-scale",),
    "backward:BackwardFreshMask": ("fresh-mask-backward",),
    "faults:OriginalDropout": ("original-form",),
    # p read as keep probability; its float64 mask upcasts; at p = 0 (keep 0) it divides 0 by 0
    "faults:KeepProbDivide": ("keep-prob", "dtype-upcast", "nan-at-p1"),
    "faults:Float32Mask": ("dtype-upcast",),
    "faults:BackwardAfterEvalRaises": ("eval-backward",),
    "faults:MaskedNoScale": ("no-scale",),
    "faults:MaskedFixedMask": ("fixed-mask",),
    "faults:ChannelNoScale": ("no-scale",),
    "faults:AlphaOneMaskPerBatch": ("batch-shared-mask",),
    "faults:ScaleDividesByZero": ("nan-at-p1",),
    "faults:NoEvalModeNoScale": ("no-scale",),
    "shapes_attributes:LayerDropoutStaleMask": ("eval-backward",),
    "shapes_modes:FlaxLikeInverted": ("never-drops",),
    "shapes_cs231n:cached_dropout_forward": ("eval-backward",),
    "shapes_forward_only:dropout_layer_nan": ("nan-at-p1",),
    "shapes_names:ForwardPassDropout": ("backward-no-scale",),
    "shapes_keep:KeepProbWrongScale": ("scale-by-p",),  # scales by 1/(1-keep_prob) = 1/p, p the drop probability
    "frameworks_torch:TorchNoScale": ("no-scale",),
    "frameworks_jax:KeyFixedAtConstruction": ("fixed-mask",),
    "verdicts:ReseedsInBackward": ("fixed-mask",),
    "verdicts:ReturnsInput": ("never-drops",),           # not no-scale: nothing was dropped to scale
    "verdicts:KeepProbDropsWithIt": ("keep-prob",),
}


def _arguments(entry: str, report: str) -> list:
    return [*GENERIC, "--impl", f"tests.gallery.{entry}", "--reference", ENTRIES[entry][0], *OPTIONS.get(entry, []),
            "--report-json", report, "-q", "--tb=no", "-p", "no:cacheprovider", "-p", "no:logging",
            "-p", "no:hypothesispytest", "-p", "no:benchmark", "-W", "ignore"]


def _fork_all(workdir: str, jobs: int) -> None:
    """Driver (run in a subprocess): import torch once, then fork one pytest run per entry.

    Each run would otherwise spend ~3 s importing torch and ``torch._dynamo`` (which the
    first dispatch-mode call pulls in); forking after those imports shares them. No torch
    op runs before the fork, so no thread pool exists to be forked.
    """
    import torch._dynamo  # noqa: F401
    import npdrop.testing.inject  # noqa: F401

    running = {}

    def reap():
        pid, status = os.wait()
        if pid in running:
            Path(running.pop(pid) + ".rc").write_text(str(os.waitstatus_to_exitcode(status)))

    for entry in filter(_available, ENTRIES):
        while len(running) >= jobs:
            reap()
        base = os.path.join(workdir, entry.replace(":", "-"))
        pid = os.fork()
        if pid == 0:  # child: one pytest run, output to a file
            code = 3
            try:
                with open(base + ".out", "w") as out:
                    os.dup2(out.fileno(), 1)
                    os.dup2(out.fileno(), 2)
                    code = pytest.main(_arguments(entry, base + ".json"))
            finally:
                os._exit(int(code))
        running[pid] = base
    while running:
        reap()


def _collect(workdir: str, entry: str) -> dict:
    base = os.path.join(workdir, entry.replace(":", "-"))
    read = lambda suffix: Path(base + suffix).read_text() if os.path.exists(base + suffix) else None  # noqa: E731
    result = {"output": (read(".out") or "")[-4000:], "returncode": int(read(".rc") or -1)}
    if os.path.exists(base + ".json"):
        result["report"] = json.loads(read(".json"))
    return result


def _run_separately(entry: str, workdir: str) -> dict:
    """Fallback without os.fork: one fresh interpreter per entry."""
    base = os.path.join(workdir, entry.replace(":", "-"))
    done = subprocess.run([sys.executable, "-m", "pytest", *_arguments(entry, base + ".json")], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    Path(base + ".out").write_text(done.stdout + done.stderr)
    Path(base + ".rc").write_text(str(done.returncode))
    return _collect(workdir, entry)


@pytest.fixture(scope="module")
def reports():
    jobs = os.cpu_count() or 2
    with tempfile.TemporaryDirectory() as workdir:
        if hasattr(os, "fork"):
            subprocess.run([sys.executable, __file__, workdir, str(jobs)], cwd=ROOT, check=True, timeout=1200)
            results = {entry: _collect(workdir, entry) for entry in filter(_available, ENTRIES)}
        else:
            entries = list(filter(_available, ENTRIES))
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                results = dict(zip(entries, pool.map(lambda e: _run_separately(e, workdir), entries)))
        return results


@pytest.mark.parametrize("entry", _entries(e for e, (_, prop) in ENTRIES.items() if prop))
def test_faulty_entry_fails_with_its_property_named(reports, entry):
    expected = ENTRIES[entry][1]
    result = reports[entry]
    assert result["returncode"] == 1, f"{entry}: pytest exited {result['returncode']} (1 = tests failed)\n{result['output']}"
    failed = result["report"]["failed_properties"]
    assert expected in failed, f"{entry}: expected '{expected}' among the failed properties, got {failed}"
    message = result["report"]["properties"][expected]
    assert any(cell["failures"] for cell in message.values())


@pytest.mark.parametrize("entry", _entries(ENTRIES))
def test_diagnoses_name_the_fault(reports, entry):
    """The ``likely cause`` ids in the JSON report are exactly the entry's known faults (none
    for a correct entry, none for a fault outside the catalogue), each on a property that
    failed, with its measured evidence."""
    report = reports[entry].get("report", {})
    diagnoses = report.get("diagnoses", [])
    got = sorted({d["id"] for d in diagnoses})
    assert got == sorted(DIAGNOSES.get(entry, ())), (
        f"{entry}: diagnoses {got}, expected {sorted(DIAGNOSES.get(entry, ()))}\n"
        + "\n".join(f"{d['id']}: {d['evidence']}" for d in diagnoses))
    for d in diagnoses:
        assert {"id", "property", "cause", "evidence"} <= set(d), f"{entry}: incomplete diagnosis {d}"
        assert d["property"] in report["failed_properties"], (
            f"{entry}: {d['id']} is attached to {d['property']}, which did not fail ({report['failed_properties']})")


def test_every_catalogue_id_is_exercised():
    from conformance.diagnose import CATALOGUE

    required = {"no-scale", "original-form", "scale-by-p", "keep-prob", "dtype-upcast", "nan-at-p1",
                "eval-backward", "fresh-mask-backward", "batch-shared-mask", "fixed-mask", "quantised-threshold"}
    ids = {fault.id for fault in CATALOGUE}
    assert required <= ids, f"catalogue lacks {sorted(required - ids)}"
    exercised = {i for expected in DIAGNOSES.values() for i in expected}
    assert ids <= exercised, f"no gallery entry has {sorted(ids - exercised)}"


@pytest.mark.parametrize("entry", _entries(e for e, (_, prop) in ENTRIES.items() if prop is None))
def test_correct_entry_passes(reports, entry):
    result = reports[entry]
    report = result.get("report", {})
    assert result["returncode"] == 0 and not report.get("failed_properties"), (
        f"{entry}: exit {result['returncode']}, failed properties {report.get('failed_properties')}\n{result['output']}")
    minimum = 120 if entry in FORWARD_ONLY else 200
    assert report["totals"]["passed"] > minimum, f"{entry}: only {report['totals']['passed']} checks passed"


@pytest.mark.parametrize("entry", list(ONLY), ids=str)
def test_entry_fails_only_where_it_is_wrong(reports, entry):
    failed = reports[entry]["report"]["failed_properties"]
    assert sorted(failed) == sorted(ONLY[entry]), f"{entry}: failed {failed}, expected only {list(ONLY[entry])}"


@pytest.mark.parametrize("entry", ["verdicts:ReturnsList", "verdicts:NoneAtEval"], ids=str)
def test_a_wrong_output_type_is_never_taken_for_an_unsupported_dtype(reports, entry):
    assert not reports[entry]["report"].get("unsupported"), reports[entry]["report"]["unsupported"]


@pytest.mark.parametrize("entry", list(MESSAGES), ids=str)
def test_failure_says_what_is_wrong(reports, entry):
    prop, words = MESSAGES[entry]
    cells = reports[entry]["report"]["properties"].get(prop, {})
    messages = [f["message"] for cell in cells.values() for f in cell["failures"]]
    assert any(words in m for m in messages), f"{entry}: no {prop} failure says {words!r}: {messages[:3]}"


@pytest.mark.parametrize("entry", list(ADVICE), ids=str)
def test_advice_follows_the_resolved_meaning(reports, entry):
    fixes = [d["fix"] for d in reports[entry]["report"]["diagnoses"]]
    assert any(ADVICE[entry] in fix for fix in fixes), f"{entry}: advice {fixes}"


@pytest.mark.parametrize("entry", REFUSES_BFLOAT16, ids=str)
def test_a_refused_bfloat16_is_unsupported_not_failed(reports, entry):
    report = reports[entry]["report"]
    assert not report["failed_properties"] and report["totals"]["n/a"] > 0, report["totals"]
    assert report["unsupported"] == {"bfloat16": report["unsupported"]["bfloat16"]}, report["unsupported"]
    assert "TypeError" in report["unsupported"]["bfloat16"]


@pytest.mark.parametrize("entry", FORWARD_ONLY, ids=str)
def test_forward_only_entry_shows_backward_checks_as_not_applicable(reports, entry):
    cells = {prop: cell["status"] for prop, by_variant in reports[entry]["report"]["properties"].items()
             for cell in by_variant.values()}
    for prop in ("backward", "backward-reuses-mask", "grad-at-zero-input", "instance-isolation"):
        assert cells[prop] == "n/a", f"{entry}: {prop} is {cells[prop]!r}, not n/a (it has no backward)"
    for prop in ("forward", "keep-rate", "dtype", "p-one"):
        assert cells[prop] == "pass", f"{entry}: {prop} is {cells[prop]!r}"


if __name__ == "__main__":  # the driver process started by the ``reports`` fixture
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    _fork_all(sys.argv[1], int(sys.argv[2]))

