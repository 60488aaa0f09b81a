"""The conformance harness catches real mistakes: every faulty gallery entry fails, with the
broken property named, and every correct one passes; where the fault is one the harness
knows (:mod:`conformance.diagnose`), the report names it (``diagnoses``), and correct
entries get no diagnosis.

Each entry runs the plugged-in-implementation subset of the suite in a process of its own,
``pytest <generic conformance modules> --impl tests.gallery.<module>:<Class> --report-json
...``, forked from a driver that imported torch and the suite once; the runs go in parallel
(one per CPU) once per pytest run, and each entry's test reads its report. A process per
entry, not one per CPU running many: test ids and seeds follow the entry's own meaning of p
(``keep_p0.9-torch_p0.1``), which a process that already ran another entry would not give.
Needs torch (the harness compares with it): skipped without.

What each run must show is written on the entry, ``expect = Expect(...)``
(:class:`tests.gallery.Expect`); the entries and their expectations are read from the
gallery's source, so an entry in a library that is not installed is listed, and skipped.
"""
from __future__ import annotations

import ast
import importlib.util
import json
import math
import os
import shutil
import shlex
import signal
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

import hang_guard  # noqa: E402  (tests/ is on sys.path: pytest's rootdir-less tests, or this file run as a script)
import jax_cache  # noqa: E402
from conformance.plugin import ANY_IMPL_MODULES  # noqa: E402
from tests.gallery import Expect  # noqa: E402

#: seconds one entry's run may take before it is taken for a hang; quiet, each takes 2-20 s
ENTRY_LIMIT = 600
#: the exit code of a run ended by the hang guard (killed by SIGALRM)
TIMED_OUT = getattr(signal, "SIGALRM", 14)
#: the key under which :func:`reports` keeps what the driver said when it failed
DRIVER = "(driver)"
#: The edge properties of input validation (p outside [0, 1], integer input): hand-written dropout
#: seldom validates either, so an entry's verdict pins them only where its Expect names them; every
#: other property, training or edge, is pinned.
VALIDATION_EDGES = ("p-range", "integer-input")

#: The conformance modules that apply to any implementation (the ``any_impl`` subset).
GENERIC = [f"conformance/{name}" for name in ANY_IMPL_MODULES]


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


#: a library that runs only with a program beside it -> that program (tinygrad compiles with clang)
NEEDS_TOOL = {"tinygrad": "clang"}


def _missing_library(tree: ast.Module):
    """The first library the module imports at its top that is not installed (or whose program
    is not on the PATH), or ``None``."""
    imported = [alias.name for node in tree.body if isinstance(node, ast.Import) for alias in node.names]
    imported += [node.module for node in tree.body if isinstance(node, ast.ImportFrom) and node.level == 0]
    for name in (n.partition(".")[0] for n in imported):
        if importlib.util.find_spec(name) is None:
            return name
        tool = NEEDS_TOOL.get(name)
        if tool and shutil.which(os.environ.get("CC", tool)) is None:
            return f"{tool} (which {name} compiles with)"
    return None


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


def _arguments(entry: str, report: str, worker_prefix: str = "") -> list:
    expect = ENTRIES[entry]
    prefix = ["--worker-prefix", worker_prefix] if worker_prefix else []
    return [*GENERIC, "--impl", f"tests.gallery.{entry}", "--reference", expect.reference, *expect.options, *prefix,
            "--report-json", report, "-q", "--tb=no", "-p", "no:cacheprovider", "-p", "no:logging",
            "-p", "no:hypothesispytest", "-p", "no:benchmark", "-W", "ignore",
            # warnings are ignored, so these only collect garbage at the end (0.4 s of CPU a run)
            "-p", "no:unraisableexception", "-p", "no:threadexception"]


