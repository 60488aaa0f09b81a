"""Driving an implementation under test, whatever calling convention it was written in.

An adapter is made of small named parts, each in its own module:

- how it is built and called: its calling convention (a class ``NAME(p)``, a functional pair
  with a cache, a forward-only function...), a class satisfying :class:`.conventions.Convention`
  in a module of this package, detected as the first match in ``conventions.CONVENTIONS``;
- how the mode is set: :mod:`.modes` (a keyword such as ``training=`` / ``train_flg=`` /
  ``mode='train'`` / ``deterministic=``, ``train()``/``eval()``, an attribute);
- which calls are made and where results land: :mod:`.calls` (``forward``/``fprop``/...,
  returned or stored on ``self.output`` / ``self.dinputs``);
- what p and the form mean: :mod:`.meaning` (drop or keep probability; inverted or original);
- the user's exceptions and the harness's refusals: :mod:`.usercode`;
- the array library it works in (NumPy, torch, JAX...), its randomness and autodiff:
  :mod:`.arrays`; JAX-style ``f(key, x, rate)`` functions: :mod:`.keyed`.

Tests see only :class:`.driver.Driver`: ``forward``/``backward``/``train``/``eval`` and the
capabilities ``accepts_mask``, ``has_backward``, ``has_eval``. Two kinds of implementation
are compared with torch: *mask-capable* ones (``forward(x, mask=...)``, such as npdrop),
which get the harness's keep-mask, and *black boxes*, which draw their own masks from
``np.random``; the harness reads each mask off the output (:mod:`conformance.observe`)
and injects it into torch. ``np.random`` is seeded before every test (``conftest.py``).
"""
from __future__ import annotations

import ast
import dataclasses
import difflib
import importlib
from dataclasses import dataclass
from typing import Optional

from ..variants import VARIANTS, Variant
from . import hints
from .arrays import NumpyArrays, arrays_for
from .conventions import CONVENTIONS, Convention, Options, detect
from .driver import Driver
from .meaning import Form, form
from .usercode import AdapterError, UserCodeError

__all__ = ["AdapterError", "CONVENTIONS", "Convention", "Driver", "Impl", "Options", "UserCodeError", "detect",
           "load_impl"]


@dataclass
class Impl:
    """The implementation under test: how to build it for a variant, and how it is judged."""

    spec: str                          #: "npdrop" or "module:Name"
    conventions: dict                  #: variant -> the detected convention that drives it
    exact: bool                        #: bit equality (npdrop) or dtype-suited tolerances
    form: Form = Form("inverted")
    arrays: object = None              #: the array library (conformance.adapters.arrays); None: numpy
    arrays_why: str = ""               #: how the array library was found

    @property
    def keeps_p(self) -> bool:
        """Whether its p is the keep probability (as resolved from the name or --p-means)."""
        return any(c.meaning.keep for c in self.conventions.values())

    @property
    def variants(self) -> tuple:
        """The torch variants it is compared with (:class:`conformance.variants.Variant`)."""
        return tuple(self.conventions)

    def make(self, variant: Variant, p: float, seed: int = 0) -> Driver:
        return Driver(self.conventions[variant], p, seed, self.arrays)

    def describe(self) -> str:
        convention = self.conventions[self.variants[0]]
        judged = "bit for bit" if self.exact else "with dtype-suited tolerances"
        masks = "mask= injected" if convention.accepts_mask else "masks read off outputs"
        head = f"{self.spec} vs torch.nn.{'/'.join(v.name for v in self.variants)}"
        if self.spec == "npdrop":
            return f"{head}: {masks}; compared {judged}"
        lib = self.arrays or NumpyArrays()
        found = f"{convention.describe()}; {self.form.describe()}; {masks}; compared {judged}"
        if lib.name == "numpy" and not self.arrays_why.startswith("--array-lib"):
            return f"{head}: {found}"  # NumPy code, as always: no word about arrays
        return f"{head}: {lib.describe()} ({self.arrays_why}); {found}"


