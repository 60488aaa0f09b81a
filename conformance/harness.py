"""Steps the test modules share: one training call with its mask, and checks against torch.

``forward_with_mask`` is the heart of the harness. For a mask-capable implementation the
harness draws the keep-mask and passes it as ``mask=``; for a black box the
implementation draws and the mask is read off its output. Either way the caller gets the
output and the mask to inject into torch. :meth:`Judge.check` is the comparison every
forward and backward test makes on top of it (like tinygrad's ``helper_test_op``).
"""
from __future__ import annotations

import importlib.util
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Callable, NamedTuple, Optional

import numpy as np
import pytest

from npdrop.testing.inject import assert_same

from . import evidence
from .adapters.calls import probing
from .adapters.usercode import UserCodeError
from .inputs import gradient
from .observe import observe
from .reference import TorchResult, run_torch, tolerance, torch_draws
from .report import NOT_APPLICABLE, UNSUPPORTED
from .variants import Variant
from .words import p_text

#: the dtypes of the matrix, by name: bfloat16 joins it when the optional ml_dtypes package is
#: installed. The tests take their dtype by name (the ``dtype`` fixture, :func:`dtype_named`),
#: so that ml_dtypes is imported by the first bfloat16 test, not by every run: its import
#: alone takes about 0.6 s, more than a narrow run's tests.
DTYPE_IDS = ("float16", "float32", "float64") + (("bfloat16",) if importlib.util.find_spec("ml_dtypes") else ())


def dtype_named(name: str) -> type:
    """The scalar type one of :data:`DTYPE_IDS` names (``bfloat16``: ml_dtypes')."""
    if name == "bfloat16":
        from ml_dtypes import bfloat16

        return bfloat16
    return {"float16": np.float16, "float32": np.float32, "float64": np.float64}[name]


def all_dtypes() -> tuple:
    """Every dtype of the matrix (ml_dtypes is imported where bfloat16 is one)."""
    return tuple(dtype_named(name) for name in DTYPE_IDS)
PS = (0.0, 0.1, 0.3, 0.5, 0.8, 1.0)
#: :data:`PS` for the forward and backward matrices: their p = 1 cases check the ``p-one`` edge
#: (p = 1 trains nothing; see conformance/README.md, "Two tiers"), the others ``forward``/``backward``
PS_TIERED = tuple(pytest.param(p, marks=pytest.mark.prop("p-one")) if p == 1.0 else p for p in PS)
#: p within 1e-4 of 1, tried in float16 (the ``float16-near-one`` edge): 1/(1-p) = 1e10 and 1e5,
#: both past float16's largest value (65504), and 1 - p below float16's smallest normal (2^-14)
NEAR_ONE = (1 - 1e-10, 1 - 1e-5)


def near_one(p: float) -> bool:
    """p within 1e-4 of 1 (and below it): where a float16 scale 1/(1-p) passes 1e4."""
    return 1 - 1e-4 < p < 1
#: the dtypes every implementation must take; others (bfloat16) it may refuse
REQUIRED_DTYPES = (np.float16, np.float32, np.float64)


def refuses(impl, dtype, error: BaseException) -> bool:
    """Whether ``error`` (from the first call with a ``dtype`` input) is the implementation
    refusing a dtype it need not take: outside float16/32/64, not npdrop (which takes every
    one), an exception raised by its own code (not the harness finding its output wrong), and
    one it raises for that dtype at an ordinary p (a ZeroDivisionError at p = 1 is no refusal
    of bfloat16: it fails there in float32 too)."""
    return isinstance(error, UserCodeError) and error.__cause__ is not None and refuses_dtype(impl, dtype)


def refuses_dtype(impl, dtype) -> bool:
    """Whether the implementation refuses ``dtype``, one it need not take (outside
    float16/32/64; npdrop takes every one), at an ordinary p (see :func:`refuses`)."""
    return (not impl.exact and not any(np.dtype(dtype) == np.dtype(d) for d in REQUIRED_DTYPES)
            and _refused_outright(impl, dtype))