def _warm(entry: str) -> None:
    """Driver: one collection-only run before the first fork, so that hypothesis, the
    conftest and the test modules are imported (their asserts rewritten) once, not once per
    entry; it loads the entry, which runs no torch op."""
    arguments = _arguments(entry, os.devnull)
    arguments[arguments.index("--report-json"):][:2] = []
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
        os.dup2(null.fileno(), 2)
        try:
            pytest.main([*arguments, "--collect-only"])
        finally:
            for fd, copy in zip((1, 2), saved):
                os.dup2(copy, fd)
                os.close(copy)
    # the test modules themselves are imported afresh by each run: pytest keeps what a
    # collection worked out on their functions, test ids included, and an entry whose p is the
    # keep probability has its own ids (``keep_p0.9-torch_p0.1``), hence its own seeds
    for name in [name for name in sys.modules if name.startswith(("conformance.test_", "conformance.conftest"))]:
        del sys.modules[name]


def _prepare_children() -> None:
    """Driver: do once, before the first fork, what every run would otherwise do for itself
    (about 1.5 s of CPU a run): the first bfloat16 test imports ml_dtypes; the first
    ``backward(grad)`` imports torch's symbolic shapes (sympy); hypothesis' first example scans
    the loaded modules for constants and registers numpy's global stream (with a full garbage
    collection). Then the driver's objects are frozen out of the collector, so that no run
    walks them again (nor copies their pages)."""
    import gc

    import hypothesis
    import hypothesis.strategies as st
    import torch.fx.experimental.symbolic_shapes  # noqa: F401

    if importlib.util.find_spec("ml_dtypes") is not None:
        import ml_dtypes  # noqa: F401

    hypothesis.find(st.integers(), lambda n: True, settings=hypothesis.settings(database=None))
    gc.collect()
    gc.freeze()


def _fork_all(workdir: str, jobs: int) -> None:
    """Driver (run in a subprocess): import torch once, then fork one pytest run per entry.

    Each run would otherwise spend seconds importing torch, hypothesis and the suite; forking
    after those imports shares them. No torch op runs before the fork, so no thread pool exists to be forked.
    Each run is its own process, as a user's run is: an entry's global state (its
    ``np.random`` use, a class attribute, ``np.seterr``) never reaches another's. A run
    still going after :data:`ENTRY_LIMIT` s (scaled by ``NPDROP_TEST_HANG_GUARD``) is
    ended by SIGALRM and recorded as timed out.
    """
    import torch  # noqa: F401
    import npdrop.testing.inject  # noqa: F401

    entries = list(filter(_available, ENTRIES))
    _warm(entries[0])
    _prepare_children()
    limit = hang_guard.limit(ENTRY_LIMIT)
    running = {}
    zygote, prefix = _zygote(workdir)

    def reap():
        pid, status = os.wait()
        if pid in running:
            Path(running.pop(pid) + ".rc").write_text(str(os.waitstatus_to_exitcode(status)))

    for entry in entries:
        while len(running) >= jobs:
            reap()
        base = os.path.join(workdir, entry.replace(":", "-"))
        pid = os.fork()
        if pid == 0:  # child: one pytest run, output to a file
            code = 3
            try:
                if limit:
                    signal.alarm(max(1, math.ceil(limit)))
                with open(base + ".out", "w") as out:
                    os.dup2(out.fileno(), 1)
                    os.dup2(out.fileno(), 2)
                    code = pytest.main(_arguments(entry, base + ".json", prefix))
            finally:
                os._exit(int(code))
        running[pid] = base
    while running:
        reap()
    if zygote is not None:
        zygote.stdin.close()
        zygote.wait()


