"""The conformance plugin: one object per pytest run that loads the implementation, guards
every call into it, and assembles the matrix, the diagnoses and the reports from test reports.

Everything a report needs travels on the test's own report (``user_properties``): the
cell it belongs to (property, variant) and the figures it measured
(:mod:`conformance.evidence`). The process that assembles the matrix therefore needs
nothing else, so ``pytest conformance/ -n 2`` (pytest-xdist) gives the controller the same
cells and evidence as a serial run, and the same JSON (cells, failures and evidence are
taken in node-id order, not arrival order).

The report never claims more than happened: ``complete`` is true only when every selected
test reported and the run was not stopped (``-x``, Ctrl-C, a kill, a call that timed out);
the tests that did not run are listed. It is written atomically (a temporary file beside
it, then a rename), also on an interrupt, and its path is checked before the first test.

The user's environment is kept out of the verdict: the suite's arithmetic and the
implementation's calls run under the suite's own ``np.errstate`` (``np.seterr`` in the
user's module changes neither), what loading the module changed globally is put back, and
after each test the global numpy and torch generators, torch's default dtype and numpy's
error state are put back as they were before it.
"""
from __future__ import annotations

import json
import re
from importlib import metadata
import os
import platform
import signal
import tempfile
import threading
from typing import Optional

import numpy as np
import pytest

from . import evidence, incomplete, words
from .diagnose import Findings, diagnose
from .guard import DEFAULT_CALL_TIMEOUT, EXIT_TIMEOUT, OUTPUT_CAP, Guard, install
from .adapters.usercode import load_refusal
from .files import write_atomically
from .report import NOT_APPLICABLE, UNSUPPORTED, Matrix, tier

try:
    import torch
except ImportError:  # pragma: no cover - exercised on machines without torch
    torch = None

HERE = os.path.dirname(os.path.abspath(__file__))
#: the suite's modules with tests for any implementation (marked ``any_impl``): with ``--impl``
#: only these are collected, the others not even imported (all their tests would be deselected)
ANY_IMPL_MODULES = ("test_forward.py", "test_modes.py", "test_contract.py", "test_statistics.py",
                    "test_fuzz_torch.py", "test_edges.py")
NAME = "npdrop-conformance"
#: the name of a test's cell (property, variant) in its report's ``user_properties``
CELL = "npdrop-cell"
#: the environment variable npdrop-conform hands its child the report's nonce in
NONCE = "NPDROP_REPORT_NONCE"
#: what ended the implementation's process during a test (a call that crashed or timed out)
INCIDENT = "npdrop-incident"
#: the numpy error state the suite's own arithmetic runs under
TOOL_ERRSTATE = dict(divide="warn", over="warn", under="ignore", invalid="warn")


def of(config) -> Optional["ConformancePlugin"]:
    """The run's conformance plugin (None before it is registered)."""
    return config.pluginmanager.get_plugin(NAME)


def ours(path) -> bool:
    return str(path).startswith(HERE + os.sep)


def labels(item) -> tuple:
    """(property, variant) of a test: a parameter's own ``prop`` mark (the p = 1 cases of the
    forward matrix belong to ``p-one``) wins over the test's."""
    callspec = getattr(item, "callspec", None)
    own = [m for m in getattr(callspec, "marks", ()) if m.name == "prop"]
    marker = own[-1] if own else item.get_closest_marker("prop")
    prop = marker.args[0] if marker else item.path.stem
    params = getattr(callspec, "params", {})
    return prop, str(params.get("variant", "-"))


def check_writable(path: Optional[str], option: str) -> None:
    """A usage error (exit 4, before any test) if a report could not be written to ``path``."""
    if not path:
        return
    folder = os.path.dirname(os.path.abspath(path)) or "."
    try:
        if os.path.isdir(path):
            raise IsADirectoryError(f"{path} is a directory")
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".npdrop-check-"):
            pass
    except OSError as exc:
        raise pytest.UsageError(f"{option} {path}: cannot write there ({exc})") from None


def _absolute(path: Optional[str]) -> Optional[str]:
    """A report path resolved now, before anything else runs (a later chdir changes nothing)."""
    return os.path.abspath(path) if path else path


