"""``npdrop-conform``: the conformance suite on your own dropout, from your own project.

    npdrop-conform MODULE:NAME [--reference Dropout2d] [--p-means drop|keep] [--form original]
                   [--forward NAME] [--backward NAME] [--call-timeout SECONDS]
                   [--report-json PATH] [--report-md PATH]
                   [--log-dir DIR] [--full | -v]
                   [any pytest option, or conformance/test_*.py::... node ids to rerun]

It runs ``pytest conformance/ --impl MODULE:NAME ...`` on the suite installed with npdrop,
with the current directory importable (as ``python -m pytest`` would make it). The suite
runs with its own pytest settings (``conformance/conform.ini``): your project's pytest
configuration (``addopts``, ``filterwarnings``, ...) does not reach it. Exit status:

- 0 the implementation conforms in training (edge differences are listed, not failed;
  ``--strict``: every check passed); 1 a training property failed (``--strict``: any);
- 2 interrupted (Ctrl-C, SIGTERM): the report is written with ``complete: false``;
- 4 the implementation could not be loaded or driven (its import raised, a syntax error,
  ``sys.exit()``, no known calling convention: the message names your file and line), or a report path
  cannot be written, or torch or pytest is missing; nothing ran;
- 6 a call into your implementation did not return within ``--call-timeout`` seconds
  (default 60): the message names the call and its test, the run ends there, and the report
  is written with ``complete: false`` and the tests that did not run.

By default it prints one screen: what it found, the matrix, the verdict, the likely causes
and one line per failed property (and a call that timed out, an incomplete run); pytest
runs in a child process whose whole output goes to a log file, and the Markdown and JSON
reports are written beside it (in a new temporary directory unless ``--log-dir``), whose
paths it prints. The screen is assembled from the JSON report, so ``-n 2`` (pytest-xdist)
prints the same one. ``--full`` (or pytest's ``-v``) runs pytest in this process and prints
its whole output instead.

torch is not a dependency of the ``conform`` extra (an unpinned torch is a multi-GB CUDA
build on Linux): without it the command prints how to install the CPU build.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from typing import Optional

from . import childrun

SUITE = os.path.dirname(os.path.abspath(__file__))
#: PyTorch's own wheel index for its CPU builds (the Makefile's TORCH_INDEX).
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="npdrop-conform", description="Check a dropout (written in NumPy, torch, JAX, Keras or TensorFlow) against torch's, with the same masks.",
        epilog="Other options go to pytest (e.g. -x, -k EXPR, --tb=short).")
    parser.add_argument("impl", metavar="MODULE:NAME", help="your dropout: a class, a forward function, "
                        "or the forward of a pair (its backward is found beside it)")
    parser.add_argument("--reference", default="Dropout", metavar="NAME",
                        help="the torch.nn module to compare with (default Dropout)")
    parser.add_argument("--p-means", choices=("drop", "keep"), help="what your p is (default: from its "
                        "name; drop, torch's meaning, if the name does not say)")
    parser.add_argument("--form", choices=("inverted", "original"), help="inverted (torch's, default) or "
                        "original: training x*m, eval x*(1-p)")
    parser.add_argument("--forward", metavar="NAME", help="the forward method, if no usual name is found")
    parser.add_argument("--backward", metavar="NAME", help="the backward method (or, for functions, "
                        "the module-level backward)")
    parser.add_argument("--array-lib", choices=("numpy", "torch", "jax", "tensorflow", "tinygrad", "mlx", "paddle"),
                        help="the array library your code works in (default: found from the object)")
    parser.add_argument("--impl-kwargs", metavar="'NAME=VALUE, ...'", help="constructor arguments (for a "
                        "function: call arguments), Python literals, e.g. 'data_format=\"channels_first\"'")
    parser.add_argument("--mode-global", metavar="MODULE:ATTR", help="a global train/eval switch, e.g. "
                        "dezero:Config.train")
    parser.add_argument("--call-timeout", metavar="SECONDS", help="the longest one call into your code may "
                        "take (default 60; 0: no limit); past it the run ends with exit status 6")
    parser.add_argument("--worker-prefix", metavar="'CMD ...'", help="a command put before the process your "
                        "code runs in: another user ('sudo -u nobody') or a sandbox")
    parser.add_argument("--strict", action="store_true", help="exit 1 on an edge difference too (NaN/inf input, "
                        "p = 1, float16 at p near 1, the sign of zero, p outside [0, 1], integer input); by "
                        "default only a training difference fails the run")
    parser.add_argument("--report-json", metavar="PATH", help="write the conformance matrix as JSON")
    parser.add_argument("--report-md", metavar="PATH", help="write the conformance matrix as Markdown")
    parser.add_argument("--full", action="store_true", help="print pytest's whole output (so does -v), "
                        "not the one-screen summary")
    parser.add_argument("--log-dir", metavar="DIR", help="where the one-screen mode writes pytest.log and the "
                        "reports (default: a new temporary directory)")
    return parser


def suite_path(word: str) -> Optional[str]:
    """The suite's own file or node id a pass-through word names, as a path: the suite is
    ``conformance/`` in a clone and ``npdrop_conform/`` once installed, and either spelling
    names it; else None."""
    for prefix in ("conformance/", os.path.basename(SUITE) + "/"):
        if word.startswith(prefix):
            return os.path.join(SUITE, word[len(prefix):])
    return None


def pytest_arguments(args: argparse.Namespace, rest: list) -> list:
    """The pytest command line for the parsed options and the pass-through ``rest``."""
    parent = os.path.dirname(SUITE)
    selected = [suite_path(a) for a in rest if suite_path(a)]
    command = (selected or [SUITE]) + [a for a in rest if not suite_path(a)]
    # the suite's own settings file: the user's pytest.ini / pyproject.toml / setup.cfg is not read
    # nor pytest's log capture and its reports of unraisable and thread exceptions: the
    # implementation's code runs in a process of its own; in this one they cost a second
    command += ["-c", os.path.join(SUITE, "conform.ini"), "--rootdir", parent, "-p", "no:cacheprovider",
                "-p", "no:logging", "-p", "no:unraisableexception", "-p", "no:threadexception",
                *childrun.plugin_arguments(rest),
                "--impl", args.impl,
                "--reference", args.reference, "--repro-command", "npdrop-conform"]
    if args.strict:
        command.append("--strict-edges")
    for name in ("p_means", "form", "forward", "backward", "array_lib", "impl_kwargs", "mode_global",
                 "call_timeout", "worker_prefix", "report_json", "report_md"):
        value = getattr(args, name)
        if value is not None:
            if name.startswith("report"):
                value = os.path.abspath(value)
            command += [f"--{name.replace('_', '-')}", value]
    return command


def _missing(name: str) -> str:
    if name == "torch":
        return ("npdrop-conform: torch is not installed, and the suite compares your dropout with torch's.\n"
                "Its CPU build is enough (a plain `pip install torch` on Linux brings a multi-GB CUDA build):\n"
                f"    {sys.executable} -m pip install torch --index-url {TORCH_CPU_INDEX}")
    return f"npdrop-conform: {name} is needed to run the suite: pip install 'npdrop[conform]'"


def _verbose(rest: list) -> bool:
    return any(a == "--verbose" or re.fullmatch(r"-v+", a) for a in rest)


def _child(arguments: list, log: str, nonce: str = "") -> int:
    """``python -m pytest arguments`` in a child process, its output into ``log``: a call that
    times out ends that process (exit 6), never this one, which still prints the screen.
    Ctrl-C reaches both; SIGTERM is passed on. The child's status is returned."""
    with open(log, "w") as out:
        child = subprocess.Popen([sys.executable, "-m", "pytest", *arguments], stdout=out,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 env=childrun.environment(nonce))
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, lambda signum, frame: child.send_signal(signal.SIGTERM))
        try:
            while True:
                try:
                    return child.wait()
                except KeyboardInterrupt:   # the child got it too: it writes its report and ends
                    continue
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)