def _target(spec: str):
    module_name, sep, name = spec.partition(":")
    if not sep or not module_name or not name:
        raise ValueError(f"--impl expects MODULE:NAME (e.g. mypkg.layers:MyDropout), got {spec!r}")
    module = importlib.import_module(module_name)
    target, found = module, module_name
    for part in name.split("."):
        try:
            module, target = target, getattr(target, part)
        except AttributeError as exc:
            raise AttributeError(f"{exc}{_closest(part, dir(target), found)}") from None
        found += (":" if found == module_name else ".") + part
    return module_name, module, target


def _closest(name: str, names: list, where: str) -> str:
    """The names beside a misspelt one, as the next thing to try."""
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    if not close:
        return ""
    joint = ":" if ":" not in where else "."
    return f"; closest names it has: {', '.join(close)} (e.g. {where}{joint}{close[0]})"


def impl_kwargs(text: Optional[str]) -> tuple:
    """``--impl-kwargs 'data_format="channels_first", inplace=False'``: (name, value) pairs of
    Python literals."""
    if not text:
        return ()
    try:
        node = ast.parse(f"f({text})", mode="eval").body
        if node.args:
            raise ValueError("positional values")
        return tuple((k.arg, ast.literal_eval(k.value)) for k in node.keywords)
    except (SyntaxError, ValueError) as exc:
        raise ValueError(f"--impl-kwargs expects name=value pairs of Python literals, e.g. "
                         f"'data_format=\"channels_first\"'; got {text!r} ({exc})") from exc


def load_impl(spec: Optional[str], reference: str = "Dropout", *, forward: Optional[str] = None,
              backward: Optional[str] = None, p_means: Optional[str] = None,
              form_name: Optional[str] = None, array_lib: Optional[str] = None,
              kwargs: Optional[str] = None, mode_global: Optional[str] = None) -> Impl:
    """The implementation named by ``--impl MODULE:NAME`` (``None``: npdrop, all six variants),
    with the convention found for it; raises :class:`AdapterError` if it cannot be driven."""
    if reference not in VARIANTS:
        raise ValueError(f"--reference must be one of {', '.join(VARIANTS)}; got {reference!r}")
    variant = VARIANTS[reference]
    hints.reference = reference
    chosen = form(form_name)
    if chosen.original and variant.alpha:
        raise ValueError(f"--form original applies to Bernoulli dropout, not {reference}")
    if spec in (None, "", "npdrop"):
        import npdrop

        if any((forward, backward, p_means, form_name, array_lib, kwargs, mode_global)):
            raise ValueError("--forward/--backward/--p-means/--form/--array-lib/--impl-kwargs/--mode-global apply "
                             "to an implementation given with --impl")
        conventions = {v: detect(getattr(npdrop, v.name), Options(probe_shape=v.batched)) for v in VARIANTS.values()}
        return Impl("npdrop", conventions, exact=True)
    module_name, module, target = _target(spec)
    arrays, why = arrays_for(target, array_lib)
    implied = getattr(arrays, "implied_form", None)   # Paddle's mode='downscale_in_infer': the original form
    if form_name is None and implied is not None:
        chosen = implied(dict(impl_kwargs(kwargs))) or chosen
    options = Options(forward=forward, backward=backward, p_means=p_means, form=chosen,
                      probe_shape=variant.batched, module=module, arrays=arrays,
                      impl_kwargs=impl_kwargs(kwargs), mode_global=mode_global)
    exact = module_name.split(".")[0] == "npdrop"
    try:
        convention = detect(target, options)
    except AdapterError as error:
        first = error
        # a library guessed only from what its module imports (a NumPy layer in a module that
        # imports torch to set its default dtype, say) is a guess: NumPy arrays get a try
        if array_lib or arrays.name == "numpy" or not why.startswith("its module"):
            raise
        guessed = arrays
        options = dataclasses.replace(options, arrays=NumpyArrays())
        try:
            convention = detect(target, options)
        except AdapterError:
            raise first from None
        arrays, why = options.arrays, f"{why}, but it refused {guessed.name} arrays and takes numpy ones"
    return Impl(spec, {variant: convention}, exact=exact, form=chosen, arrays=arrays, arrays_why=why)
