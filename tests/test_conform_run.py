"""A conformance run's verdict can be trusted: it never hangs, its report never claims a run
that did not happen, and the user's environment and code cannot break the suite itself.

Each case runs ``python -m pytest conformance/...`` on a small selection in a subprocess,
against a module written to a temporary directory (as a user's code would be).
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import hang_guard

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]
FAST = ["-q", "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:benchmark", "-W", "ignore"]

USER_CODE = '''
import sys
import time
from pathlib import Path

import numpy as np


class Dropout:
    """Correct inverted dropout, the base of the cases below."""

    def __init__(self, p=0.5):
        self.p = p
        self.noise = None

    def forward(self, x, training=True):
        if not training or self.p == 0:
            self.noise = None
            return x
        keep = np.random.random_sample(x.shape) >= self.p
        self.noise = (keep * (1 / (1 - self.p) if self.p < 1 else 0.0)).astype(x.dtype)
        return x * self.noise

    def backward(self, grad):
        return grad if self.noise is None else grad * self.noise


class HangsOnLargeInput(Dropout):
    """Never returns for the keep-rate test's 1e6-element input."""

    def forward(self, x, training=True):
        if x.size >= 10**6:
            Path(sys.modules[__name__].__file__).with_name("hung").write_text("hung")
            while True:
                time.sleep(0.02)
        return super().forward(x, training)


class HangsWhenBuilt(Dropout):
    def __init__(self, p=0.5):
        while True:
            time.sleep(0.02)


class Chatty(Dropout):
    def forward(self, x, training=True):
        print("x" * 1_000_000)
        return super().forward(x, training)


class FixedMask(Dropout):
    def forward(self, x, training=True):
        np.random.seed(0)
        return super().forward(x, training)
