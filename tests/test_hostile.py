"""Nothing an implementation does changes its verdict, and nothing it does holds the run.

Each module of ``tests/hostile/`` is checked with ``npdrop-conform`` on a few tests (``-k``)
with a 2 s call limit: it must end in a failed or incomplete verdict with a non-zero exit
status, the cause on the screen and the judge's report at the asked path. The
subprocess timeout is a hang guard only, far above what any case takes.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]
FEW = ["-k", "test_forward and float32 and batched", "--call-timeout", "2"]
HANG_GUARD = 300


def conform(tmp_path, name: str, *args, env=None) -> tuple:
    """``npdrop-conform tests.hostile.NAME`` on :data:`FEW` tests: (exit status, screen, JSON report or None)."""
    report = tmp_path / "report.json"
    done = subprocess.run([sys.executable, "-m", "npdrop_conform.cli", f"tests.hostile.{name}", *FEW, *args,
                           "--log-dir", str(tmp_path / "log"), "--report-json", str(report)],
                          cwd=ROOT, capture_output=True, text=True, timeout=HANG_GUARD,
                          env={**os.environ, **(env or {})})
    record = json.loads(report.read_text()) if report.is_file() else None
    return done.returncode, done.stdout + done.stderr, record


def verdict(screen: str) -> str:
    return next(line for line in screen.splitlines() if line.startswith("verdict:"))


@pytest.mark.parametrize("name", ["patch_torch:Dropout", "patch_numpy:Dropout", "fake_report:Dropout"])
def test_patching_the_judge_or_faking_its_report_changes_nothing(tmp_path, name):
    code, screen, record = conform(tmp_path, name)
    assert code == 1, screen[-3000:]
    assert verdict(screen).startswith("verdict: FAIL:") and "forward" in verdict(screen), screen[-3000:]
    assert "forward" in record["failed_properties"] and record["complete"] is True


def test_pytests_skipped_raised_by_the_implementation_is_a_failure_not_na(tmp_path):
    code, screen, record = conform(tmp_path, "skipper:Dropout")
    assert code == 1, screen[-3000:]
    assert "raised Skipped" in screen and verdict(screen).startswith("verdict: FAIL:"), screen[-3000:]
    assert record["totals"]["n/a"] == 0 and "forward" in record["failed_properties"]


def test_an_exit_at_import_is_a_usage_error_naming_it(tmp_path):
    code, screen, _ = conform(tmp_path, "exit_at_import:Dropout")
    assert code == 4, screen[-3000:]
    assert "the implementation's process ended (exit status 0)" in screen


def test_an_exit_mid_run_fails_that_call_and_the_run_is_incomplete(tmp_path):
    code, screen, record = conform(tmp_path, "exit_midrun:Dropout")
    assert code != 0, screen[-3000:]
    assert verdict(screen).startswith("verdict: INCOMPLETE: 2 tests crashed"), screen[-3000:]
    assert "CRASHED: conformance/test_forward.py::test_forward[Dropout-batched-float32-p0.8]" in screen
    assert "exit status 0" in screen
    # a fresh process went on: the cases after the crash were checked and passed (p = 0, 0.1, 0.3,
    # 0.5 under forward; p = 1, forward and backward, under p-one)
    assert record["properties"]["forward"]["Dropout"]["passed"] == 4 and record["complete"] is False
    assert record["properties"]["p-one"]["Dropout"]["passed"] == 2


@pytest.mark.parametrize("name", ["gil_hang:Dropout", "regex_hang:Dropout", "array_hang:Dropout"])
def test_a_call_that_never_returns_is_ended_from_outside(tmp_path, name):
    code, screen, record = conform(tmp_path, name)
    assert code == 6, screen[-3000:]
    assert "TIMED OUT: forward(x, training=True) did not return within 2 s" in screen, screen[-3000:]
    assert verdict(screen).startswith("verdict: INCOMPLETE: a call timed out")
    assert record["complete"] is False and record["timed_out"]["limit_s"] == 2


def test_a_hung_call_is_named_where_the_worker_does_not_get_the_shared_page(tmp_path):
    """A prefix that closes the descriptors the worker inherits (as sudo does): the worker
    names its calls over the pipe instead, and the call that never returns is still named."""
    closing = f"{sys.executable} -c 'import os, sys; os.closerange(3, 65536); os.execv(sys.argv[1], sys.argv[1:])'"
    code, screen, record = conform(tmp_path, "gil_hang:Dropout", "--worker-prefix", closing)
    assert code == 6, screen[-3000:]
    assert "TIMED OUT: forward(x, training=True) did not return within 2 s" in screen, screen[-3000:]
    assert record["complete"] is False


def test_a_del_that_never_returns_is_ended_too(tmp_path):
    code, screen, record = conform(tmp_path, "del_hang:Dropout")
    assert code == 6, screen[-3000:]
    assert "TIMED OUT: loading tests.hostile.del_hang:Dropout" in screen
    assert record["complete"] is False


def test_threads_and_forks_left_running_do_not_hold_the_run(tmp_path):
    code, screen, record = conform(tmp_path, "threads:Dropout")   # correct dropout: it passes, and ends
    assert code == 0, screen[-3000:]
    assert verdict(screen).startswith("verdict: pass:") and record["complete"] is True


def test_a_report_the_run_did_not_write_is_not_read(tmp_path):
    code, screen, _ = conform(tmp_path, "fake_and_exit:Dropout")
    assert code != 0, screen[-3000:]
    assert "not written by this run's suite" in screen and "verdict:" not in screen


def test_pytest_addopts_cannot_deselect_and_a_selection_is_shown(tmp_path):
    code, screen, record = conform(tmp_path, "_base:NoScale", env={"PYTEST_ADDOPTS": "-k p0.0"})
    assert code == 1, screen[-3000:]
    assert "selection: -k test_forward and float32 and batched" in screen
    assert record["properties"]["forward"]["Dropout"]["failed"] > 0


INSTALLED_PLUGIN = """
import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    outcome.get_result().outcome = "passed"
"""


@pytest.mark.parametrize("full", ((), ("--full",)), ids=("one-screen", "full"))
def test_a_pytest_plugin_installed_in_the_environment_does_not_reach_the_judge(tmp_path, full):
    """A plugin that pytest would load by its entry point (``pytest11``) and that turns every
    failure into a pass: the judge loads only the plugins it names (in a child process, or in
    its own with ``--full``)."""
    site = tmp_path / "site"
    (site / "passes_all-1.0.dist-info").mkdir(parents=True)
    (site / "passes_all-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: passes-all\nVersion: 1.0\n")
    (site / "passes_all-1.0.dist-info" / "entry_points.txt").write_text("[pytest11]\npasses_all = passes_all\n")
    (site / "passes_all.py").write_text(INSTALLED_PLUGIN)
    path = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    code, screen, record = conform(tmp_path, "_base:NoScale", *full, env={"PYTHONPATH": path})
    assert code == 1, screen[-3000:]
    assert "forward" in record["failed_properties"], screen[-3000:]
    if not full:
        assert verdict(screen).startswith("verdict: FAIL:"), screen[-3000:]


def test_under_xdist_a_hang_is_incomplete_too(tmp_path):
    code, screen, record = conform(tmp_path, "gil_hang:Dropout", "-n", "2")
    assert code != 0, screen[-3000:]
    assert verdict(screen).startswith("verdict: INCOMPLETE:"), screen[-3000:]
    assert record["complete"] is False


@pytest.mark.parametrize("args, words", [
    (["--report-md", "SAME"], "--report-json and --report-md name the same file"),
    (["--log-dir", "FILE"], "is a file, not a directory"),
])
def test_reports_and_log_must_be_distinct_files(tmp_path, args, words):
    (tmp_path / "file").write_text("")
    same = str(tmp_path / "report.json")
    args = [same if a == "SAME" else str(tmp_path / "file") if a == "FILE" else a for a in args]
    done = subprocess.run([sys.executable, "-m", "npdrop_conform.cli", "tests.hostile._base:Correct", "--report-json",
                           same, *args], cwd=ROOT, capture_output=True, text=True, timeout=HANG_GUARD)
    assert done.returncode == 4 and words in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


@pytest.mark.parametrize("prefix, status", [(["--worker-prefix", "env NPDROP_UNDER_PREFIX=1"], 0), ([], 1)])
def test_a_worker_prefix_runs_the_implementation_under_that_command(tmp_path, prefix, status):
    code, screen, record = conform(tmp_path, "prefixed:Dropout", *prefix)
    assert code == status and record["complete"] is True, screen[-3000:]
