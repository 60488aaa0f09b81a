"""The end of ``npdrop-conform``'s screen is the answer: on an 80x24 terminal the rows left in
view when a failing run ends hold the verdict and the first likely cause with its ``try:``
(:mod:`conformance.terminal`); printed to a pipe without ``COLUMNS``, lines stay whole.
"""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

import hang_guard
from conformance.terminal import fit

ROOT = Path(__file__).resolve().parents[1]


def assert_answer_in_view(rows: list, columns: int = 80, height: int = 24) -> None:
    """The verdict, the first ``likely cause:`` and all the rows of its ``try:`` are among the
    last ``height - 1`` rows (the last is the prompt's), and no row is wider than the terminal
    but for a single unbreakable word."""
    view = rows[-(height - 1):]
    assert any(row.startswith("verdict: ") for row in view), "\n".join(rows)
    first = next(i for i, row in enumerate(rows) if row.startswith("likely cause: "))
    tried = next(i for i in range(first, len(rows)) if rows[i].startswith("  try: "))
    end = next((i for i in range(tried + 1, len(rows)) if not rows[i].startswith("    ")), len(rows))
    assert first >= len(rows) - (height - 1) and end <= len(rows), "\n".join(view)
    commands = {rows[i + 1] for i, row in enumerate(rows[:-1]) if row == "rerun one case with its traceback:"}
    wide = [row for row in rows if len(row) > columns and " " in row.strip() and row not in commands]
    assert not wide, wide   # only the rerun command keeps its row whole, to be copied


def _cause(name: str, words: int) -> list:
    return [f"likely cause: {name} [Dropout: forward]: " + "because " * words,
            "  evidence: " + "measured " * words, f"  try: fix {name} " + "carefully " * words]


SCREEN = (["impl vs torch.nn.Dropout: " + "found " * 40, "property  Dropout", "forward   FAIL(3)",
           "failed properties (torch; here, the most telling failure; in training):"]
          + ["  forward: torch does this; here: " + "differs " * 80] * 6
          + ["pytest's whole output: /tmp/x/pytest.log (or run with --full)",
             "verdict: FAIL: 1 of 17 properties fail (forward); 3 failed, 327 passed, 0 skipped, 0 n/a tests"])


def test_lines_are_wrapped_and_property_lines_cut_to_two_rows():
    rows = fit(SCREEN + _cause("no-scale", 10), 80, 24)
    assert all(len(row) <= 80 for row in rows), [row for row in rows if len(row) > 80]
    properties = [row for row in rows if row.startswith("  forward: ")]
    assert len(properties) == 6
    for start in (rows.index(row) for row in properties):
        assert rows[start + 1].startswith("    ") and rows[start + 1].endswith(" ...")
        assert not rows[start + 2].startswith("    ")
    assert_answer_in_view(rows)


def test_later_causes_shrink_to_one_row_each_when_they_would_push_the_verdict_away():
    causes = [line for name in ("nan-at-p1", "eval-backward", "no-scale", "keep-prob") for line in _cause(name, 30)]
    rows = fit(SCREEN + causes, 80, 24)
    assert_answer_in_view(rows)
    later = [row for row in rows if row.startswith("likely cause: ")][1:]
    assert len(later) == 3 and all(len(row) <= 80 and row.endswith(" ...") for row in later)
    assert sum(row.startswith("  try: ") for row in rows) == 1


def test_the_rerun_command_keeps_a_row_of_its_own_to_be_copied_whole():
    command = "npdrop-conform mod:Drop 'conformance/test_forward.py::test_forward[Dropout-batched-float32-p0.3]' --full"
    rows = fit(SCREEN[:-1] + [f"rerun one case with its traceback: {command}", SCREEN[-1]], 80, 24)
    assert rows[rows.index("rerun one case with its traceback:") + 1] == "  " + command


def test_causes_that_fit_are_shown_whole():
    causes = [line for name in ("nan-at-p1", "eval-backward") for line in _cause(name, 3)]
    rows = fit(SCREEN + causes, 80, 24)
    assert sum(row.startswith("  try: ") for row in rows) == 2 and not any(" ..." in r for r in rows[-8:])


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch")
def test_a_failing_numpy_run_ends_with_its_answer_on_an_80_by_24_terminal(tmp_path):
    """examples/layer_dropout.py, as the README runs it, with ``COLUMNS=80``."""
    env = {**os.environ, "COLUMNS": "80", "LINES": "24"}
    run = subprocess.run([sys.executable, "-m", "npdrop_conform.cli", "examples.layer_dropout:Layer_Dropout",
                          "--log-dir", str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=hang_guard.limit(600))
    assert run.returncode == 1, run.stdout + run.stderr
    rows = run.stdout.rstrip("\n").split("\n")
    assert_answer_in_view(rows)
    assert "likely cause: nan-at-p1" in "\n".join(rows[-23:])


@pytest.mark.parametrize("columns", ["", "300"])
def test_a_pipe_keeps_whole_lines_unless_columns_is_set(monkeypatch, columns):
    from conformance import terminal

    monkeypatch.setenv("COLUMNS", columns)
    with open(os.devnull, "w") as pipe:
        found = terminal.size(pipe)
    assert found is None if not columns else found[0] == 300