'''


@pytest.fixture(scope="module")
def user_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("user")
    (folder / "user_dropout.py").write_text(textwrap.dedent(USER_CODE))
    (folder / "syntax_error.py").write_text("class Dropout:\n    def forward(self, x)\n        return x\n")
    (folder / "exits.py").write_text("import sys\n\nsys.exit(3)\n")
    (folder / "raises.py").write_text("import os\n\nCONFIG = os.environ['NPDROP_NO_SUCH_VARIABLE']\n")
    return folder


def _run(user_dir, *args, files=("conformance/test_statistics.py",), timeout=600, **popen):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(user_dir), str(ROOT)])}
    return subprocess.run([sys.executable, "-m", "pytest", *files, *FAST, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=hang_guard.limit(timeout), **popen)


def _report(path: Path) -> dict:
    return json.loads(path.read_text())


def test_a_hung_call_ends_the_run_with_exit_6_naming_it_and_its_test(user_dir, tmp_path):
    report = tmp_path / "r.json"
    done = _run(user_dir, "--impl", "user_dropout:HangsOnLargeInput", "--call-timeout", "1",
                "--report-json", str(report))
    output = done.stdout + done.stderr
    assert done.returncode == 6, output[-3000:]
    assert "forward(x, training=True) did not return within 1 s" in output
    assert "test_keep_rate[Dropout-p0.1-1e7]" in output, output[-3000:]
    found = _report(report)
    assert found["complete"] is False and found["exit_status"] == 6
    assert found["timed_out"]["test"].endswith("test_keep_rate[Dropout-p0.1-1e7]")
    assert found["tests"]["not_run"] > 0 and found["not_run"]
    assert "keep-rate" in found["failed_properties"]


def test_a_hang_while_loading_ends_the_run_with_exit_6(user_dir, tmp_path):
    report = tmp_path / "r.json"
    done = _run(user_dir, "--impl", "user_dropout:HangsWhenBuilt", "--call-timeout", "1", "--report-json", str(report))
    output = done.stdout + done.stderr
    assert done.returncode == 6, output[-3000:]
    assert "loading user_dropout:HangsWhenBuilt" in output and "did not return within 1 s" in output
    assert _report(report)["complete"] is False


def test_an_unwritable_report_path_is_refused_before_any_test(user_dir, tmp_path):
    done = _run(user_dir, "--impl", "user_dropout:Dropout", "--report-json", str(tmp_path / "missing" / "r.json"))
    output = done.stdout + done.stderr
    assert done.returncode == 4, output[-3000:]
    assert "--report-json" in output and "cannot write there" in output
    assert "passed" not in output and "Traceback" not in output


def test_a_run_stopped_by_x_says_it_is_incomplete(user_dir, tmp_path):
    report = tmp_path / "r.json"
    done = _run(user_dir, "--impl", "user_dropout:FixedMask", "-x", "--report-json", str(report))
    assert done.returncode == 1, (done.stdout + done.stderr)[-3000:]
    found = _report(report)
    assert found["complete"] is False and found["exit_status"] == 1
    assert found["tests"]["not_run"] == len(found["not_run"]) > 0
    assert found["failed_properties"] and found["totals"]["failed"] >= 1


def test_a_killed_run_writes_an_incomplete_report(user_dir, tmp_path):
    report = tmp_path / "r.json"
    marker = user_dir / "hung"
    marker.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(user_dir), str(ROOT)])}
    run = subprocess.Popen([sys.executable, "-m", "pytest", "conformance/test_statistics.py", *FAST, "--impl",
                            "user_dropout:HangsOnLargeInput", "--report-json", str(report)],
                           cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = hang_guard.limit(600)
        started = time.monotonic()
        while not (marker.exists() or run.poll() is not None or deadline and time.monotonic() - started > deadline):
            time.sleep(0.05)
        assert marker.exists(), "the implementation was never called with the large input"
        run.send_signal(signal.SIGTERM)
        output, _ = run.communicate(timeout=hang_guard.limit(300))
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 2, output[-3000:]
    found = _report(report)
    assert found["complete"] is False and found["exit_status"] == 2 and found["tests"]["not_run"] > 0


@pytest.mark.parametrize("module,where", [("syntax_error", "syntax_error.py:2"), ("exits", "exits.py:3"),
                                          ("raises", "raises.py:3")])
def test_a_failure_while_loading_exits_4_with_the_users_file_and_line(user_dir, module, where):
    done = _run(user_dir, "--impl", f"{module}:Dropout")
    output = done.stdout + done.stderr
    assert done.returncode == 4, output[-3000:]
    assert where in output and "INTERNALERROR" not in output, output[-3000:]


def test_what_the_implementation_prints_is_capped(user_dir):
    done = _run(user_dir, "--impl", "user_dropout:Chatty", "-rA")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "more characters printed, not kept" in output
    tests = int(re.search(r"(\d+) passed", output).group(1))
    assert len(output) < tests * 70_000, f"{len(output)} characters of output for {tests} tests printing 1 MB per call"


def test_a_single_test_rerun_says_what_its_diagnosis_lacks(user_dir, tmp_path):
    report = tmp_path / "r.json"
    _run(user_dir, "--impl", "tests.gallery.values:NoScaling", "--report-json", str(report),
         files=("conformance/test_forward.py::test_forward[Dropout-batched-float32-p0.3]",))
    found = _report(report)
    assert found["failed_properties"] == ["forward"]
    assert found["evidence_from"].startswith("only the 1 selected tests"), found["evidence_from"]


def test_a_report_is_replaced_whole_never_written_in_place(tmp_path):
    """Two runs writing one path: each write is a complete file put in place by a rename, so
    a reader sees one whole report or the other, and no temporary file is left behind."""
    from concurrent.futures import ThreadPoolExecutor

    from conformance.plugin import write_atomically

    path = tmp_path / "report.json"
    bodies = [json.dumps({"run": i, "pad": "x" * 200_000}) for i in range(8)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda body: write_atomically(str(path), body), bodies))
    assert json.loads(path.read_text())["run"] in range(8)
    assert os.listdir(tmp_path) == ["report.json"]


def test_a_report_is_as_readable_as_the_log_beside_it(tmp_path):
    """The reports follow the umask, as the log (a plain ``open``) does: not mkstemp's 0600."""
    from conformance.plugin import write_atomically

    write_atomically(str(tmp_path / "report.json"), "{}")
    (tmp_path / "pytest.log").write_text("")
    mode = lambda name: oct((tmp_path / name).stat().st_mode & 0o777)  # noqa: E731
    assert mode("report.json") == mode("pytest.log")


def test_under_xdist_a_hung_call_ends_its_worker_and_the_report_says_so(user_dir, tmp_path):
    """pytest -n 2: the worker whose call hangs exits past the limit; pytest-xdist reports its
    test as crashed, the run goes on, and the report lists the test and is incomplete."""
    pytest.importorskip("xdist")
    report = tmp_path / "r.json"
    done = _run(user_dir, "--impl", "user_dropout:HangsOnLargeInput", "--call-timeout", "1", "-n", "2",
                "--report-json", str(report))
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-3000:]
    found = _report(report)
    assert found["complete"] is False and found["tests"]["not_run"] > 0
    assert "conformance/test_statistics.py::test_keep_rate[Dropout-p0.1-1e7]" in found["crashed"]
    assert "CRASHED: conformance/test_statistics.py::test_keep_rate[Dropout-p0.1-1e7]" in output


def _conform(user_dir, *args, timeout=600):
    """``npdrop-conform`` (its one-screen mode) from the user's directory."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(user_dir), str(ROOT)])}
    return subprocess.run([sys.executable, "-m", "npdrop_conform.cli", *args, *FAST], cwd=user_dir, env=env,
                          capture_output=True, text=True, timeout=hang_guard.limit(timeout))


def test_a_hung_call_is_named_on_the_one_screen_with_exit_6(user_dir, tmp_path):
    """pytest runs in a child process under the one-screen mode: the call that timed out ends
    that process, and the screen, assembled from its incomplete report, still names it."""
    done = _conform(user_dir, "user_dropout:HangsOnLargeInput", "conformance/test_statistics.py",
                    "--call-timeout", "1", "--log-dir", str(tmp_path))
    assert done.returncode == 6, (done.stdout + done.stderr)[-3000:]
    screen = done.stdout
    assert ("TIMED OUT: forward(x, training=True) did not return within 1 s (--call-timeout) in "
            "conformance/test_statistics.py::test_keep_rate[Dropout-p0.1-1e7]") in screen, screen
    assert "verdict: INCOMPLETE: a call timed out" in screen and "what ran: FAIL: " in screen, screen
    assert len(screen.splitlines()) <= 60, screen
    assert _report(tmp_path / "report.json")["complete"] is False


def test_serial_and_xdist_runs_give_the_same_screen_and_json(user_dir, tmp_path):
    """pytest -n 2: the one screen (matrix, failures, likely causes) and the JSON report are the
    serial run's."""
    pytest.importorskip("xdist")
    files = ("conformance/test_statistics.py", "conformance/test_contract.py", "conformance/test_modes.py")
    screens, reports = {}, {}
    for name, extra in (("serial", ()), ("xdist", ("-n", "2"))):
        folder = tmp_path / name
        done = _conform(user_dir, "tests.gallery.draws:OneMaskPerBatch", *files, "--log-dir", str(folder), *extra)
        assert done.returncode == 1, (done.stdout + done.stderr)[-3000:]
        screens[name] = done.stdout.replace(str(folder), "LOGDIR")
        reports[name] = _report(folder / "report.json")
        for key in ("command", "nonce"):   # the -n 2, and each run's own nonce
            reports[name].pop(key)
    assert "likely cause: batch-shared-mask" in screens["serial"], screens["serial"]
    assert reports["serial"]["diagnoses"] and reports["serial"]["complete"] is True
    assert screens["serial"] == screens["xdist"]
    assert reports["serial"] == reports["xdist"]


@pytest.mark.parametrize("strict", (False, True), ids=("default", "strict"))
def test_an_edge_difference_alone_exits_0_unless_strict(user_dir, tmp_path, strict):
    """Training conforms, one edge differs (float16 at p near 1, NaN from an overflowed scale):
    exit 0 and a report that says so; ``--strict-edges`` makes the same run exit 1."""
    report = tmp_path / "r.json"
    done = _run(user_dir, "--impl", "tests.gallery.verdicts:Float16ScaleOverflow", "--report-json", str(report),
                *(("--strict-edges",) if strict else ()),
                files=("conformance/test_forward.py::test_float16_near_one", "conformance/test_statistics.py"))
    output = done.stdout + done.stderr
    assert done.returncode == (1 if strict else 0), output[-3000:]
    found = _report(report)
    assert found["conforms_in_training"] is True and found["edge_differences"] == ["float16-near-one"]
    assert found["exit_status"] == (1 if strict else 0) and found["strict"] is strict
    assert ("FAIL (--strict): conforms in training" if strict else "verdict: conforms in training:") in output