def _rerun(matrix) -> Optional[str]:
    """The repro command of the most telling failure of the first failed property."""
    from .explain import telling

    for prop in matrix.failed_properties():
        failures = [f for (q, _), c in matrix.cells.items() if q == prop for f in c.failures]
        found = re.search(r"repro: (.+)", telling(failures)["message"]) if failures else None
        if found:
            return found.group(1).strip()
    return None


def one_screen(args: argparse.Namespace, rest: list) -> int:
    """Run the suite with its output in a log; print the summary of :meth:`Matrix.screen`."""
    from . import terminal
    from .report import Matrix

    folder = args.log_dir or tempfile.mkdtemp(prefix="npdrop-conform-")   # shown as given
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        print(f"npdrop-conform: --log-dir {folder}: cannot create it ({exc.strerror})", file=sys.stderr)
        return 4
    log = os.path.join(folder, "pytest.log")
    args.report_json = args.report_json or os.path.join(folder, "report.json")
    args.report_md = args.report_md or os.path.join(folder, "report.md")
    for name in ("report_json", "report_md"):   # a report left from an earlier run is not read as this one's
        if os.path.isfile(getattr(args, name)):
            os.remove(getattr(args, name))
    nonce = childrun.new_nonce()
    code = _child(pytest_arguments(args, rest), log, nonce)
    record, why_not = childrun.own_report(args.report_json, nonce)
    if record is None:
        print(_log_tail(log))
        why_not = "" if why_not == childrun.NO_REPORT else f"{why_not}; "
        print(f"npdrop-conform: no conformance matrix ({why_not}exit status {code}); pytest's whole output: {log}")
        return code or 1
    matrix = Matrix.from_json(record)
    if not matrix.cells:   # nothing was compared: a hang while loading, or pytest's last lines say why
        if matrix.meta.get("timed_out"):
            print("\n".join(matrix.run_lines()))
        else:
            print(_log_tail(log))
        print(f"npdrop-conform: no conformance matrix (exit status {code}); pytest's whole output: {log}")
        return code
    lines = screen(matrix, log, args.report_md, args.report_json, childrun.selection(rest))
    fitted = terminal.size()
    print("\n".join(terminal.fit(lines, *fitted) if fitted else lines))
    return code


