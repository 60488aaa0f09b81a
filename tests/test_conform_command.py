"""``pip install .`` ships the conformance suite, and ``npdrop-conform`` runs it from a user's
own project: a directory outside the repository, importable as it would be for them.

npdrop is installed (not editable) into a temporary ``--target`` directory from a copy of
the project's files, that directory alone goes on ``PYTHONPATH`` ahead of this checkout,
and the installed ``bin/npdrop-conform`` script is run in a second temporary directory
holding the user's modules. Needs torch (the suite compares with it) and setuptools (the
build backend; ``--no-build-isolation`` keeps the test offline).
"""
from __future__ import annotations

import json
import re
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import hang_guard

pytest.importorskip("torch")
pytest.importorskip("setuptools")

ROOT = Path(__file__).resolve().parents[1]

GOOD_PAIR = '''
import numpy as np

def dropout_forward(x, dropout_param):
    p, mode = dropout_param["p"], dropout_param["mode"]     # p: the keep probability
    mask = None
    if mode == "train" and p < 1:
        kept = np.asarray(np.random.rand(*x.shape)) < p
        mask = (kept * (1.0 / p if p > 0 else 0.0)).astype(x.dtype)
    return (x if mask is None else x * mask), (dropout_param, mask)

def dropout_backward(dout, cache):
    _, mask = cache
    return dout if mask is None else dout * mask
'''

BAD_LAYER = '''
import numpy as np

class LayerDropout:
    def __init__(self, rate):
        self.rate = rate

    def forward(self, inputs, training):
        if not training:
            self.output = inputs
            return
        self.mask = np.random.random_sample(inputs.shape) >= self.rate
        self.output = inputs * self.mask.astype(inputs.dtype)       # no 1/(1-rate)

    def backward(self, dvalues):
        self.dinputs = dvalues * self.mask
'''

CHANNELS_FIRST = '''
import numpy as np

class ChannelsDropout:
    """Needs its layout said: channels_first is the only one it takes."""

    def __init__(self, rate, data_format):
        if data_format != "channels_first":
            raise ValueError("only channels_first")
        self.rate = rate

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        keep = np.random.random_sample(inputs.shape[:2] + (1,) * (inputs.ndim - 2)) >= self.rate
        return inputs * (keep * (0.0 if self.rate == 1 else 1.0 / (1.0 - self.rate))).astype(inputs.dtype)
'''


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """``(site, project)``: npdrop installed from a copy of the project, and a user project."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for package in ("npdrop", "conformance"):
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    site = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-build-isolation", "--no-deps", "--no-index",
                    "--quiet", "--target", str(site), str(source)], check=True,
                   timeout=hang_guard.limit(600))
    project = tmp_path_factory.mktemp("project")
    (project / "good_pair.py").write_text(textwrap.dedent(GOOD_PAIR))
    (project / "bad_layer.py").write_text(textwrap.dedent(BAD_LAYER))
    (project / "channels.py").write_text(textwrap.dedent(CHANNELS_FIRST))
    # a user's own module with the suite's folder name: the installed suite must never import it
    (project / "conformance.py").write_text("raise ImportError('the user project\'s own conformance.py was imported')\n")
    return site, project


def test_installs_under_a_name_of_its_own(installed):
    """The suite installs as ``npdrop_conform``, not as a top-level ``conformance`` that a
    user's module of that name would shadow (or be shadowed by)."""
    site, _ = installed
    assert (site / "npdrop_conform" / "conform.ini").is_file(), sorted(os.listdir(site))
    assert not (site / "conformance").exists(), sorted(os.listdir(site))


def _conform(installed, *args):
    site, project = installed
    script = site / "bin" / "npdrop-conform"
    assert script.exists(), f"pip install did not create the console script: {sorted(os.listdir(site))}"
    env = {**os.environ, "PYTHONPATH": str(site)}
    run = subprocess.run([sys.executable, str(script), *args, "--tb=no", "-W", "ignore"], cwd=project,
                         env=env, capture_output=True, text=True, timeout=hang_guard.limit(600))
    output = run.stdout + run.stderr
    return run.returncode, output


def test_installed_suite_passes_a_correct_pair_from_the_users_directory(installed, tmp_path):
    code, output = _conform(installed, "good_pair:dropout_forward", "--p-means", "keep", "--log-dir", str(tmp_path))
    assert code == 0, output[-3000:]
    log = (tmp_path / "pytest.log").read_text()
    assert f"rootdir: {installed[0]}" in log, "the suite did not run from the installed copy"
    assert "dropout_backward(dout, cache) -> returned" in output and "verdict: " in output
    assert "conforms in training" in output.split("verdict: ")[1].split("\n")[0], output[-3000:]
    assert f"pytest's whole output: {tmp_path / 'pytest.log'}" in output


def test_installed_suite_fails_a_faulty_layer_with_exit_status_1_on_one_screen(installed, tmp_path):
    report = tmp_path / "report.json"
    code, output = _conform(installed, "bad_layer:LayerDropout", "--report-json", str(report))
    assert code == 1, output[-3000:]
    assert "forward(inputs, training) -> self.output" in output
    assert "verdict: FAIL: does not conform in training" in output and "likely cause: no-scale" in output
    assert report.exists()
    assert len(output.splitlines()) <= 60, f"{len(output.splitlines())} lines, not one screen:\n{output}"
    assert "FAILED npdrop_conform/" not in output, "pytest's own summary is for the log"


