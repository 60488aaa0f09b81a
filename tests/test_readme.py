"""The README's commands still run and still print what the README shows.

Every ```console block is a command (``$ ...``) followed by lines of its output: the command
is run from the repository root (``.venv/bin/python`` stands for this interpreter, and
``npdrop-conform`` for ``python -m conformance.cli``, the function the console script calls;
``tests/test_conform_command.py`` runs the installed script itself) and each shown line must
appear in its output, in order. Every ```python block that does not need
torch is executed.

Some commands print figures whose last digits depend on the CPU (a BLAS kernel's summation
order): ``NUMERIC`` names them with the tolerance the command itself works to, and their lines
match when the words are the same and every number agrees within that tolerance.
"""
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import hang_guard

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```(console|python)\n(.*?)```", README, flags=re.S)
CONSOLE = [body for kind, body in BLOCKS if kind == "console"]
PYTHON = [body for kind, body in BLOCKS if kind == "python" and "torch" not in body]

#: command -> tolerance for its numbers: |shown - printed| <= tol * max(1, |shown|). The
#: training replay's losses go through matrix products, so float32 BLAS kernels of another CPU
#: move their last digits; the script itself fails past a relative difference of 1e-6.
NUMERIC = {".venv/bin/python examples/replay_training.py": 1e-6,
           # the network check prints relative differences of float64 sums: 1e-16 noise in the last digits
           "npdrop-conform --network tests.networks.cs231n_style:correct --log-dir /tmp/npdrop-network": 1e-6,
           "npdrop-conform --network tests.networks.nnfs_style:fresh_mask --log-dir /tmp/npdrop-network": 1e-6}
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def same_line(shown: str, printed: str, tol=None) -> bool:
    """``printed`` is the line the README shows: exactly, or within ``tol`` for each number."""
    if tol is None:
        return shown.rstrip() == printed.rstrip()
    words = lambda line: _NUMBER.sub("#", line).split()  # noqa: E731
    if words(shown) != words(printed):
        return False
    numbers = zip(_NUMBER.findall(shown), _NUMBER.findall(printed))
    return all(abs(float(a) - float(b)) <= tol * max(1.0, abs(float(a))) for a, b in numbers)


def has_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def has_ml_dtypes() -> bool:
    try:
        import ml_dtypes  # noqa: F401
    except ImportError:
        return False
    return True


def parse(block: str):
    lines = block.rstrip("\n").split("\n")
    assert lines[0].startswith("$ "), f"a console block must start with a '$ ' command: {lines[0]!r}"
    return lines[0][2:], lines[1:]


@pytest.mark.parametrize("block", CONSOLE, ids=[parse(b)[0][:60] for b in CONSOLE])
def test_console_block_output(block, tmp_path):
    command, expected = parse(block)
    if ("conform" in command or "replay" in command) and not has_torch():
        pytest.skip("needs torch")
    if ("conformance/ --impl" in command or command.startswith("npdrop-conform")) and not has_ml_dtypes():
        pytest.skip("the matrix shown counts bfloat16 cases, which need ml_dtypes")
    argv = shlex.split(command)
    if argv[0] == ".venv/bin/python":
        argv[0] = sys.executable
    elif argv[0] == "npdrop-conform":
        argv[:1] = [sys.executable, "-m", "npdrop_conform.cli"]
    if "--log-dir" in argv:   # the folder the README shows is this test's own, in what is run and shown
        shown = argv[argv.index("--log-dir") + 1]
        argv[argv.index("--log-dir") + 1] = str(tmp_path)
        expected = [line.replace(shown, str(tmp_path)) for line in expected]
    run = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=hang_guard.limit(600))
    output = [line.rstrip() for line in (run.stdout + run.stderr).splitlines()]
    tol = NUMERIC.get(command)
    position = 0
    for line in expected:
        found = next((i for i in range(position, len(output)) if same_line(line, output[i], tol)), None)
        if found is None:
            within = f" (numbers within {tol:g})" if tol is not None else ""
            raise AssertionError(
                f"README shows {line!r}{within} for `{command}`, but the command (exit {run.returncode}) printed:\n"
                + "\n".join(output[-40:])
            )
        position = found + 1


def test_numeric_commands_are_shown():
    commands = [parse(block)[0] for block in CONSOLE]
    assert set(NUMERIC) <= set(commands), f"NUMERIC names commands the README no longer shows: {set(NUMERIC) - set(commands)}"


@pytest.mark.parametrize("shown, printed, tol, same", [
    ("   1   1.12049901485   1.12049901485   0.00e+00", "   1   1.12049889565   1.12049901485   1.06e-07", 1e-6, True),
    ("   1   1.12049901485   1.12049901485   0.00e+00", "   1   1.12059901485   1.12049901485   0.00e+00", 1e-6, False),
    ("max difference: 2.04e-07 (tolerance 1e-06)", "max difference: 3.1e-07 (tolerance 1e-06)", 1e-6, True),
    ("generator states identical: True", "generator states identical: False", 1e-6, False),
    ("step 1 2", "step 1 2 3", 1e-6, False),
    ("p = 0.3", "p = 0.3000001", None, False),
], ids=["last-digits", "fourth-digit", "diff-column", "words", "extra-number", "exact"])
def test_same_line(shown, printed, tol, same):
    assert same_line(shown, printed, tol) is same


def test_readme_has_blocks():
    assert len(CONSOLE) >= 4 and PYTHON, "the README lost its runnable examples"


@pytest.mark.parametrize("index", range(len(PYTHON)))
def test_python_block_runs(index):
    exec(compile(PYTHON[index], f"README python block {index}", "exec"), {})
