"""The harness checks itself: injection strictness, torch's noise shapes, the statistical
bounds, mask reading, comparison messages and the report's cell rules."""
import math
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from .inputs import PALETTE, values  # noqa: E402
from .observe import ObservationError, observe  # noqa: E402
from .variants import VARIANTS  # noqa: E402
from .report import Matrix  # noqa: E402
from .stats import binomial_bounds  # noqa: E402
from npdrop.testing.inject import MaskInjectionError, Mismatch, assert_same, inject_masks, record_masks  # noqa: E402
from torch.utils._python_dispatch import _get_current_dispatch_mode_stack  # noqa: E402

pytestmark = [pytest.mark.prop("harness"), pytest.mark.filterwarnings("ignore::UserWarning")]
KEEP = np.array([[True, False, True], [False, True, True]])


def _drop(*masks, strict=True, x=None, **kwargs):
    x = torch.ones(2, 3) if x is None else x
    with inject_masks(list(masks), strict=strict, **kwargs) as injector:
        out = F.dropout(x, 0.5)
    return out, injector


# -- injection ----------------------------------------------------------------------------

def test_injected_mask_is_used_and_rng_untouched():
    state = torch.get_rng_state()
    out, injector = _drop(KEEP)
    assert torch.equal(out, torch.from_numpy(KEEP * 2.0).float())
    assert torch.equal(torch.get_rng_state(), state), "an injected region advanced torch's generator"
    assert injector.used == 1 and injector.remaining == 0 and _get_current_dispatch_mode_stack() == []


def test_running_out_names_the_draw():
    with pytest.raises(MaskInjectionError, match=r"ran out of masks at draw #1 \(aten.bernoulli_.float, shape \(2, 3\)"):
        with inject_masks([KEEP]):
            F.dropout(torch.ones(2, 3), 0.5)
            F.dropout(torch.ones(2, 3), 0.5)
    assert _get_current_dispatch_mode_stack() == []


def test_wrong_shape_and_leftovers_are_errors():
    with pytest.raises(MaskInjectionError, match=r"shape \(3, 3\).*needs shape \(2, 3\)"):
        _drop(np.ones((3, 3), bool))
    with pytest.raises(MaskInjectionError, match="1 of 2 masks were never used"):
        _drop(KEEP, KEEP)
    with pytest.raises(MaskInjectionError, match="bool"):
        _drop(np.full((2, 3), 0.5))


def test_same_element_count_is_reshaped_in_c_order():
    out, _ = _drop(KEEP.reshape(6))
    assert torch.equal(out, torch.from_numpy(KEEP * 2.0).float())


def test_tensor_and_zero_one_masks_are_accepted():
    for mask in (torch.from_numpy(KEEP), KEEP.astype(np.float32), torch.from_numpy(KEEP).to(torch.int64)):
        out, _ = _drop(mask)
        assert torch.equal(out, torch.from_numpy(KEEP * 2.0).float())


def test_body_exception_propagates_and_removes_the_mode():
    with pytest.raises(KeyError):
        with inject_masks([KEEP, KEEP]):
            raise KeyError("body")
    assert _get_current_dispatch_mode_stack() == []


def test_body_exception_after_a_draw_leaves_torchs_rng_and_modes_as_they_were():
    state = torch.get_rng_state()
    with pytest.raises(ZeroDivisionError):
        with inject_masks([KEEP]):
            F.dropout(torch.ones(2, 3), 0.5)
            1 / 0
    assert torch.equal(torch.get_rng_state(), state), "torch's generator moved in an injected region"
    assert _get_current_dispatch_mode_stack() == []


def test_non_strict_draws_for_real_and_tolerates_leftovers():
    out, injector = _drop(strict=False)
    assert injector.used == 0 and len(injector.passed) == 1
    _, injector = _drop(KEEP, KEEP, strict=False)
    assert injector.remaining == 1


