"""The conformance harness catches real mistakes: every faulty gallery entry fails, with the
broken property named, and every correct one passes; where the fault is one the harness
knows (:mod:`conformance.diagnose`), the report names it (``diagnoses``), and correct
entries get no diagnosis.

Each entry runs the plugged-in-implementation subset of the suite in a subprocess,
``python -m pytest <generic conformance modules> --impl tests.gallery.<module>:<Class>
--report-json ...``; the runs go in parallel (one per CPU) once per pytest run, and each
entry's test reads its report. Needs torch (the harness compares with it): skipped without.

What each run must show is written on the entry, ``expect = Expect(...)``
(:class:`tests.gallery.Expect`); the entries and their expectations are read from the
gallery's source, so an entry in a library that is not installed is listed, and skipped.
"""
from __future__ import annotations

import ast
import importlib.util
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
if str(ROOT) not in sys.path:  # run as the driver script (or by a pytest that does not add it)
    sys.path.insert(0, str(ROOT))

from tests.gallery import Expect  # noqa: E402

#: The edge properties of input validation (p outside [0, 1], integer input): hand-written dropout
#: seldom validates either, so an entry's verdict pins them only where its Expect names them; every
#: other property, training or edge, is pinned.
VALIDATION_EDGES = ("p-range", "integer-input")

#: The conformance modules that apply to any implementation (the ``any_impl`` subset).
GENERIC = ["conformance/test_forward.py", "conformance/test_modes.py",
           "conformance/test_contract.py", "conformance/test_statistics.py", "conformance/test_fuzz_torch.py",
           "conformance/test_edges.py"]


def _expectations(tree: ast.Module):
    """``(name, Expect(...) call)`` for each entry of a gallery module: a class whose body sets
    ``expect = Expect(...)``, a function followed by ``function.expect = Expect(...)``."""
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            yield from ((node.name, item.value) for item in node.body if _assigned(item) == "expect")
        elif _assigned(node).endswith(".expect"):
            yield _assigned(node).partition(".")[0], node.value


def _assigned(statement) -> str:
    """What an assignment with one target assigns to, as written (``f.expect``); else ``""``."""
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
        return ast.unparse(statement.targets[0])
    return ""


def _expect(call, entry: str) -> Expect:
    if not (isinstance(call, ast.Call) and ast.unparse(call.func) == "Expect" and not call.args):
        raise ValueError(f"{entry}: expect must be Expect(name=literal, ...), not {ast.unparse(call)}")
    return Expect(**{keyword.arg: ast.literal_eval(keyword.value) for keyword in call.keywords})


def _missing_library(tree: ast.Module):
    """The first library the module imports at its top that is not installed, or ``None``."""
    imported = [alias.name for node in tree.body if isinstance(node, ast.Import) for alias in node.names]
    imported += [node.module for node in tree.body if isinstance(node, ast.ImportFrom) and node.level == 0]
    return next((name for name in (n.partition(".")[0] for n in imported)
                 if importlib.util.find_spec(name) is None), None)