def _refused_outright(impl, dtype) -> bool:
    """One training forward at p = 0.5 on an ordinary ``dtype`` input raises in the
    implementation's own code (asked once per implementation and dtype, ``np.random`` untouched)."""
    answers = impl.__dict__.setdefault("refused_dtypes", {})
    name = np.dtype(dtype).name
    if name not in answers:
        variant = impl.variants[0]
        x = np.linspace(0.5, 1.5, int(np.prod(variant.batched))).reshape(variant.batched).astype(dtype)
        try:
            with probing():
                impl.make(variant, 0.5, 0).forward(x)
            answers[name] = False
        except UserCodeError as error:
            answers[name] = error.__cause__ is not None
    return answers[name]


@contextmanager
def accepted(impl, dtype):
    """Around the first call with an input of ``dtype``. NumPy code that checks
    ``np.issubdtype(x.dtype, np.floating)`` refuses bfloat16 (not a numpy floating type),
    and that is no fault: such a refusal makes the test n/a, "unsupported", not failed. A
    dtype it accepts is checked like any other."""
    try:
        yield
    except UserCodeError as error:
        if not refuses(impl, dtype, error):
            raise
        pytest.skip(f"{UNSUPPORTED} {np.dtype(dtype).name}: the implementation refuses it "
                    f"({str(error).splitlines()[0]})")


def draw_keep(variant: Variant, shape: tuple, p: float, rng: np.random.Generator) -> np.ndarray:
    """A keep-mask of ``variant``'s noise shape for an input of ``shape``: True with probability 1 - p."""
    return rng.random(variant.noise_shape(shape)) >= p


class Call(NamedTuple):
    """One forward call: its output, the mask torch must use (None: torch draws nothing),
    and the input as it was before the call (an implementation may have modified ``x``)."""

    out: object
    keep: Optional[np.ndarray]
    x: np.ndarray


def forward_with_mask(layer, variant: Variant, x: np.ndarray, p: float, rng, training: bool = True) -> Call:
    """One training forward; mask-capable implementations get a harness-drawn ``mask=``,
    black boxes draw their own, read back with :func:`conformance.observe.observe`."""
    before = x.copy()
    if not torch_draws(variant, p, x, training):
        return Call(layer.forward(x), None, before)
    if layer.accepts_mask:
        keep = draw_keep(variant, x.shape, p, rng)
        return Call(layer.forward(x, mask=keep), keep, before)
    out = layer.forward(x)
    return Call(out, observe(variant, before, out)[0], before)


def own_forward(layer, variant: Variant, x: np.ndarray):
    """A forward on the implementation's own draw: ``(out, keep, known)`` read off the output."""
    before = x.copy()
    out = layer.forward(x)
    keep, known = observe(variant, before, out)
    return out, keep, known


def check_backward_pattern(layer, variant: Variant, x: np.ndarray, keep: np.ndarray, what: str, p: float,
                           record: bool = False) -> None:
    """``backward(ones)`` must be nonzero exactly where ``keep`` kept units: the backward
    uses the forward's mask (its pattern; values are the ``backward`` property's business).
    ``record``: note the evidence the diagnoses read (:func:`conformance.evidence.backward_pattern`)."""
    gx = np.asarray(layer.backward(np.ones_like(x)))
    if record:
        evidence.backward_pattern(variant, p, keep, gx, x.shape)
    differ = (gx != 0) != per_element(keep, x.shape)
    assert not differ.any(), (
        f"{what}: backward(ones) is nonzero where the forward dropped, or zero where it kept, at "
        f"{int(differ.sum())} of {x.size} elements (first at {tuple(int(i) for i in np.argwhere(differ)[0])}): "
        f"backward does not use the forward's mask [{variant}({p_text(p)}), float64]")


def needs(layer, capability: str) -> None:
    """Skip as n/a (not pass, not fail) when the implementation lacks ``capability``:
    ``"backward"`` or ``"eval"``, the two things some dropouts have no use for."""
    if capability == "backward" and not layer.has_backward:
        pytest.skip(f"{NOT_APPLICABLE} the implementation has no backward")
    if capability == "eval" and not layer.has_eval:
        pytest.skip(f"{NOT_APPLICABLE} no eval mode found (no training/mode keyword, train()/eval(), "
                    "attribute or global Config.train; --mode-global MODULE:ATTR names one)")