def test_match_narrows_the_answered_draws():
    x = torch.ones(2, 3)
    with inject_masks([KEEP], match=lambda site: site.keep_prob == 0.5) as injector:
        F.dropout(x, 0.9)
        out = F.dropout(x, 0.5)
    assert len(injector.passed) == 1 and torch.equal(out, torch.from_numpy(KEEP * 2.0).float())


def test_certain_draws_must_get_certain_masks():
    with pytest.raises(MaskInjectionError, match="contradicts"):
        with inject_masks([KEEP]):
            torch.ones(2, 3).bernoulli_(1.0)


@pytest.mark.parametrize("variant", VARIANTS.values(), ids=str)
def test_recorded_masks_replay_torch_bit_for_bit(variant):
    x = torch.randn(4, 5, 6, generator=torch.Generator().manual_seed(0))
    with record_masks() as recording:
        first = getattr(torch.nn, variant.name)(0.4)(x)
    with inject_masks(recording.masks):
        second = getattr(torch.nn, variant.name)(0.4)(x)
    assert recording.masks[0].dtype == np.bool_
    assert torch.equal(first, second)


@pytest.mark.parametrize("variant", VARIANTS.values(), ids=str)
def test_noise_shape_table_matches_what_torch_draws(variant):
    for case, (shape, _) in variant.cases.items():
        if 0 in shape:
            continue
        with record_masks() as recording:
            getattr(torch.nn, variant.name)(0.5)(torch.ones(shape))
        drawn = recording.sites[0].shape
        ours = variant.noise_shape(shape)
        assert math.prod(drawn) == math.prod(ours) and [n for n in drawn if n != 1] == [n for n in ours if n != 1], (
            f"{variant} {case} {shape}: torch drew {drawn}, the table says {ours}")


@pytest.mark.parametrize("variant", VARIANTS.values(), ids=str)
def test_rank_table_matches_what_torch_takes(variant):
    """``min_rank``/``max_rank`` are the ranks torch's training forward takes; any other raises."""
    for rank in range(7):
        try:
            getattr(torch.nn, variant.name)(0.5)(torch.ones((2,) * rank))
            took = True
        except (RuntimeError, ValueError):
            took = False
        said = variant.min_rank <= rank and (variant.max_rank is None or rank <= variant.max_rank)
        assert took == said, (f"{variant} rank {rank}: torch {'takes' if took else 'raises on'} it, the table says "
                              f"ranks {variant.min_rank} to {variant.max_rank or 'any'}")


# -- statistics ---------------------------------------------------------------------------

def _log_pmf(n, k, q):
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * math.log(q) + (n - k) * math.log1p(-q)


def _exact_outside(n, q, lo, hi):
    """P(X < lo) + P(X > hi), summed over the tails until the terms are negligible."""
    total = 0.0
    for ks in (range(lo - 1, -1, -1), range(hi + 1, n + 1)):
        for k in ks:
            term = math.exp(_log_pmf(n, k, q))
            total += term
            if term < 1e-30:
                break
    return total


@pytest.mark.parametrize("n,q", [(200, 0.5), (10**4, 0.5), (10**5, 0.5), (10**6, 0.7), (10**7, 0.9), (2 * 10**4, 0.02)])
def test_bounds_false_alarm_is_below_1e9_and_tight(n, q):
    """Exact binomial tails: the accepted interval's false-alarm probability is <= 1e-9, and
    the interval is less than 10% wider than it needs to be (narrowed by 10% per side, the
    false-alarm probability exceeds 1e-9)."""
    lo, hi = binomial_bounds(n, q)
    assert _exact_outside(n, q, lo, hi) <= 1e-9
    narrow_lo, narrow_hi = lo + math.ceil(0.1 * (n * q - lo)), hi - math.ceil(0.1 * (hi - n * q))
    assert _exact_outside(n, q, narrow_lo, narrow_hi) > 1e-9


def test_bounds_catch_a_uint8_quantised_keep_rate():
    lo, hi = binomial_bounds(10**7, 0.9)
    assert not lo <= 10**7 * 230 / 256 <= hi


