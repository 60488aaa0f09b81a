"""Nothing a network does changes its verdict, and nothing it does holds the run: the network check.

Each builder of ``tests/hostile/network.py`` (a hostile dropout of ``tests/hostile/`` inside a
small network) is checked with ``npdrop-conform --network`` and a 2 s call limit: it ends in a
failed or incomplete verdict with a non-zero exit status, the cause on the screen and the
judge's report at the asked path (the correct ones pass, and end). The subprocess timeout is
a hang guard only, far above what any case takes.
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
HANG_GUARD = 300


def check(tmp_path, name: str) -> tuple:
    """``npdrop-conform --network tests.hostile.network:NAME``: (exit status, screen, JSON report, Markdown)."""
    json_path, md_path = tmp_path / "report.json", tmp_path / "report.md"
    done = subprocess.run([sys.executable, "-m", "npdrop_conform.cli", "--network", f"tests.hostile.network:{name}",
                           "--loss", "tests.networks.plain_style:MSE", "--call-timeout", "2",
                           "--report-json", str(json_path), "--report-md", str(md_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=HANG_GUARD)
    record = json.loads(json_path.read_text()) if json_path.is_file() else None
    md = md_path.read_text() if md_path.is_file() else None
    return done.returncode, done.stdout + done.stderr, record, md


def verdict(screen: str) -> str:
    return next((line for line in screen.splitlines() if line.startswith("verdict:")), "")


@pytest.mark.parametrize("name", ["patch_torch", "patch_numpy", "fake_report"])
def test_patching_the_judge_or_faking_its_report_changes_nothing(tmp_path, name):
    # no-scale dropout: torch's dropout patched to no-scale, numpy's comparisons patched to agree,
    # or a passing report written at the report paths; the judge's twin and report are its own
    code, screen, record, md = check(tmp_path, name)
    assert code == 1, screen[-3000:]
    assert verdict(screen).startswith("verdict: FAIL:"), screen[-3000:]
    assert "likely cause: no-scale [[2] Dropout]" in screen
    assert record["verdict"] == "FAIL" and record["diagnoses"][0]["id"] == "no-scale"
    assert record["command"].startswith("npdrop-conform") and "**Verdict: FAIL**" in md


@pytest.mark.parametrize("name", ["exit_at_import", "fake_and_exit"])
def test_an_exit_while_loading_is_a_usage_error_naming_it(tmp_path, name):
    code, screen, record, md = check(tmp_path, name)
    assert code == 4, screen[-3000:]
    assert f"CRASHED: tests.hostile.network:{name}(): the implementation's process ended (exit status 0)" in screen, \
        screen[-3000:]
    assert verdict(screen).startswith("verdict: INCOMPLETE: the network's process ended during a call (loading")
    assert record["verdict"] == "INCOMPLETE" and record["complete"] is False and record["exit_status"] == 4
    assert "**Verdict: INCOMPLETE**" in md


def test_an_exit_mid_run_fails_that_call_and_the_run_is_incomplete(tmp_path):
    code, screen, record, _ = check(tmp_path, "exit_midrun")
    assert code == 1, screen[-3000:]
    assert "CRASHED: [2] Dropout.forward(...): the implementation's process ended (exit status 0)" in screen
    assert verdict(screen).startswith("verdict: INCOMPLETE:"), screen[-3000:]
    assert record["verdict"] == "INCOMPLETE" and record["stopped_in"] == "[2] Dropout.forward(...)"


@pytest.mark.parametrize("name", ["gil_hang", "regex_hang", "spin"])
def test_a_call_that_never_returns_is_ended_from_outside(tmp_path, name):
    # 7**(10**9) holding the GIL after replacing time.monotonic and stopping the guard; a
    # backtracking regex; a Python loop
    code, screen, record, _ = check(tmp_path, name)
    assert code == 6, screen[-3000:]
    assert "TIMED OUT: [2] Dropout.forward(...) did not return within 2 s (--call-timeout)" in screen.replace(
        "SpinDropout", "Dropout"), screen[-3000:]
    assert verdict(screen).startswith("verdict: INCOMPLETE: a call timed out"), screen[-3000:]
    assert record["verdict"] == "INCOMPLETE" and record["exit_status"] == 6


@pytest.mark.parametrize("name", ["threads", "del_hang"])
def test_threads_forks_and_del_left_behind_do_not_hold_the_run(tmp_path, name):
    code, screen, record, _ = check(tmp_path, name)   # correct dropout: it passes, and ends
    assert code == 0, screen[-3000:]
    assert verdict(screen).startswith("verdict: PASS:") and record["verdict"] == "PASS"


def test_the_judge_never_imports_the_network(tmp_path):
    script = ("import sys\nfrom conformance.network.cli import main\n"
              "status = main(['--network', 'tests.networks.nnfs_style:correct', '--log-dir', sys.argv[1]])\n"
              "mine = sorted(m for m in sys.modules if m.startswith('tests'))\n"
              "print('status', status, 'imported', mine)\n")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=HANG_GUARD, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert "status 0 imported []" in done.stdout, done.stdout + done.stderr


@pytest.mark.parametrize("calls", [None, [{"layer": 0, "x": "rm -rf ~"}], [{"layer": 9}], "a string"])
def test_a_reply_that_is_not_a_tape_ends_the_run_never_a_verdict(calls):
    from conformance.network.kinds import Layer
    from conformance.network.remote import RemoteNetwork, Stopped

    net = RemoteNetwork.__new__(RemoteNetwork)   # no process: only the reading of a reply
    net.layers, net.worker = [Layer("[0]", None, "relu")], None
    with pytest.raises(Stopped, match="sent a tape that is not one"):
        net._tape(calls)


@pytest.mark.parametrize("prefix, status", [(["--worker-prefix", "env NPDROP_UNDER_PREFIX=1"], 0), ([], 1)])
def test_a_worker_prefix_runs_the_network_under_that_command(tmp_path, prefix, status):
    done = subprocess.run([sys.executable, "-m", "npdrop_conform.cli", "--network", "tests.hostile.network:prefixed",
                           "--loss", "tests.networks.plain_style:MSE", "--log-dir", str(tmp_path), *prefix],
                          cwd=ROOT, capture_output=True, text=True, timeout=HANG_GUARD)
    assert done.returncode == status, done.stdout[-3000:] + done.stderr[-3000:]
