"""MSELoss and CrossEntropyLoss: hand-computed values and gradients, gradchecks, errors."""
import math

import numpy as np
import pytest

from npdrop.gradcheck import check_module_gradients
from npdrop.losses import CrossEntropyLoss, MSELoss

REDUCTIONS = ["mean", "sum", "none"]


# ------------------------------------------------------------------ MSE ----------
@pytest.mark.parametrize(
    "reduction, loss, grad",
    [
        ("mean", 5 / 3, [2 / 3, 0.0, -4 / 3]),
        ("sum", 5.0, [2.0, 0.0, -4.0]),
        ("none", [1.0, 0.0, 4.0], [2.0, 0.0, -4.0]),
    ],
    ids=REDUCTIONS,
)
def test_mse_by_hand(reduction, loss, grad):
    # diff = pred - target = [1, 0, -2]
    mse = MSELoss(reduction)
    out = mse(np.array([1.0, 2.0, 3.0]), np.array([0.0, 2.0, 5.0]))
    np.testing.assert_allclose(out, loss, rtol=1e-15)
    np.testing.assert_allclose(mse.backward(), grad, rtol=1e-15)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_gradcheck(reduction):
    rng = np.random.default_rng(0)
    pred, target = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    check_module_gradients(MSELoss(reduction), pred, forward_kwargs={"target": target}, rng=1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_mse_keeps_dtype(dtype):
    mse = MSELoss()
    loss = mse(np.ones(3, dtype), np.zeros(3))  # a float64 target is cast to the prediction's dtype
    assert isinstance(loss, np.generic) and loss.dtype == dtype and mse.backward().dtype == dtype


def test_mse_upstream_gradient_scales():
    mse = MSELoss("none")
    mse(np.array([1.0, 2.0]), np.array([0.0, 0.0]))
    np.testing.assert_allclose(mse.backward(np.array([3.0, -1.0])), [6.0, -4.0])
    mean = MSELoss()
    mean(np.array([1.0, 2.0]), np.array([0.0, 0.0]))
    np.testing.assert_allclose(mean.backward(0.5), [0.5, 1.0])
    with pytest.raises(ValueError, match="scalar"):
        mean.backward(np.ones(2))  # the mean is a scalar: an array upstream grad is a mistake


def test_mse_errors():
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
        MSELoss()(np.ones(3), np.ones(2))
    with pytest.raises(TypeError, match="floating"):
        MSELoss()(np.arange(3), np.ones(3))
    with pytest.raises(RuntimeError, match="before forward"):
        MSELoss().backward()
    with pytest.raises(ValueError, match="reduction"):
        MSELoss("avg")


# -------------------------------------------------------- cross-entropy ----------
LOGITS = [[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]]
TARGET = [2, 0]


def softmax_row(row):
    exps = [math.exp(v) for v in row]
    return [e / sum(exps) for e in exps]


def by_hand(rows, targets):
    """Per-row losses and softmax - onehot, from math.exp/math.log."""
    losses, grads = [], []
    for row, t in zip(rows, targets):
        losses.append(math.log(sum(math.exp(v) for v in row)) - row[t])
        grads.append([s - (c == t) for c, s in enumerate(softmax_row(row))])
    return np.array(losses), np.array(grads)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_by_hand(reduction):
    losses, grads = by_hand(LOGITS, TARGET)
    ce = CrossEntropyLoss(reduction)
    out = ce(np.array(LOGITS), np.array(TARGET))
    scale = {"mean": 1 / 2, "sum": 1.0, "none": 1.0}[reduction]
    expected = {"mean": losses.mean(), "sum": losses.sum(), "none": losses}[reduction]
    np.testing.assert_allclose(out, expected, rtol=1e-14)
    np.testing.assert_allclose(ce.backward(), grads * scale, rtol=1e-13, atol=1e-16)


def test_cross_entropy_unbatched():
    ce = CrossEntropyLoss()
    loss = ce(np.array(LOGITS[0]), 1)
    losses, grads = by_hand([LOGITS[0]], [1])
    assert loss == pytest.approx(losses[0], rel=1e-14)
    np.testing.assert_allclose(ce.backward(), grads[0], rtol=1e-13)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_with_probabilities_by_hand(reduction):
    probs = [[0.2, 0.3, 0.5], [0.6, 0.0, 0.6]]  # the second row deliberately sums to 1.2
    rows = []
    grads = []
    for row, t in zip(LOGITS, probs):
        s = softmax_row(row)
        rows.append(-sum(tc * math.log(sc) for tc, sc in zip(t, s)))
        grads.append([sc * sum(t) - tc for tc, sc in zip(t, s)])
    rows, grads = np.array(rows), np.array(grads)
    ce = CrossEntropyLoss(reduction)
    out = ce(np.array(LOGITS), np.array(probs))
    expected = {"mean": rows.mean(), "sum": rows.sum(), "none": rows}[reduction]
    np.testing.assert_allclose(out, expected, rtol=1e-14)
    scale = 0.5 if reduction == "mean" else 1.0
    np.testing.assert_allclose(ce.backward(), grads * scale, rtol=1e-13, atol=1e-16)


def test_cross_entropy_ignore_index():
    ce = CrossEntropyLoss()
    loss = ce(np.array(LOGITS), np.array([2, -100]))
    losses, grads = by_hand(LOGITS[:1], [2])
    assert loss == pytest.approx(losses[0], rel=1e-14)  # the mean counts only the kept row
    grad = ce.backward()
    np.testing.assert_allclose(grad[0], grads[0], rtol=1e-13)
    np.testing.assert_array_equal(grad[1], 0.0)
    assert math.isnan(CrossEntropyLoss()(np.array(LOGITS), np.array([-100, -100])))


def test_cross_entropy_class_axis_one_for_extra_dims():
    logits = np.random.default_rng(3).normal(size=(2, 3, 4))
    target = np.array([[0, 1, 2, 1], [2, 2, 0, 1]])
    losses = [by_hand([logits[n, :, k]], [target[n, k]])[0][0] for n in range(2) for k in range(4)]
    assert CrossEntropyLoss("sum")(logits, target) == pytest.approx(sum(losses), rel=1e-14)


def test_cross_entropy_is_stable_for_huge_logits():
    ce = CrossEntropyLoss("none")
    big = ce(np.array([[1000.0, 1001.0, 1002.0]]), np.array([0]))
    small = by_hand([[0.0, 1.0, 2.0]], [0])[0]  # softmax is shift invariant
    np.testing.assert_allclose(big, small, rtol=1e-13)
    assert np.all(np.isfinite(ce.backward()))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("kind", ["indices", "probabilities"])
def test_cross_entropy_gradcheck(reduction, kind):
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(4, 5))
    if kind == "indices":
        target = np.array([0, 4, 2, -100])
    else:
        target = rng.dirichlet(np.ones(5), size=4)
    check_module_gradients(CrossEntropyLoss(reduction), logits, forward_kwargs={"target": target}, rng=5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_cross_entropy_keeps_dtype(dtype):
    ce = CrossEntropyLoss()
    loss = ce(np.array(LOGITS, dtype=dtype), np.array(TARGET))
    assert isinstance(loss, np.generic) and loss.dtype == dtype and ce.backward().dtype == dtype


@pytest.mark.parametrize(
    "logits, target, error, match",
    [
        (LOGITS, [3, 0], ValueError, r"target 3 at index \(0,\) is out of bounds for 3 classes"),
        (LOGITS, [0, -1], ValueError, r"target -1 at index \(1,\)"),
        (LOGITS, [0.0, 1.0], TypeError, "class indices must be integers"),
        (LOGITS, [True, False], TypeError, "dtype bool"),
        (LOGITS, [0, 1, 2], ValueError, r"shape \(2,\).*got \(3,\)"),
        ([[1, 2]], [0], TypeError, "floating"),
        (np.zeros((2, 0)), [0, 0], ValueError, "no classes"),
    ],
    ids=["index-too-large", "negative-index", "float-indices", "bool-target", "wrong-shape", "int-logits",
         "zero-classes"],
)
def test_cross_entropy_errors(logits, target, error, match):
    with pytest.raises(error, match=match):
        CrossEntropyLoss()(np.array(logits), np.array(target))
