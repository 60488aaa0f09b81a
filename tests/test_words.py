"""The user's p in test ids and messages: torch's meaning keeps the ids it always had, a keep
probability is spoken as the user's, with torch's p beside it."""
import subprocess
import sys
from pathlib import Path

import pytest

import hang_guard

from conformance import words

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def keep():
    words.speak(True)
    yield
    words.speak(False)


def test_drop_meaning_is_torchs_words():
    assert (words.p_text(0.1), words.p_id(0.1), words.at_p(0.8)) == ("p=0.1", "p0.1", "at p=0.8")


def test_keep_meaning_names_both(keep):
    assert words.p_text(0.1) == "keep_p=0.9 (torch p=0.1)"
    assert words.p_id(0.8) == "keep_p0.2-torch_p0.8", "1 - 0.8 is written 0.2, not 0.19999999999999996"
    assert words.p_id(1.0) == "keep_p0.0-torch_p1.0"


def _ids(*options):
    pytest.importorskip("torch")
    run = subprocess.run([sys.executable, "-m", "pytest", "conformance/test_forward.py", "conformance/test_statistics.py",
                          "--collect-only", "-q", "-p", "no:cacheprovider",
                          "--impl", "examples.cs231n_dropout:dropout_forward", *options],
                         cwd=ROOT, capture_output=True, text=True, timeout=hang_guard.limit(600))
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    return [line for line in run.stdout.splitlines() if "::" in line]


def test_node_ids_in_torchs_meaning_are_unchanged():
    ids = _ids()
    assert "conformance/test_forward.py::test_forward[Dropout-batched-float32-p0.3]" in ids
    assert "conformance/test_statistics.py::test_keep_rate[Dropout-p0.1-1e7]" in ids
    assert not any("keep_p" in i for i in ids)


def test_node_ids_under_a_keep_probability_speak_it():
    ids = _ids("--p-means", "keep")
    assert "conformance/test_forward.py::test_forward[Dropout-batched-float32-keep_p0.7-torch_p0.3]" in ids
    assert "conformance/test_statistics.py::test_keep_rate[Dropout-keep_p0.9-torch_p0.1-1e7]" in ids
    assert not any(i.endswith("-p0.3]") for i in ids)