def expected(impl, variant: Variant, p: float, x: np.ndarray, keep, *, grad=None) -> TorchResult:
    """torch's training result under ``keep``; for ``--form original``, the same mask's
    ``x * m`` and ``grad * m`` (exact by construction: m is 0 or 1)."""
    result = run_torch(variant, p, x, keep, grad=grad)
    if not impl.form.original:
        return result
    m = per_element(keep, x.shape) if keep is not None else np.full(x.shape, p < 1.0)
    out = x * m.astype(x.dtype)
    g = None if grad is None else grad * m.astype(grad.dtype)
    return TorchResult(out, g, result.input_after, result.same_object, of_torch=result)


@dataclass
class Judge:
    """Compares results with torch's for one case, naming the case in every message."""

    impl: object
    variant: Variant
    p: float
    dtype: object
    shape: tuple
    repro: str

    def same(self, actual, expected, what: str, *, exact: Optional[bool] = None, against: str = "torch") -> None:
        tol = tolerance(self.variant, np.dtype(self.dtype), self.impl.exact if exact is None else exact)
        assert_same(actual, expected, what=what, variant=self.variant.name, p=p_text(self.p), dtype=np.dtype(self.dtype),
                    shape=self.shape, repro=self.repro, against=against, **tol)

    def expected(self, x, keep, **kwargs) -> TorchResult:
        """The correct training result under ``keep`` (torch's, or the original form's)."""
        return expected(self.impl, self.variant, self.p, x, keep, **kwargs)

    def check(self, layer, x: np.ndarray, rng, *, detail: str = "", forward: bool = True, backward: bool = False,
              record: tuple = (), also: Optional[Callable] = None) -> None:
        """One training forward of ``layer`` on ``x`` under a mask (:func:`forward_with_mask`)
        and, with ``backward`` and a layer that has one, a backward of a random upstream
        gradient, each compared with :meth:`expected` under that mask. ``forward=False``
        compares only the backward (the forward still runs: it makes the mask).

        Failures say "forward" or "backward", then ``detail``. ``record`` names the evidence
        kinds noted for the diagnoses: "raised" (what the forward raised), "forward" and
        "backward" (each result next to torch's, :func:`conformance.evidence.compared`),
        "nonfinite" (:func:`conformance.evidence.nonfinite`). ``also`` checks the forward's
        output before it is compared (a property of its own, e.g. no NaN at p = 1).
        """
        def what(part):
            return f"{part} {detail}" if detail else part

        raising = evidence.raising(self.variant, self.p) if "raised" in record else nullcontext()
        with accepted(self.impl, self.dtype), raising:
            call = forward_with_mask(layer, self.variant, x, self.p, rng)
        g = gradient(x.shape, self.dtype, rng) if backward and layer.has_backward else None
        result = self.expected(call.x, call.keep, grad=g)
        if forward:
            if "forward" in record:
                evidence.compared("forward", self.variant, self.p, call.x, call.out, result.torch_own.out)
            if "nonfinite" in record:
                evidence.nonfinite(self.variant, self.p, call.x, call.out, result.out)
            if also is not None:
                also(call.out)
            self.same(call.out, result.out, what("forward"))
        if g is not None:
            got = layer.backward(g)
            if "backward" in record:
                evidence.compared("backward", self.variant, self.p, g, got, result.torch_own.grad)
            self.same(got, result.grad, what("backward"))

    def at_eval(self, actual, x, what: str, against: str) -> None:
        """An eval-mode result: ``x`` itself, bit for bit (or ``x * (1-p)`` for the original form)."""
        scaled = self.impl.form.original
        self.same(actual, self.impl.form.at_eval(x, self.p), what, exact=None if scaled else True,
                  against=f"{against} times (1-p)" if scaled else against)


def per_element(keep: np.ndarray, shape: tuple) -> np.ndarray:
    """A noise-shaped mask broadcast to the input's shape."""
    return np.broadcast_to(keep, shape)