def versions() -> dict:
    found = {"python": platform.python_version(), "numpy": np.__version__,
             "torch": getattr(torch, "__version__", None)}
    for name in ("npdrop", "ml_dtypes"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


class ConformancePlugin:
    """One pytest run of the conformance suite (registered as :data:`NAME`)."""

    def __init__(self, config):
        self.config = config
        self.worker = hasattr(config, "workerinput")      # a pytest-xdist worker: it only runs tests
        self.impl = None
        self.meta: dict = {}
        self.results: dict = {}       #: node id -> [(prop, variant), [(outcome, message), ...]]
        self.rows: dict = {}          #: node id -> its evidence rows
        self.unsupported: dict = {}   #: dtype -> {node id: why} for the dtypes it refused
        self.crashed: dict = {}       #: node id -> why, for tests whose pytest-xdist worker died in them
        self.expected: set = set()    #: node ids of the selected tests of this suite
        self.current: Optional[str] = None
        self.current_cell: Optional[tuple] = None
        self.timed_out: Optional[dict] = None
        self.exit_status: Optional[int] = None
        self.written = False
        self.matrix: Optional[Matrix] = None
        self._lock = threading.Lock()
        self.json_path, self.md_path = (_absolute(config.getoption(o)) for o in ("report_json", "report_md"))
        self.nonce = os.environ.pop(NONCE, None)   #: npdrop-conform's mark: the report it reads is this run's
        if not self.worker:
            if self.json_path and self.md_path and os.path.realpath(self.json_path) == os.path.realpath(self.md_path):
                raise pytest.UsageError(f"--report-json and --report-md name the same file ({self.json_path})")
            check_writable(self.json_path, "--report-json")
            check_writable(self.md_path, "--report-md")
        words.speak(False)            # torch's p until the implementation says otherwise (load)
        self.guard = Guard(config.getoption("call_timeout", DEFAULT_CALL_TIMEOUT), self._timed_out, TOOL_ERRSTATE)
        install(self.guard)
        self._previous_sigterm = None
        if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            self._previous_sigterm = signal.signal(signal.SIGTERM, self._terminated)

    # -- loading -------------------------------------------------------------------------------

    def load(self) -> None:
        """Load the implementation under the time limit; any failure is a usage error (exit 4)
        naming the user's file and line. What its import changed globally (numpy's error state
        and generator, torch's generator and default dtype) is put back."""
        if torch is None:
            return
        from .adapters import load_impl

        config = self.config
        spec = config.getoption("impl")
        options = dict(forward=config.getoption("forward"), backward=config.getoption("backward"),
                       p_means=config.getoption("p_means"), form_name=config.getoption("form"),
                       array_lib=config.getoption("array_lib"), kwargs=config.getoption("impl_kwargs"),
                       mode_global=config.getoption("mode_global"))
        if spec not in (None, "", "npdrop"):   # the user's code: in a process of its own (conformance/worker.py)
            from .worker import load_apart

            impl = load_apart(spec, config.getoption("reference"), options, self.guard, self._timed_out,
                              config.getoption("worker_prefix", None))
        else:
            saved = _GlobalState()
            try:
                with self.guard.calling(f"loading {spec or 'npdrop'} (import and probing calls)"):
                    impl = load_impl(spec, config.getoption("reference"), **options)
            except (Exception, SystemExit) as exc:
                raise pytest.UsageError(load_refusal(spec, exc)) from None
            finally:
                saved.restore()
                self.guard.take_output()
        self.impl = impl
        self.meta["strict"] = self.strict()
        words.speak(impl.keeps_p)    # messages, test ids and reports in the user's p, on every worker
        self.meta.update(impl=impl.spec, p_means="keep" if impl.keeps_p else "drop",
                         reference=[v.name for v in impl.variants], exact=impl.exact, description=impl.describe())

    def strict(self) -> bool:
        """Whether an edge difference fails the run: ``--strict-edges`` (``npdrop-conform --strict``),
        pytest's own ``--strict``, and always for npdrop itself, which is held to every edge."""
        config = self.config
        return bool(config.getoption("strict_edges", False) or config.getoption("strict", False)
                    or self.impl is None or self.impl.spec == "npdrop")

    def findings(self, records) -> Findings:
        """What the diagnoses read: the resolved p meaning and form, and the evidence."""
        if self.impl is None:
            return Findings(records=records)
        return Findings(p_means="keep" if self.impl.keeps_p else "drop", form=self.impl.form.name, records=records)

    # -- collection ------------------------------------------------------------------------------

    def pytest_collection_modifyitems(self, config, items):
        impl = self.impl
        if impl is None or impl.spec == "npdrop":
            return
        keep, drop = [], []
        for item in items:
            (drop if ours(item.path) and item.get_closest_marker("any_impl") is None else keep).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep

    def pytest_collection_finish(self, session):
        self.expected = {item.nodeid for item in session.items if ours(item.path)}

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids):
        rootpath = str(self.config.rootpath)
        self.expected |= {i for i in ids if ours(os.path.join(rootpath, i.split("::")[0]))}

    # -- running ---------------------------------------------------------------------------------

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        if not ours(item.path):
            yield
            return
        cell = labels(item)
        rows: list = []
        item.user_properties.append((CELL, list(cell)))
        item.user_properties.append((evidence.PROPERTY, rows))
        self.current, self.current_cell = item.nodeid, cell
        saved = _GlobalState()
        self.guard.take_output()
        try:
            with evidence.recording(rows), np.errstate(**TOOL_ERRSTATE):
                yield
        finally:
            saved.restore()
            self.current = self.current_cell = None

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        if ours(item.path):
            printed = self.guard.take_output()
            if printed:
                item.add_report_section(call.when, "stdout (the implementation's, capped)", printed)
        outcome = yield
        report = outcome.get_result()
        report.sections = [(title, _capped(text)) for title, text in report.sections]
        incidents = self.impl.take_incidents() if hasattr(self.impl, "take_incidents") else ()
        if incidents:   # the implementation's process ended in this test: it did not finish
            report.user_properties.append((INCIDENT, "; ".join(incidents)))

    def pytest_runtest_logreport(self, report):
        properties = dict((k, v) for k, v in report.user_properties if k in (CELL, evidence.PROPERTY, INCIDENT))
        if INCIDENT in properties:
            with self._lock:
                self.crashed[report.nodeid] = str(properties[INCIDENT])[:500]
        if CELL not in properties:
            if report.failed and report.nodeid in self.expected:   # a pytest-xdist worker that died in it
                with self._lock:
                    self.crashed[report.nodeid] = str(report.longrepr)[-300:]
            return
        self.rows[report.nodeid] = list(properties.get(evidence.PROPERTY, ()))
        outcome = report.outcome
        if outcome == "skipped" and NOT_APPLICABLE in str(report.longrepr):
            outcome = "n/a"
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            refused = re.search(f"{UNSUPPORTED} (\\w+): (.*)", reason)
            if refused:
                with self._lock:
                    self.unsupported.setdefault(refused.group(1), {})[report.nodeid] = refused.group(2)
        counts = (report.when == "call" or (report.when == "setup" and outcome != "passed")
                  or (report.when == "teardown" and outcome == "failed"))
        if counts:
            message = ""
            if outcome == "failed":
                crash = getattr(report.longrepr, "reprcrash", None)
                message = crash.message if crash is not None else str(report.longrepr)[-2000:]
            with self._lock:
                entry = self.results.setdefault(report.nodeid, [tuple(properties[CELL]), []])
                entry[1].append((outcome, message))

    # -- the report ------------------------------------------------------------------------------

    def assemble(self) -> Matrix:
        """The matrix, its diagnoses and the run's record, from what the reports carried."""
        matrix = Matrix()
        matrix.meta.update(self.meta)
        with self._lock:
            results = sorted(self.results.items())
        for nodeid, ((prop, variant), outcomes) in results:
            for outcome, message in outcomes:
                matrix.add(prop, variant, outcome, nodeid, message)
        rows = [row for nodeid in sorted(self.rows) for row in self.rows[nodeid]]
        matrix.diagnoses = diagnose(matrix.failed_cells(), self.findings(evidence.Records(rows)))
        not_run = sorted(self.expected - {n for n, _ in results})
        stopped = self.exit_status not in (0, 1) or self.timed_out is not None
        matrix.meta.update(
            complete=not stopped and not not_run and not self.crashed and bool(results), exit_status=self.exit_status,
            command=["pytest", *self.config.invocation_params.args], versions=versions(),
            tests={"selected": len(self.expected | {n for n, _ in results}), "reported": len(results),
                   "not_run": len(not_run)},
            not_run=not_run[:50], timed_out=self.timed_out, crashed=dict(sorted(self.crashed.items())),
            unsupported={dtype: by_test[min(by_test)] for dtype, by_test in sorted(self.unsupported.items())},
            evidence_from=self._evidence_note(len(results)))
        return matrix

    def _evidence_note(self, reported: int) -> str:
        args = self.config.invocation_params.args
        selection = any("::" in str(a) for a in args) or self.config.getoption("keyword", "") \
            or self.config.getoption("markexpr", "")
        if not selection:
            return f"all {reported} tests of this run"
        return (f"only the {reported} selected tests: a cause whose figures come from tests outside the "
                "selection is not named; rerun the whole suite for every likely cause")

    def write(self) -> None:
        if self.worker or self.matrix is None:
            return
        if self.json_path:
            record = self.matrix.to_json()
            if self.nonce:
                record["nonce"] = self.nonce
            write_atomically(self.json_path, json.dumps(record, indent=1))
        if self.md_path:
            write_atomically(self.md_path, self.matrix.markdown())
        self.written = True

    def pytest_sessionfinish(self, session, exitstatus):
        self.guard.stop()
        if self.worker or self.impl is None or session.config.option.collectonly:   # nothing ran: no verdict
            return
        self.exit_status = int(exitstatus)
        if self.exit_status == 1 and not self.strict() and not self.crashed and self._only_edges_failed():
            # the implementation conforms in training: an edge difference is reported, not failed
            self.exit_status = session.exitstatus = 0
        self.matrix = self.assemble()
        if self.exit_status == 0 and incomplete.why(self.matrix.meta):   # never a pass for what did not finish
            self.exit_status = session.exitstatus = 1
            self.matrix.meta["exit_status"] = 1
        if self.matrix.cells or self.json_path or self.md_path:
            self.write()

    def _only_edges_failed(self) -> bool:
        """Some test failed, and every failed one checks an edge property."""
        with self._lock:
            failed = [cell for cell, outcomes in self.results.values() if any(o == "failed" for o, _ in outcomes)]
        return bool(failed) and all(tier(prop) == "edge" for prop, _ in failed)

    def pytest_terminal_summary(self, terminalreporter, exitstatus, config):
        terminal_summary(terminalreporter, None if torch is None else self.matrix)

    def pytest_unconfigure(self, config):
        self.guard.stop()
        if hasattr(self.impl, "close"):
            self.impl.close()
        words.speak(False)
        install(None)
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)

    # -- the run cut short -----------------------------------------------------------------------

    def _terminated(self, signum, frame):
        raise KeyboardInterrupt("terminated (SIGTERM)")

    def _timed_out(self, what: str, limit: float) -> None:
        """A call has not returned within ``limit`` s (the watchdog thread, or the worker's
        deadline: conformance/worker.py, which has ended the worker already). Name it and its test,
        write the report (``complete: false``), and end the process with :data:`EXIT_TIMEOUT`."""
        test = f" in {self.current}" if self.current else ""
        message = (f"{what} did not return within {limit:g} s (--call-timeout){test}; the run ends here "
                   f"(exit {EXIT_TIMEOUT})")
        try:
            capture = self.config.pluginmanager.getplugin("capturemanager")
            if capture is not None:   # the message goes to the real stderr, not the test's capture
                try:
                    capture.suspend_global_capture(in_=False)
                except Exception:  # noqa: BLE001 - a message is still written, wherever fd 2 points
                    pass
            os.write(2, f"\nnpdrop conformance: {message}\n".encode())
            if not self.worker:
                with self._lock:
                    if self.current is not None and self.current_cell is not None:
                        self.results.setdefault(self.current, [self.current_cell, []])[1].append(("failed", message))
                self.timed_out = {"test": self.current, "call": what, "limit_s": limit}
                self.exit_status = EXIT_TIMEOUT
                if self.impl is not None:
                    self.matrix = self.assemble()
                    self.write()
                elif self.json_path or self.md_path:
                    self.matrix = Matrix()
                    self.matrix.meta.update(impl=self.config.getoption("impl"), complete=False,
                                            exit_status=EXIT_TIMEOUT, timed_out=self.timed_out,
                                            command=["pytest", *self.config.invocation_params.args],
                                            versions=versions())
                    self.write()
        finally:
            os._exit(EXIT_TIMEOUT)


