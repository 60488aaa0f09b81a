"""``npdrop-conform``'s usage errors are told before pytest and torch start, each with what to
run instead: a misspelt name lists the closest names the module has, a file path asks for
the module name, and no message names an option the command does not have (``--impl`` is
the pytest option; the command takes ``MODULE:NAME``).
"""
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conformance.lookup import problem

ROOT = Path(__file__).resolve().parents[1]

USER_MODULE = '''
import numpy as np

class Dropout:
    def __init__(self, p=0.5):
        self.p = p

    def forward(self, x, training=True):
        return x

def dropout_forward(x, p):
    return x

RATE = 0.5
'''


@pytest.fixture
def user(tmp_path):
    (tmp_path / "np_dropout.py").write_text(textwrap.dedent(USER_MODULE))
    package = tmp_path / "layers"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "drop.py").write_text(textwrap.dedent(USER_MODULE))
    (tmp_path / "starred.py").write_text("from np_dropout import *\n")
    (tmp_path / "broken.py").write_text("def f(:\n")
    return tmp_path


@pytest.mark.parametrize("spec", ["np_dropout:Dropout", "np_dropout:dropout_forward", "np_dropout:RATE",
                                  "np_dropout:np", "layers.drop:Dropout", "layers:drop", "np_dropout:Dropout.forward",
                                  "numpy:ndarray", "torch.nn:Dropout"])
def test_what_may_load_is_let_through(user, spec):
    assert problem(spec, str(user)) is None


def test_a_module_in_a_folder_without_init_is_found_from_a_console_script(user):
    """The console script's sys.path does not hold the current folder (the suite's run adds
    it): a module in a plain folder (a namespace package) is found all the same."""
    (user / "examples").mkdir()
    (user / "examples" / "layer.py").write_text(textwrap.dedent(USER_MODULE))
    code = ("import sys\nsys.path.remove('')\nfrom conformance.lookup import problem\n"
            "print(problem('examples.layer:Dropout'), problem('examples.layer:Dropot'), sep='\\n')\n")
    run = subprocess.run([sys.executable, "-c", code], cwd=user, capture_output=True, text=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert run.returncode == 0, run.stderr
    found, misspelt = run.stdout.splitlines()
    assert found == "None" and "Closest names it has: Dropout" in misspelt, run.stdout


@pytest.mark.parametrize("spec", ["starred:Anything", "broken:Dropout"])
def test_what_the_source_cannot_settle_is_left_to_the_suite(user, spec):
    """A star import could bring any name; a syntax error is reported by the suite's import,
    with its file and line."""
    assert problem(spec, str(user)) is None


def test_a_misspelt_name_lists_the_closest_names_the_module_has(user):
    message = problem("np_dropout:Dropot", str(user))
    assert "np_dropout (np_dropout.py) has no 'Dropot'" in message
    assert "Closest names it has: Dropout" in message and "`npdrop-conform np_dropout:Dropout`" in message


def test_a_name_with_nothing_close_lists_what_the_module_defines(user):
    message = problem("layers.drop:Zzz", str(user))
    assert "It defines Dropout, dropout_forward" in message, message


@pytest.mark.parametrize("spec, words", [
    ("np_dropout.py:Dropout", "run `npdrop-conform np_dropout:Dropout`"),
    ("./np_dropout.py", "run `npdrop-conform np_dropout:Dropout`"),
    ("layers/drop.py:Dropout", "run from its folder: `cd layers && npdrop-conform drop:Dropout`"),
])
def test_a_file_is_answered_with_its_module_name(user, spec, words):
    message = problem(spec, str(user))
    assert "give the module name, not the file" in message and words in message, message


def test_an_absolute_path_says_where_to_run_from(user, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    message = problem(f"{user / 'np_dropout.py'}:Dropout", str(elsewhere))
    assert f"`cd {user} && npdrop-conform np_dropout:Dropout`" in message, message


def test_a_missing_module_names_the_closest_ones(user):
    message = problem("np_dropot:Dropout", str(user))
    assert "no module named 'np_dropot'" in message and "closest: np_dropout" in message, message
    assert "no module named 'layers.dorp'" in problem("layers.dorp:Dropout", str(user))


def test_a_missing_colon_shows_the_form_and_the_names(user):
    message = problem("np_dropout", str(user))
    assert "expected MODULE:NAME" in message and "`npdrop-conform np_dropout:Dropout`" in message, message


@pytest.mark.parametrize("spec", ["np_dropout:Dropot", "np_dropout.py:Dropout", "./np_dropout.py",
                                  "np_dropot:Dropout", "np_dropout"])
def test_the_command_answers_before_pytest_and_torch_start(user, spec):
    """Exit 4 with the message on stderr, and neither pytest nor torch was imported."""
    code = ("import sys\nfrom conformance import cli\nstatus = cli.main(sys.argv[1:])\n"
            "started = [m for m in ('torch', 'pytest') if m in sys.modules]\n"
            "assert not started, started\nsys.exit(status)\n")
    run = subprocess.run([sys.executable, "-c", code, spec], cwd=user, capture_output=True, text=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert run.returncode == 4, run.stdout + run.stderr
    assert run.stderr.startswith("npdrop-conform: ") and ("`npdrop-conform " in run.stderr or "closest: " in run.stderr), run.stderr
    assert "--impl" not in run.stdout + run.stderr and not list(user.glob("npdrop-conform-*"))
