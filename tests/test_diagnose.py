"""The fault catalogue on hand-made figures: where fingerprints are close, the right one is named.

``tests/test_gallery.py`` checks the diagnoses end to end on real runs; these cases pin the
decisions between look-alikes with figures chosen to sit on either side of them.
"""
import numpy as np
import pytest

from conformance import evidence
from conformance.diagnose import Findings, diagnose
from conformance.variants import VARIANTS

DROPOUT = VARIANTS["Dropout"]


@pytest.fixture(autouse=True)
def _rows():
    """Each test records into its own sink, as the conformance plugin gives each test."""
    with evidence.recording() as rows:
        yield rows


def _reset():
    evidence._SINK.get().clear()


def _run(**resolved) -> Findings:
    """What the diagnoses read: what the run resolved and the evidence recorded so far."""
    return Findings(records=evidence.recorded(), **resolved)


def _ids(failed, findings=None):
    return sorted(d["id"] for d in diagnose({"Dropout": failed}, findings or _run()))


def _masks(agree: int, cells: int = 100_000):
    """Two masks agreeing on ``agree`` of ``cells`` cells."""
    a = np.zeros(cells, dtype=bool)
    b = a.copy()
    b[agree:] = True
    return a, b


def test_a_quantised_keep_rate_is_named_only_when_the_draws_are_independent():
    evidence.kept(DROPOUT, 0.1, 8_983_739, 10**7)              # 230/256, not 0.9
    evidence.agreement("batch", DROPOUT, 0.5, *_masks(50_020))
    assert _ids(["keep-rate"]) == ["quantised-threshold"]
    _reset()
    evidence.kept(DROPOUT, 0.1, 8_983_739, 10**7)
    evidence.agreement("batch", DROPOUT, 0.5, *_masks(100_000))    # one mask for the batch
    assert _ids(["keep-rate", "batch-independence"]) == ["batch-shared-mask"]


def test_a_keep_rate_off_by_more_than_a_byte_step_is_not_quantisation():
    evidence.kept(DROPOUT, 0.1, 8_950_000, 10**7)              # 0.895: no j/256 within the bound
    assert _ids(["keep-rate"]) == []


@pytest.mark.parametrize("p_means,advice", [("drop", "run with --p-means keep"), ("keep", "run with --p-means drop")])
def test_keep_prob_advice_follows_the_run(p_means, advice):
    for p, cells in ((0.1, 10**7), (0.3, 10**6), (0.8, 10**6)):
        evidence.kept(DROPOUT, p, round(p * cells), cells)
    (found,) = diagnose({"Dropout": ["keep-rate"]}, _run(p_means=p_means))
    assert found["id"] == "keep-prob" and advice in found["fix"], found


def test_a_failure_outside_the_catalogue_gets_no_diagnosis():
    for p, cells in ((0.1, 10**7), (0.3, 10**6)):
        evidence.kept(DROPOUT, p, round((1 - p) * cells), cells)
    evidence.agreement("call", DROPOUT, 0.5, *_masks(49_950))
    evidence.dtype_out(DROPOUT, "training forward", np.float32, np.float32)
    assert _ids(["nonfinite", "keep-rate", "call-independence", "dtype"]) == []


def test_nothing_is_named_without_a_failed_property():
    evidence.agreement("call", DROPOUT, 0.5, *_masks(100_000))
    evidence.dtype_out(DROPOUT, "backward", np.float32, np.float64)
    assert diagnose({}) == []
    assert _ids(["noise-shape"]) == []


class _Backward:
    def __init__(self, result):
        self.result = result

    def backward(self, grad):
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def test_backward_after_eval_stale_or_raising():
    keep = np.array([True, False, True, False])
    grad = np.ones(4)
    evidence.backward_after_eval(DROPOUT, _Backward(grad), grad, keep)         # correct: passes grad
    assert _ids(["mode-switch"]) == []
    evidence.backward_after_eval(DROPOUT, _Backward(grad * keep), grad, keep)
    assert _ids(["mode-switch"]) == ["eval-backward"]
    _reset()
    with pytest.raises(TypeError):
        evidence.backward_after_eval(DROPOUT, _Backward(TypeError("mask is None")), grad)
    assert _ids(["eval-identity"]) == ["eval-backward"]


def _forward_ratios(ratio_at):
    """Records of an output ``ratio_at(p)`` times torch's, at the tested p."""
    pytest.importorskip("torch")
    x = np.linspace(0.5, 2.0, 50)
    for p in (0.1, 0.3, 0.5, 0.8):
        expected = x / (1 - p)
        evidence.compared("forward", DROPOUT, p, x, expected * ratio_at(p), expected)


def test_scale_by_p_unless_p_is_the_keep_probability():
    _forward_ratios(lambda p: (1 - p) / p)
    assert _ids(["forward"]) == ["scale-by-p"]
    for p, cells in ((0.1, 10**7), (0.3, 10**6), (0.8, 10**6)):
        evidence.kept(DROPOUT, p, round(p * cells), cells)
    assert _ids(["forward", "keep-rate"]) == ["keep-prob"]


@pytest.mark.parametrize("eval_ratio,expected", [(1.0, ["no-scale"]), (0.7, ["original-form"]), (1 / 0.7, [])])
def test_no_scale_or_original_form_by_what_evaluation_does(eval_ratio, expected):
    _forward_ratios(lambda p: 1 - p)
    x = np.linspace(0.5, 2.0, 50)
    evidence.eval_output(DROPOUT, 0.3, x, x * eval_ratio)
    assert _ids(["forward", "eval-identity"]) == expected


def test_original_form_is_not_suggested_when_the_run_already_expects_it():
    _forward_ratios(lambda p: 1 - p)
    x = np.linspace(0.5, 2.0, 50)
    evidence.eval_output(DROPOUT, 0.3, x, x * 0.7)
    assert _ids(["forward"], _run(form="original")) == []


def test_masks_that_drop_nothing_are_never_drops_not_a_shared_or_fixed_mask():
    everything = np.ones(100_000, dtype=bool)
    for p, cells in ((0.1, 10**7), (0.5, 10**6)):
        evidence.kept(DROPOUT, p, cells, cells)                    # kept every cell in training
    evidence.agreement("call", DROPOUT, 0.5, everything, everything)
    evidence.agreement("batch", DROPOUT, 0.5, everything, everything)
    assert _ids(["keep-rate", "call-independence", "batch-independence"]) == ["never-drops"]
    _reset()
    half = np.arange(100_000) % 2 == 0                              # the same mask twice, half dropped
    evidence.kept(DROPOUT, 0.5, 500_000, 10**6)
    evidence.agreement("call", DROPOUT, 0.5, half, half)
    assert _ids(["call-independence"]) == ["fixed-mask"]