def _zygote(workdir: str) -> tuple:
    """Driver: the zygote the runs' implementation processes are forked from
    (tests/worker_zygote.py), and the worker prefix that uses it; (None, "") where it did not
    start (each worker then starts afresh, as without it)."""
    socket_path = os.path.join(workdir, "zygote.sock")
    script = str(Path(__file__).with_name("worker_zygote.py"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    zygote = subprocess.Popen([sys.executable, script, "serve", socket_path], cwd=ROOT, env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    if zygote.stdout.readline().strip() != b"ready":
        zygote.kill()
        zygote.wait()
        return None, ""
    return zygote, f"{shlex.quote(sys.executable)} -S {shlex.quote(script)} {shlex.quote(socket_path)}"


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
    try:
        done = subprocess.run([sys.executable, "-m", "pytest", *_arguments(entry, base + ".json")], cwd=ROOT,
                              capture_output=True, text=True, timeout=hang_guard.limit(ENTRY_LIMIT))
    except subprocess.TimeoutExpired:
        Path(base + ".rc").write_text(str(-TIMED_OUT))
        return _collect(workdir, entry)
    Path(base + ".out").write_text(done.stdout + done.stderr)
    Path(base + ".rc").write_text(str(done.returncode))
    return _collect(workdir, entry)


@pytest.fixture(scope="module")
def reports():
    """entry -> its run (``returncode``, ``output``, ``report``); never raises: a driver that
    died or an entry that timed out is reported once, by :func:`test_every_entry_ran_to_its_end`."""
    jobs = os.cpu_count() or 2
    entries = list(filter(_available, ENTRIES))
    with tempfile.TemporaryDirectory(prefix="npdrop-gallery-") as workdir, jax_cache.shared(workdir):
        if hasattr(os, "fork"):
            driver = subprocess.run([sys.executable, __file__, workdir, str(jobs)], cwd=ROOT,
                                    capture_output=True, text=True)
            results = {entry: _collect(workdir, entry) for entry in entries}
            if driver.returncode:
                results[DRIVER] = f"the driver exited {driver.returncode}:\n{(driver.stdout + driver.stderr)[-3000:]}"
        else:
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                results = dict(zip(entries, pool.map(lambda e: _run_separately(e, workdir), entries)))
        return results


def _run(reports, entry: str) -> dict:
    """The entry's run; skipped, not failed again, where it did not run to its end (the one
    failure is :func:`test_every_entry_ran_to_its_end`'s)."""
    result = reports.get(entry)
    if result is None or result["returncode"] == -TIMED_OUT or DRIVER in reports and "report" not in result:
        pytest.skip(f"{entry} did not run to its end: see test_every_entry_ran_to_its_end")
    return result


def test_every_entry_ran_to_its_end(reports):
    """One line per entry that timed out (a hang guard, far above its time on a quiet machine)."""
    problems = [f"{entry}: timed out after {hang_guard.limit(ENTRY_LIMIT):g} s, a hang guard (a run takes 2-20 s "
                f"on a quiet machine; {hang_guard.VARIABLE} scales the limit)" for entry, result in reports.items()
                if entry != DRIVER and result["returncode"] == -TIMED_OUT]
    if DRIVER in reports:
        problems.append(reports[DRIVER])
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("entry", _entries(lambda expect: expect.fails))
def test_faulty_entry_fails_with_its_property_named(reports, entry):
    expected, edge_only = ENTRIES[entry].fails, ENTRIES[entry].conforms_in_training
    result = _run(reports, entry)
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
    report = _run(reports, entry).get("report", {})
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
    result = _run(reports, entry)
    report = result.get("report", {})
    failed = [p for p in report.get("failed_properties", ()) if p not in VALIDATION_EDGES]
    assert result["returncode"] == 0 and report.get("conforms_in_training") and not failed, (
        f"{entry}: exit {result['returncode']}, failed properties {report.get('failed_properties')}\n{result['output']}")
    minimum = 120 if ENTRIES[entry].forward_only else 200
    assert report["totals"]["passed"] > minimum, f"{entry}: only {report['totals']['passed']} checks passed"


@pytest.mark.parametrize("entry", _entries(lambda expect: expect.only), ids=str)
def test_entry_fails_only_where_it_is_wrong(reports, entry):
    failed, only = _run(reports, entry)["report"]["failed_properties"], ENTRIES[entry].only
    failed = [p for p in failed if p not in VALIDATION_EDGES or p in only]
    assert sorted(failed) == sorted(only), f"{entry}: failed {failed}, expected only {list(only)}"


@pytest.mark.parametrize("entry", _entries(lambda expect: expect.returns_non_array), ids=str)
def test_a_wrong_output_type_is_never_taken_for_an_unsupported_dtype(reports, entry):
    assert not _run(reports, entry)["report"].get("unsupported"), _run(reports, entry)["report"]["unsupported"]


@pytest.mark.parametrize("entry", _entries(lambda expect: expect.message), ids=str)
def test_failure_says_what_is_wrong(reports, entry):
    prop, words = ENTRIES[entry].message
    cells = _run(reports, entry)["report"]["properties"].get(prop, {})
    messages = [f["message"] for cell in cells.values() for f in cell["failures"]]
    assert any(words in m for m in messages), f"{entry}: no {prop} failure says {words!r}: {messages[:3]}"


@pytest.mark.parametrize("entry", _entries(lambda expect: expect.advice), ids=str)
def test_advice_follows_the_resolved_meaning(reports, entry):
    fixes = [d["fix"] for d in _run(reports, entry)["report"]["diagnoses"]]
    assert any(ENTRIES[entry].advice in fix for fix in fixes), f"{entry}: advice {fixes}"


@pytest.mark.parametrize("entry", _entries(lambda expect: expect.refuses_bfloat16), ids=str)
def test_a_refused_bfloat16_is_unsupported_not_failed(reports, entry):
    report = _run(reports, entry)["report"]
    failures = [f["test"] for cells in report["properties"].values() for c in cells.values() for f in c["failures"]]
    assert not [t for t in failures if "bfloat16" in t], failures   # its other failures (if any) are its own
    assert report["totals"]["n/a"] > 0, report["totals"]
    assert report["unsupported"] == {"bfloat16": report["unsupported"]["bfloat16"]}, report["unsupported"]
    assert "TypeError" in report["unsupported"]["bfloat16"]


@pytest.mark.parametrize("entry", _entries(lambda expect: expect.forward_only), ids=str)
def test_forward_only_entry_shows_backward_checks_as_not_applicable(reports, entry):
    cells = {prop: cell["status"] for prop, by_variant in _run(reports, entry)["report"]["properties"].items()
             for cell in by_variant.values()}
    for prop in ("backward", "backward-reuses-mask", "grad-at-zero-input", "instance-isolation"):
        assert cells[prop] == "n/a", f"{entry}: {prop} is {cells[prop]!r}, not n/a (it has no backward)"
    for prop in ("forward", "keep-rate", "dtype", "p-one"):
        assert cells[prop] == "pass", f"{entry}: {prop} is {cells[prop]!r}"


@pytest.mark.parametrize("entry", ["frameworks_torch:TorchNoScale", "frameworks_jax:KeyFixedAtConstruction"])
def test_a_failing_torch_or_jax_run_ends_with_its_answer_on_an_80_by_24_terminal(reports, entry):
    """npdrop-conform's screen for the entry's report, fitted to 80x24: the verdict and the
    first likely cause with its ``try:`` are in the last rows."""
    from conformance import cli
    from conformance.report import Matrix
    from conformance.terminal import fit

    if not _available(entry):
        pytest.skip(f"{MISSING[entry]} is not installed")
    matrix = Matrix.from_json(_run(reports, entry)["report"])
    folder = "/home/someone/projects/dropout/.npdrop-conform-log"
    rows = fit(cli.screen(matrix, f"{folder}/pytest.log", f"{folder}/report.md", f"{folder}/report.json"), 80, 24)
    view = "\n".join(rows[-23:])
    first = next(d for d in matrix.diagnoses)
    assert "verdict: FAIL" in view and f"likely cause: {first['id']}" in view, view
    assert "  try: " + " ".join(first["fix"].split())[:40] in " ".join(view.split("\n    ")), view
    commands = {rows[i + 1] for i, row in enumerate(rows[:-1]) if row == "rerun one case with its traceback:"}
    wide = [row for row in rows if len(row) > 80 and " " in row.strip() and row not in commands]
    assert not wide, wide   # only the rerun command keeps its row whole, to be copied


def test_no_failure_points_at_the_suites_own_code(reports):
    """hypothesis' explain phase is off: no fuzz failure lists the suite's own lines as the ones
    "always and only run by failing test cases", which says nothing of the implementation."""
    pointing = [entry for entry, result in reports.items() if entry != DRIVER
                for cells in result.get("report", {}).get("properties", {}).values() for cell in cells.values()
                for failure in cell["failures"] if "only run by failing test cases" in failure["message"]]
    assert not pointing, f"hypothesis' explanation in the reports of {sorted(set(pointing))}"


if __name__ == "__main__":  # the driver process started by the ``reports`` fixture
    os.chdir(ROOT)
    _fork_all(sys.argv[1], int(sys.argv[2]))

