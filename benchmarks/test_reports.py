"""The report scripts still run, and benchmarks/README.md shows what they print from the committed data.

No timing here: ``plot.py`` and ``targets.py`` read the committed JSON (``results.json`` and
``runs/*.json``), and every table they print must appear verbatim in the README, so a rerun
that is not copied into the README (or a README edited by hand) fails.
"""
from __future__ import annotations

import glob
import os

import plot
import targets

HERE = os.path.dirname(os.path.abspath(__file__))


def readme() -> str:
    with open(os.path.join(HERE, "README.md")) as f:
        return f.read()


def test_readme_results_tables_are_those_of_results_json():
    rows, _ = plot.load(os.path.join(HERE, "results.json"))
    text = readme()
    for kind in plot.KINDS:
        assert plot.table(rows, kind) in text, f"benchmarks/README.md: the {kind} table is not plot.py's for results.json"
    assert plot.bounds_table(rows) in text, "benchmarks/README.md: the bounds table is not plot.py's for results.json"


def test_readme_targets_table_is_that_of_the_committed_runs(capsys):
    runs = sorted(glob.glob(os.path.join(HERE, "runs", "*.json")))
    assert len(runs) >= 5, "benchmarks/runs/ should hold the runs the targets are judged on"
    targets.main(runs)
    printed = capsys.readouterr().out
    table = printed.split("\n\n")[0].strip()
    assert table.count("\n") > 10, "targets.py printed no table"
    assert table in readme(), "benchmarks/README.md: the targets table is not targets.py's for benchmarks/runs/"