def _read_gallery() -> tuple:
    """Every gallery entry's :class:`Expect`, and the entries whose module imports a library
    that is not installed (entry -> that library). Read from the source, not imported: such a
    module would not import."""
    entries, missing = {}, {}
    for path in sorted((ROOT / "tests" / "gallery").glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        absent = _missing_library(tree)
        for name, call in _expectations(tree):
            entry = f"{path.stem}:{name}"
            entries[entry] = _expect(call, entry)
            if absent:
                missing[entry] = absent
    return entries, missing


#: entry ("module:name" in tests/gallery/) -> what its run must show; MISSING: entry -> the
#: library its module imports that is not installed (its tests are skipped)
ENTRIES, MISSING = _read_gallery()


def _available(entry: str) -> bool:
    return entry not in MISSING


def _entries(select=lambda expect: True) -> list:
    """The entries whose Expect ``select`` accepts; those that cannot run marked skipped."""
    return [e if _available(e) else pytest.param(e, marks=pytest.mark.skip(reason=f"{MISSING[e]} is not installed"))
            for e, expect in ENTRIES.items() if select(expect)]


def _arguments(entry: str, report: str) -> list:
    expect = ENTRIES[entry]
    return [*GENERIC, "--impl", f"tests.gallery.{entry}", "--reference", expect.reference, *expect.options,
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


@pytest.mark.parametrize("entry", _entries(lambda expect: expect.fails))
def test_faulty_entry_fails_with_its_property_named(reports, entry):
    expected, edge_only = ENTRIES[entry].fails, ENTRIES[entry].conforms_in_training
    result = reports[entry]
    code = 0 if edge_only else 1   # only a training property fails the run (edge ones with --strict-edges)
    assert result["returncode"] == code, (f"{entry}: pytest exited {result['returncode']} ({code} = "
                                          f"{'edge differences only' if edge_only else 'tests failed'})\n{result['output']}")
    assert result["report"]["conforms_in_training"] is edge_only, result["report"]["failed_in_training"]
    failed = result["report"]["failed_properties"]
    assert expected in failed, f"{entry}: expected '{expected}' among the failed properties, got {failed}"
    message = result["report"]["properties"][expected]
    assert any(cell["failures"] for cell in message.values())


@pytest.mark.parametrize("entry", _entries())
def test_diagnoses_name_the_fault(reports, entry):
    """The ``likely cause`` ids in the JSON report are exactly the entry's known faults (none
    for a correct entry, none for a fault outside the catalogue), each on a property that
    failed, with its measured evidence."""
    report = reports[entry].get("report", {})
    diagnoses = report.get("diagnoses", [])
    got, expected = sorted({d["id"] for d in diagnoses}), sorted(ENTRIES[entry].diagnoses)
    assert got == expected, (
        f"{entry}: diagnoses {got}, expected {expected}\n"
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
    exercised = {i for expect in ENTRIES.values() for i in expect.diagnoses}
    assert ids <= exercised, f"no gallery entry has {sorted(ids - exercised)}"


@pytest.mark.parametrize("entry", _entries(lambda expect: expect.fails is None))
def test_correct_entry_passes(reports, entry):
    result = reports[entry]
    report = result.get("report", {})
    failed = [p for p in report.get("failed_properties", ()) if p not in VALIDATION_EDGES]
    assert result["returncode"] == 0 and report.get("conforms_in_training") and not failed, (
        f"{entry}: exit {result['returncode']}, failed properties {report.get('failed_properties')}\n{result['output']}")
    minimum = 120 if ENTRIES[entry].forward_only else 200
    assert report["totals"]["passed"] > minimum, f"{entry}: only {report['totals']['passed']} checks passed"


@pytest.mark.parametrize("entry", _entries(lambda expect: expect.only), ids=str)
def test_entry_fails_only_where_it_is_wrong(reports, entry):
    failed, only = reports[entry]["report"]["failed_properties"], ENTRIES[entry].only
    failed = [p for p in failed if p not in VALIDATION_EDGES or p in only]
    assert sorted(failed) == sorted(only), f"{entry}: failed {failed}, expected only {list(only)}"


@pytest.mark.parametrize("entry", _entries(lambda expect: expect.returns_non_array), ids=str)
def test_a_wrong_output_type_is_never_taken_for_an_unsupported_dtype(reports, entry):
    assert not reports[entry]["report"].get("unsupported"), reports[entry]["report"]["unsupported"]


@pytest.mark.parametrize("entry", _entries(lambda expect: expect.message), ids=str)
def test_failure_says_what_is_wrong(reports, entry):
    prop, words = ENTRIES[entry].message
    cells = reports[entry]["report"]["properties"].get(prop, {})
    messages = [f["message"] for cell in cells.values() for f in cell["failures"]]
    assert any(words in m for m in messages), f"{entry}: no {prop} failure says {words!r}: {messages[:3]}"


@pytest.mark.parametrize("entry", _entries(lambda expect: expect.advice), ids=str)
def test_advice_follows_the_resolved_meaning(reports, entry):
    fixes = [d["fix"] for d in reports[entry]["report"]["diagnoses"]]
    assert any(ENTRIES[entry].advice in fix for fix in fixes), f"{entry}: advice {fixes}"


@pytest.mark.parametrize("entry", _entries(lambda expect: expect.refuses_bfloat16), ids=str)
def test_a_refused_bfloat16_is_unsupported_not_failed(reports, entry):
    report = reports[entry]["report"]
    failures = [f["test"] for cells in report["properties"].values() for c in cells.values() for f in c["failures"]]
    assert not [t for t in failures if "bfloat16" in t], failures   # its other failures (if any) are its own
    assert report["totals"]["n/a"] > 0, report["totals"]
    assert report["unsupported"] == {"bfloat16": report["unsupported"]["bfloat16"]}, report["unsupported"]
    assert "TypeError" in report["unsupported"]["bfloat16"]


@pytest.mark.parametrize("entry", _entries(lambda expect: expect.forward_only), ids=str)
def test_forward_only_entry_shows_backward_checks_as_not_applicable(reports, entry):
    cells = {prop: cell["status"] for prop, by_variant in reports[entry]["report"]["properties"].items()
             for cell in by_variant.values()}
    for prop in ("backward", "backward-reuses-mask", "grad-at-zero-input", "instance-isolation"):
        assert cells[prop] == "n/a", f"{entry}: {prop} is {cells[prop]!r}, not n/a (it has no backward)"
    for prop in ("forward", "keep-rate", "dtype", "p-one"):
        assert cells[prop] == "pass", f"{entry}: {prop} is {cells[prop]!r}"


if __name__ == "__main__":  # the driver process started by the ``reports`` fixture
    os.chdir(ROOT)
    _fork_all(sys.argv[1], int(sys.argv[2]))

