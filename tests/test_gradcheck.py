"""The gradient checker itself: it passes correct backwards and catches wrong ones."""
import numpy as np
import pytest

from npdrop.gradcheck import check_module_gradients, numerical_gradient
from npdrop.module import Module, Parameter


class Scale(Module):
    """y = gain * w * x elementwise; ``bug`` plants a mistake in backward."""

    def __init__(self, bug=None):
        super().__init__()
        self.w = Parameter(np.array([[0.5, -1.5, 2.0], [1.0, 0.25, -0.75]]))
        self.bug = bug

    def forward(self, x, *, gain=1.0):
        self._x, self._gain = x, gain
        return gain * self.w.data * x

    def backward(self, grad):
        grad_x = self._gain * self.w.data * grad
        grad_w = self._gain * self._x * grad
        if self.bug == "input":
            grad_x = grad_x.copy()
            grad_x[1, 2] *= 1.01
        elif self.bug == "param":
            grad_w = grad_w.copy()
            grad_w[0, 1] += 1e-3
        elif self.bug == "missing-param":
            return grad_x
        elif self.bug == "shape":
            return grad_x[0]
        elif self.bug == "nan":
            grad_x = np.where(np.arange(3) == 0, np.nan, grad_x)
        self.w.accumulate(grad_w)
        return grad_x


X = np.array([[1.0, 2.0, -1.0], [0.5, -3.0, 4.0]])


def test_numerical_gradient_of_a_known_function():
    x = np.array([[0.3, -1.2], [2.0, 0.7]])
    got = numerical_gradient(lambda v: np.sum(v**3), x)
    np.testing.assert_allclose(got, 3 * x**2, rtol=1e-8)


def test_correct_backward_passes_and_reports_each_tensor():
    report = check_module_gradients(Scale(), X)
    assert set(report) == {"input", "w"} and max(report.values()) < 1e-8


@pytest.mark.parametrize(
    "bug, match",
    [
        ("input", r"Scale: gradient of input .* at index \(1, 2\)"),
        ("param", r"Scale: gradient of parameter w .* at index \(0, 1\)"),
        ("missing-param", r"gradient of parameter w .* analytic 0\.0"),
        ("shape", r"analytic gradient of input has shape \(3,\), expected \(2, 3\)"),
        ("nan", r"gradient of input .* analytic nan"),
    ],
    ids=["wrong-input-grad", "wrong-param-grad", "param-grad-never-set", "wrong-shape", "nan"],
)
def test_wrong_backward_is_caught(bug, match):
    with pytest.raises(AssertionError, match=match):
        check_module_gradients(Scale(bug), X)


def test_message_carries_both_values_and_count():
    with pytest.raises(AssertionError) as info:
        check_module_gradients(Scale("input"), X, grad_output=np.ones((2, 3)), name="planted")
    message = str(info.value)
    # At (1, 2): w = -0.75, so numeric is -0.75 and the planted analytic value -0.7575.
    assert message.startswith("planted:") and "-0.7575" in message and "-0.75" in message
    assert "1 of 6 elements" in message


def test_forward_kwargs_reach_forward():
    # With gain=3 the checker must differentiate 3 w x; a checker that dropped the kwarg
    # would compare backward's 3 w against numerics of w x and fail.
    check_module_gradients(Scale(), X, forward_kwargs={"gain": 3.0})


def test_state_is_restored_and_input_untouched():
    module = Scale()
    module.w.grad = np.full((2, 3), 9.0)
    w_before = module.w.data.copy()
    x = X.copy()
    check_module_gradients(module, x)
    np.testing.assert_array_equal(module.w.grad, 9.0)
    np.testing.assert_array_equal(module.w.data, w_before)
    np.testing.assert_array_equal(x, X)


def test_rejects_float32_parameters_and_bad_grad_output():
    module = Scale()
    module.w.data = module.w.data.astype(np.float32)
    with pytest.raises(TypeError, match="float64"):
        check_module_gradients(module, X)
    with pytest.raises(ValueError, match=r"grad_output has shape \(3,\)"):
        check_module_gradients(Scale(), X, grad_output=np.ones(3))
