"""Edge properties no other check compares: the sign of a dropped zero, p outside [0, 1],
integer input. Each is an edge (conformance/README.md, "Two tiers"): a difference here changes
nothing a network learns from finite float data at a p in [0, 1], so it is listed, and fails
the run only under ``--strict-edges``.
"""
import numpy as np
import pytest

pytest.importorskip("torch")

from .adapters import UserCodeError  # noqa: E402
from .harness import expected, forward_with_mask  # noqa: E402
from .inputs import gradient, values  # noqa: E402
from .report import NOT_APPLICABLE  # noqa: E402
from .words import p_id, p_text  # noqa: E402

pytestmark = [pytest.mark.any_impl, pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore::RuntimeWarning")]


def _refused(error: BaseException) -> bool:
    """An exception raised by the implementation's own code (not the harness finding its result wrong)."""
    return isinstance(error, UserCodeError) and error.__cause__ is not None


def _signs(got, want, what: str, variant, p) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, torch's {want.shape} [{variant}({p_text(p)})]"
    zero = (got == 0) & (want == 0)
    differ = zero & (np.signbit(got) != np.signbit(want))
    if differ.any():
        first = tuple(int(i) for i in np.argwhere(differ)[0])
        raise AssertionError(
            f"{what}: {int(differ.sum())} of {int(zero.sum())} zeros have the other sign than torch's; first at "
            f"{first}: got {got[first]!r}, torch {want[first]!r} (torch multiplies, and a dropped negative "
            f"unit is x * 0 = -0.0; a select gives +0.0) [{variant}({p_text(p)}), {got.dtype}]")


@pytest.mark.prop("signed-zero")
def test_signed_zero(impl, variant, rng, seed):
    """The sign of every zero of the output and of the input gradient is torch's (inputs with
    -0.0 planted, negative values dropped). Equal as numbers; 1/x, copysign and the bits tell."""
    if variant.alpha:
        pytest.skip(f"{NOT_APPLICABLE} alpha dropout's dropped units take a constant, not a zero")
    p, dtype = 0.5, np.float32
    layer = impl.make(variant, p, seed)
    x = values(variant.batched, dtype, rng)
    x.reshape(-1)[::7] = -0.0
    call = forward_with_mask(layer, variant, x, p, rng)
    g = gradient(x.shape, dtype, rng) if layer.has_backward else None
    want = expected(impl, variant, p, call.x, call.keep, grad=g)
    _signs(call.out, want.out, "training forward", variant, p)
    if g is not None:
        _signs(layer.backward(g), want.grad, "backward", variant, p)


@pytest.mark.prop("p-range")
@pytest.mark.parametrize("p", (-0.5, 1.5), ids=p_id)
def test_p_outside_zero_one_is_refused(impl, variant, p, rng, seed):
    """torch raises ValueError for p outside [0, 1] when the module is built; here building it
    or its first training forward must raise too (any exception), not run on."""
    x = values(variant.batched, np.float32, rng)
    try:
        impl.make(variant, p, seed).forward(x)
    except UserCodeError as error:
        if _refused(error):
            return
        raise
    pytest.fail(f"{p_text(p)} was taken silently (built, and a training forward returned); torch raises "
                f"ValueError: dropout probability has to be between 0 and 1 [{variant}]")


@pytest.mark.prop("integer-input")
def test_integer_input_is_refused_in_training(impl, variant, rng, seed):
    """torch's training dropout raises on an integer tensor (its result would be float); here a
    training forward on int64 input must raise too, not return integers or floats."""
    layer = impl.make(variant, 0.5, seed)
    x = (rng.integers(1, 5, size=variant.batched) * rng.choice([-1, 1], size=variant.batched)).astype(np.int64)
    try:
        out = layer.forward(x)
    except UserCodeError as error:
        if _refused(error):
            return
        raise
    pytest.fail(f"int64 input in training returned {np.asarray(out).dtype} output; torch raises RuntimeError "
                f"(an integer tensor cannot hold the scaled result) [{variant}({p_text(0.5)})]")
