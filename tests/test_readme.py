"""The README's commands still run and still print what the README shows.

Every ```console block is a command (``$ ...``) followed by lines of its output: the command
is run from the repository root (``.venv/bin/python`` stands for this interpreter, and
``npdrop-conform`` for ``python -m conformance.cli``, the function the console script calls;
``tests/test_conform_command.py`` runs the installed script itself) and each shown line must
appear in its output, in order. Every ```python block that does not need
torch is executed.
"""
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```(console|python)\n(.*?)```", README, flags=re.S)
CONSOLE = [body for kind, body in BLOCKS if kind == "console"]
PYTHON = [body for kind, body in BLOCKS if kind == "python" and "torch" not in body]


def has_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def parse(block: str):
    lines = block.rstrip("\n").split("\n")
    assert lines[0].startswith("$ "), f"a console block must start with a '$ ' command: {lines[0]!r}"
    return lines[0][2:], lines[1:]


@pytest.mark.parametrize("block", CONSOLE, ids=[parse(b)[0][:60] for b in CONSOLE])
def test_console_block_output(block):
    command, expected = parse(block)
    if ("conform" in command or "replay" in command) and not has_torch():
        pytest.skip("needs torch")
    argv = shlex.split(command)
    if argv[0] == ".venv/bin/python":
        argv[0] = sys.executable
    elif argv[0] == "npdrop-conform":
        argv[:1] = [sys.executable, "-m", "conformance.cli"]
    run = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
    output = [line.rstrip() for line in (run.stdout + run.stderr).splitlines()]
    position = 0
    for line in expected:
        try:
            position = output.index(line.rstrip(), position) + 1
        except ValueError:
            raise AssertionError(
                f"README shows {line!r} for `{command}`, but the command (exit {run.returncode}) printed:\n"
                + "\n".join(output[-40:])
            ) from None


def test_readme_has_blocks():
    assert len(CONSOLE) >= 4 and PYTHON, "the README lost its runnable examples"


@pytest.mark.parametrize("index", range(len(PYTHON)))
def test_python_block_runs(index):
    exec(compile(PYTHON[index], f"README python block {index}", "exec"), {})
