"""``npdrop-conform``: the conformance suite on your own dropout, from your own project.

    npdrop-conform MODULE:NAME [--reference Dropout2d] [--p-means drop|keep] [--form original]
                   [--forward NAME] [--backward NAME] [--report-json PATH] [--report-md PATH]
                   [any pytest option, or conformance/test_*.py::... node ids to rerun]

It runs ``pytest conformance/ --impl MODULE:NAME ...`` on the suite installed with npdrop,
with the current directory importable (as ``python -m pytest`` would make it). The suite
runs with its own pytest settings (``conformance/conform.ini``): your project's pytest
configuration (``addopts``, ``filterwarnings``, ...) does not reach it. Exit status:

- 0 every check passed; 1 some failed;
- 2 interrupted (Ctrl-C, SIGTERM): the report is written with ``complete: false``;
- 4 the implementation could not be loaded or driven (its import raised, a syntax error,
  ``sys.exit()``, no known shape: the message names your file and line), or a report path
  cannot be written; nothing ran;
- 6 a call into your implementation did not return within ``--call-timeout`` seconds
  (default 60): the message names the call and its test, the run ends there, and the report
  is written with ``complete: false`` and the tests that did not run.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Optional

SUITE = os.path.dirname(os.path.abspath(__file__))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="npdrop-conform", description="Check a NumPy dropout against torch's, with the same masks.",
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
    parser.add_argument("--call-timeout", metavar="SECONDS", help="the longest one call into your code may "
                        "take (default 60; 0: no limit); past it the run ends with exit status 6")
    parser.add_argument("--report-json", metavar="PATH", help="write the conformance matrix as JSON")
    parser.add_argument("--report-md", metavar="PATH", help="write the conformance matrix as Markdown")
    return parser


def pytest_arguments(args: argparse.Namespace, rest: list) -> list:
    """The pytest command line for the parsed options and the pass-through ``rest``."""
    parent = os.path.dirname(SUITE)
    selected = [os.path.join(parent, a) for a in rest if a.startswith("conformance/")]
    command = (selected or [SUITE]) + [a for a in rest if not a.startswith("conformance/")]
    # the suite's own settings file: the user's pytest.ini / pyproject.toml / setup.cfg is not read
    command += ["-c", os.path.join(SUITE, "conform.ini"), "--rootdir", parent, "-p", "no:cacheprovider",
                "--impl", args.impl,
                "--reference", args.reference, "--repro-command", "npdrop-conform"]
    for name in ("p_means", "form", "forward", "backward", "call_timeout", "report_json", "report_md"):
        value = getattr(args, name)
        if value is not None:
            if name.startswith("report"):
                value = os.path.abspath(value)
            command += [f"--{name.replace('_', '-')}", value]
    return command


def main(argv: Optional[list] = None) -> int:
    args, rest = _parser().parse_known_args(argv)
    try:
        import pytest
        import torch  # noqa: F401
    except ImportError as exc:
        print(f"npdrop-conform: {exc.name} is needed to compare with torch: pip install 'npdrop[conform]'",
              file=sys.stderr)
        return 4
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    return int(pytest.main(pytest_arguments(args, rest)))


if __name__ == "__main__":
    sys.exit(main())