# -- reading masks off outputs ---------------------------------------------------------------

@pytest.mark.parametrize("variant", VARIANTS.values(), ids=str)
def test_observe_reads_torchs_own_masks(variant, rng):
    """torch as the black box: the mask read off its output is the mask it was given."""
    shape = variant.batched
    x = values(shape, np.float32, rng, palette=variant.alpha)
    keep = rng.random(variant.noise_shape(shape)) >= 0.5
    with inject_masks([keep]):
        out = getattr(torch.nn, variant.name)(0.5)(torch.from_numpy(x)).numpy()
    seen, known = observe(variant, x, out)
    assert known.all() and np.array_equal(seen, keep)


def test_observe_rejects_a_mask_that_is_not_per_channel(rng):
    x = values((4, 6, 5, 5), np.float64, rng)
    with pytest.raises(ObservationError, match="both kept and dropped"):
        observe(VARIANTS["Dropout2d"], x, x * (rng.random(x.shape) < 0.5))


def test_observe_rejects_alpha_without_a_common_dropped_value(rng):
    x = PALETTE[rng.integers(0, 16, (40, 10))]
    with pytest.raises(ObservationError):
        observe(VARIANTS["AlphaDropout"], x, np.where(rng.random(x.shape) < 0.5, x, -x))


# -- comparisons, report -----------------------------------------------------------

def test_assert_same_message_names_everything():
    expected = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    actual = expected.copy()
    actual[1, 0] = np.nextafter(np.float32(3.0), np.float32(4.0))
    with pytest.raises(Mismatch) as info:
        assert_same(actual, expected, what="forward", variant="Dropout2d", p=0.3, repro="python -m pytest X")
    message = str(info.value)
    for part in ("forward", "Dropout2d", "p=0.3", "float32", "shape (2, 2)", "1 of 4", "1 ULP", "(1, 0)", "repro: python -m pytest X"):
        assert part in message, (part, message)


def test_assert_same_rules():
    assert_same(np.array([np.nan, 1.0]), np.array([np.nan, 1.0]))            # NaN equals NaN
    with pytest.raises(Mismatch, match="sign of zero"):
        assert_same(np.array([-0.0]), np.array([0.0]))                       # bit for bit
    assert_same(np.array([-0.0]), np.array([0.0]), exact=False)
    with pytest.raises(Mismatch, match="dtype float64, but should be float32"):
        assert_same(np.zeros(2), np.zeros(2, np.float32))
    with pytest.raises(Mismatch, match="shape"):
        assert_same(np.zeros(2), np.zeros(3))


def test_report_cells_never_show_a_skip_as_a_pass():
    matrix = Matrix()
    matrix.add("keep-rate", "Dropout", "skipped")
    matrix.add("forward", "Dropout", "passed")
    matrix.add("forward", "Dropout", "skipped")
    matrix.add("backward", "Dropout", "passed")
    matrix.add("backward", "Dropout", "failed", "t", "boom")
    statuses = {p: c.status for (p, _), c in matrix.cells.items()}
    assert statuses == {"keep-rate": "skip", "forward": "pass", "backward": "fail"}
    assert matrix.to_json()["failed_properties"] == ["backward"]


def test_report_shows_not_applicable_cells_as_n_a_never_as_pass():
    matrix = Matrix()
    matrix.add("backward", "Dropout", "n/a")
    matrix.add("eval-identity", "Dropout", "n/a")
    matrix.add("eval-identity", "Dropout", "skipped")     # a real skip is not hidden behind n/a
    matrix.add("forward", "Dropout", "n/a")
    matrix.add("forward", "Dropout", "passed")
    statuses = {p: c.status for (p, _), c in matrix.cells.items()}
    assert statuses == {"backward": "n/a", "eval-identity": "skip", "forward": "pass"}
    assert "backward       n/a" in matrix.text() and matrix.to_json()["totals"]["n/a"] == 3