def test_full_prints_pytests_whole_output_with_the_same_exit_status(installed):
    code, output = _conform(installed, "bad_layer:LayerDropout", "--full", "-q", "-rf")
    assert code == 1, output[-3000:]
    assert "FAILED " in output and "test_forward.py::test_forward[" in output
    assert "npdrop conformance matrix" in output and "likely cause: no-scale" in output


def test_what_cannot_be_driven_exits_4_with_the_reason(installed):
    code, output = _conform(installed, "bad_layer:np")
    assert code == 4, output[-3000:]
    assert "matches no known calling convention" in output


def test_torch_dropout_itself_is_clean_unmodified(installed):
    """torch's own module gets torch tensors, torch's autograd for the backward: no failure."""
    code, output = _conform(installed, "torch.nn:Dropout")
    assert code == 0, output[-3000:]
    assert "torch tensors" in output and "torch.autograd" in output
    assert "verdict: pass: conforms in training and at every edge" in output, output[-3000:]


def test_a_probe_that_raises_is_one_usage_error_exit_4(installed):
    """Forced to take NumPy arrays, torch's module raises at the probing call: exit 4, one
    message naming the call, the exception and the options, never a matrix of failures."""
    code, output = _conform(installed, "torch.nn:Dropout", "--array-lib", "numpy")
    assert code == 4, output[-3000:]
    assert "Dropout.forward(x) (training, p=0.5)" in output
    for words in ("probing call", "TypeError", "--array-lib", "--impl-kwargs"):
        assert words in output, (words, output[-3000:])
    assert "FAILED" not in output and "verdict:" not in output and "property " not in output
    assert "no conformance matrix (exit status 4)" in output


def test_impl_kwargs_build_a_layer_that_needs_constructor_arguments(installed):
    code, output = _conform(installed, "channels:ChannelsDropout", "--reference", "Dropout2d")
    assert code == 4 and "--impl-kwargs" in output and "data_format" in output, output[-3000:]
    code, output = _conform(installed, "channels:ChannelsDropout", "--reference", "Dropout2d",
                            "--impl-kwargs", 'data_format="channels_first"')
    assert code == 0, output[-3000:]
    assert "built with data_format='channels_first'" in output and "verdict: " in output
    assert "conforms in training" in output.split("verdict: ")[1].split("\n")[0], output[-3000:]


def test_without_torch_it_says_how_to_get_the_cpu_build(monkeypatch, capsys, tmp_path):
    from npdrop_conform import cli

    (tmp_path / "mymod.py").write_text("class Drop:\n    pass\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "torch", None)   # what the import system reads as "not installed"
    assert cli.main(["mymod:Drop"]) == 4
    err = capsys.readouterr().err
    assert f"-m pip install torch --index-url {cli.TORCH_CPU_INDEX}" in err and "CUDA" in err


def test_the_users_pytest_configuration_does_not_reach_the_suite(installed, tmp_path):
    """npdrop installed in a virtual environment inside a project whose pytest settings say
    ``addopts = "-x"`` (pytest finds them above the installed suite): the verdict is whole."""
    site, project = installed
    user = tmp_path / "project"
    shutil.copytree(project, user)
    shutil.copytree(site, user / "venv")
    (user / "pyproject.toml").write_text('[tool.pytest.ini_options]\naddopts = "-x --maxfail=1"\n')
    report = tmp_path / "report.json"
    run = subprocess.run([sys.executable, str(user / "venv" / "bin" / "npdrop-conform"), "bad_layer:LayerDropout",
                          "--report-json", str(report), "--tb=no", "-W", "ignore"], cwd=user,
                         env={**os.environ, "PYTHONPATH": str(user / "venv")}, capture_output=True, text=True,
                         timeout=hang_guard.limit(600))
    assert run.returncode == 1, (run.stdout + run.stderr)[-3000:]
    found = json.loads(report.read_text())
    assert len(found["failed_properties"]) > 1 and found["totals"]["failed"] > 1, found["failed_properties"]
    assert found["complete"] is True and found["tests"]["not_run"] == 0, found["tests"]


@pytest.mark.parametrize("prefix", ("conformance", "npdrop_conform"))
def test_a_file_of_the_suite_is_selected_by_either_name(installed, tmp_path, prefix):
    """A file of the suite is named as in a clone (``conformance/``) or as installed
    (``npdrop_conform/``, how an installed run's node ids read): only its tests run."""
    code, output = _conform(installed, "good_pair:dropout_forward", "--p-means", "keep",
                            f"{prefix}/test_modes.py", "--log-dir", str(tmp_path))
    assert code == 0, output[-3000:]
    log = (tmp_path / "pytest.log").read_text()
    ran = set(re.findall(r"^\S*?(npdrop_conform/test_\w+\.py) ", log, flags=re.M))
    assert ran == {"npdrop_conform/test_modes.py"}, log[:3000]