def _capped(text: str, cap: int = OUTPUT_CAP + 1024) -> str:
    return text if len(text) <= cap else text[:cap] + f"\n[... {len(text) - cap} more characters cut]"


class _GlobalState:
    """numpy's and torch's global generators, torch's default dtype and numpy's error state,
    as they are now; :meth:`restore` puts them back."""

    def __init__(self):
        self.numpy_rng = np.random.get_state()
        self.errstate = np.geterr()
        self.torch_rng = torch.get_rng_state() if torch is not None else None
        self.torch_dtype = torch.get_default_dtype() if torch is not None else None

    def restore(self) -> None:
        np.random.set_state(self.numpy_rng)
        np.seterr(**self.errstate)
        if torch is not None:
            torch.set_rng_state(self.torch_rng)
            torch.set_default_dtype(self.torch_dtype)


def terminal_summary(terminalreporter, matrix: Optional[Matrix]) -> None:
    """The conformance section of pytest's terminal summary (``matrix`` None: torch is missing):
    :meth:`Matrix.screen`, the same lines npdrop-conform prints from the JSON report."""
    if matrix is None and torch is None:
        terminalreporter.write_line("npdrop conformance: torch is not installed, nothing was compared (all skipped)")
        return
    if matrix is None or not matrix.cells:
        return
    terminalreporter.section("npdrop conformance matrix")
    for line in matrix.screen():
        terminalreporter.write_line(line)