def _log_tail(log: str) -> str:
    """pytest's last lines, which say why a run compared nothing."""
    with open(log) as f:
        return "\n".join(f.read().splitlines()[-25:])


def screen(matrix, log: str, report_md: str, report_json: str, selection: str = "") -> list:
    """The one screen's lines (unwrapped): :meth:`Matrix.screen` with where to read more, and
    the ``selection`` (``-k``, node ids, ``-m``) when only some tests ran."""
    notes = [f"pytest's whole output: {log} (or run with --full)",
             f"report: {report_md} (Markdown), {report_json} (JSON)"]
    if selection:
        notes.insert(0, f"selection: {selection}: only the selected tests ran")
    rerun = _rerun(matrix)
    if rerun:
        notes.append(f"rerun one case with its traceback: {rerun} --full")
    return matrix.screen(tuple(notes))


def main(argv: Optional[list] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if any(a == "--network" or a.startswith("--network=") for a in argv):   # a whole network
        from .network.cli import main as network_main

        return network_main(argv)
    args, rest = _parser().parse_known_args(argv)
    from .lookup import problem

    # before pytest, torch or the user's code start: a typo or a clash of paths is told at once
    wrong = problem(args.impl) or childrun.refused(args.report_json, args.report_md, args.log_dir)
    if wrong:
        print(f"npdrop-conform: {wrong}", file=sys.stderr)
        return 4
    for name in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS"):   # only the command line selects and plugs in
        os.environ.pop(name, None)
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"   # --full too: the plugins it uses are named (-p)
    for name in ("pytest", "torch"):   # found, not imported: the child process imports them
        if importlib.util.find_spec(name) is None:
            print(_missing(name), file=sys.stderr)
            return 4
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    if args.full or _verbose(rest):
        return int(pytest_main(pytest_arguments(args, rest)))
    return one_screen(args, rest)


def pytest_main(arguments: list) -> int:
    import pytest

    return int(pytest.main(arguments))


if __name__ == "__main__":
    sys.exit(main())
