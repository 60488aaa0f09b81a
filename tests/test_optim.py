"""SGD against updates worked out by hand on a scalar, plus torch's argument checks.

Every case starts at p = 0.5 with lr = 0.1 and feeds the gradients 1, 2, -1 (set directly,
so they do not depend on p); the expected parameter after each step is written out below.
"""
import numpy as np
import pytest

from npdrop.module import Parameter
from npdrop.optim import SGD

GRADS = [1.0, 2.0, -1.0]

HAND = {
    # p <- p - lr * g
    "plain": (dict(), [0.5 - 0.1, 0.4 - 0.2, 0.2 + 0.1]),
    # buf = g on step 1, then buf = 0.9 buf + g: 1, 2.9, 1.61
    "momentum": (dict(momentum=0.9), [0.5 - 0.1, 0.4 - 0.29, 0.11 - 0.161]),
    # buf = g on step 1 (no dampening there), then 0.9 buf + 0.5 g: 1, 1.9, 1.21
    "dampening": (dict(momentum=0.9, dampening=0.5), [0.4, 0.4 - 0.19, 0.21 - 0.121]),
    # g' = g + 0.1 p: 1.05, 2.0395, -0.980895
    "weight-decay": (dict(weight_decay=0.1), [0.5 - 0.105, 0.395 - 0.20395, 0.19105 + 0.0980895]),
    # bufs 1, 2.9, 1.61; step with g + 0.9 buf: 1.9, 4.61, 0.449
    "nesterov": (dict(momentum=0.9, nesterov=True), [0.5 - 0.19, 0.31 - 0.461, -0.151 - 0.0449]),
    # g' = g + 0.1 p: 1.05, 2.0395, -0.990345; bufs 1.05, 2.9845, 1.695705
    "momentum+weight-decay": (
        dict(momentum=0.9, weight_decay=0.1),
        [0.5 - 0.105, 0.395 - 0.29845, 0.09655 - 0.1695705],
    ),
    # ascend: p <- p + lr * g
    "maximize": (dict(maximize=True), [0.6, 0.8, 0.7]),
}


@pytest.mark.parametrize("name", list(HAND))
def test_sgd_matches_hand_derived_steps(name):
    kwargs, expected = HAND[name]
    p = Parameter(np.array([0.5]))
    opt = SGD([p], lr=0.1, **kwargs)
    for g, want in zip(GRADS, expected):
        p.grad = np.array([g])
        opt.step()
        assert p.data[0] == pytest.approx(want, rel=1e-12, abs=1e-15)


def test_sgd_updates_in_place_and_keeps_dtype():
    data = np.ones((2, 2), dtype=np.float32)
    p = Parameter(data)
    p.grad = np.full((2, 2), 0.5, dtype=np.float32)
    SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01).step()
    assert p.data is data and p.data.dtype == np.float32
    np.testing.assert_allclose(data, 1 - 0.1 * (0.5 + 0.01), rtol=1e-6)


def test_sgd_skips_params_without_grad_and_starts_their_buffer_late():
    a, b = Parameter(np.array([1.0])), Parameter(np.array([1.0]))
    opt = SGD([a, b], lr=0.1, momentum=0.9)
    a.grad = np.array([1.0])
    opt.step()  # b has no grad: untouched, no buffer
    assert b.data[0] == 1.0 and opt.momentum_buffers[1] is None
    b.grad = np.array([2.0])
    opt.step()  # a: buf 0.9 + 1 = 1.9; b: first buffer = its grad, 2
    assert a.data[0] == pytest.approx(1.0 - 0.1 - 0.19, rel=1e-14)
    assert b.data[0] == pytest.approx(1.0 - 0.2, rel=1e-14)


@pytest.mark.parametrize("set_to_none", [True, False], ids=["to-none", "to-zero"])
def test_sgd_zero_grad(set_to_none):
    p = Parameter(np.ones(3))
    p.grad = np.ones(3)
    SGD([p], lr=0.1).zero_grad(set_to_none=set_to_none)
    if set_to_none:
        assert p.grad is None
    else:
        np.testing.assert_array_equal(p.grad, 0.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(lr=-0.1), "Invalid learning rate"),
        (dict(lr=0.1, momentum=-0.5), "Invalid momentum"),
        (dict(lr=0.1, weight_decay=-1e-4), "Invalid weight_decay"),
        (dict(lr=0.1, nesterov=True), "Nesterov momentum requires"),
        (dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "Nesterov momentum requires"),
    ],
    ids=["negative-lr", "negative-momentum", "negative-weight-decay", "nesterov-no-momentum",
         "nesterov-dampening"],
)
def test_sgd_rejects_bad_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SGD([Parameter(np.ones(1))], **kwargs)


def test_sgd_rejects_bad_params():
    p = Parameter(np.ones(1))
    with pytest.raises(ValueError, match="empty parameter list"):
        SGD([], lr=0.1)
    with pytest.raises(TypeError, match="not a Parameter"):
        SGD([np.ones(1)], lr=0.1)
    with pytest.raises(ValueError, match="more than once"):
        SGD([p, p], lr=0.1)
    with pytest.raises(TypeError, match="lr"):
        SGD([p], lr="0.1")
