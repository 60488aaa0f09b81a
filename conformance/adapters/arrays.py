"""The array library an implementation is written in: its arrays, its randomness, its autodiff.

The harness thinks in NumPy arrays (inputs, masks read off outputs, torch's reference).
An implementation written in torch, JAX (plain, Flax, Equinox, Haiku, Keras on the jax
backend), TensorFlow, tinygrad, MLX, Paddle or NumPy gets arrays of its own library, and its results
are read back as NumPy:

- :class:`NumpyArrays`: the arrays themselves (no autodiff: the implementation's own
  backward, or none);
- :class:`TorchArrays`: ``torch.Tensor`` with the same dtype (bfloat16 included); an
  implementation without a backward of its own gets ``torch.autograd.grad`` of the
  forward's graph. Randomness is torch's global generator, seeded per test (``conftest.py``);
- :class:`JaxArrays`: ``jax.Array``; a fresh key per call (derived from the test's seed)
  for a ``key``/``rng``/``rngs`` parameter; backward through ``jax.vjp`` of the forward.
  float64 needs ``jax_enable_x64``: the suite turns it on when it drives jax code;
- :class:`TensorflowArrays`: ``tf.Tensor``; backward through ``tf.GradientTape``;
- one module each for libraries with arrays, a mode or randomness of their own (tinygrad:
  :mod:`.tinygrad_arrays`, MLX: :mod:`.mlx_arrays`,
  Paddle: :mod:`.paddle_arrays`), registered in :data:`LIBRARIES` and :data:`MODE_SWITCHES`.

The library is found from the object (:func:`detect`), never by importing one the code does
not use: a class's bases, the module a function or class comes from, the modules it imports.
``--array-lib`` says it outright.
"""
from __future__ import annotations

import inspect
import sys
from typing import Optional

import numpy as np

from .usercode import AdapterError, UserCodeError

#: the first module-name part of each library's code -> the array library it works in
ROOTS = {"torch": "torch", "jax": "jax", "jaxlib": "jax", "flax": "jax", "equinox": "jax", "haiku": "jax",
         "optax": "jax", "tensorflow": "tensorflow", "numpy": "numpy", "tinygrad": "tinygrad",
         "mlx": "mlx", "paddle": "paddle"}


def _copy(x: np.ndarray) -> np.ndarray:
    """A copy of ``x`` with its axis order (positive strides): what the implementation is handed."""
    return np.array(x, order="K", copy=True)


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    kind = f"u{a.dtype.itemsize}"
    return bool(np.array_equal(np.ascontiguousarray(a).view(kind), np.ascontiguousarray(b).view(kind)))


class NumpyArrays:
    """NumPy code: handed (copies of) the arrays themselves."""

    name = "numpy"
    autodiff = None          #: words for the backward the library provides; None: none
    keyed = False            #: randomness is passed as a key argument

    def native(self, x: np.ndarray):
        return _copy(x)

    def numpy(self, value):
        """NumPy results as they are (the tests judge them); another library's array (a
        ``Variable`` holding ``.data``, an object with ``__dlpack__`` or ``.numpy()``) read as NumPy."""
        if value is None or isinstance(value, (np.ndarray, np.generic, tuple, list, float, int)):
            return value
        return _as_numpy(value)

    def is_array(self, value) -> bool:
        return isinstance(value, np.ndarray)

    def keys(self, seed: int):
        return None

    def forward_recording(self, function, x):
        raise NotImplementedError

    def describe(self) -> str:
        return "numpy arrays"


def _as_numpy(value):
    """A result of another kind read as NumPy: ``__dlpack__``, ``__array__``, ``.numpy()``, ``.data``."""
    if isinstance(value, np.ndarray) or value is None:
        return value
    for attempt in (lambda v: np.asarray(v.numpy()), lambda v: np.from_dlpack(v),
                    lambda v: np.asarray(v.data) if isinstance(getattr(v, "data", None), (np.ndarray, np.generic))
                    else None):
        try:
            found = attempt(value)
        except Exception:
            continue
        if isinstance(found, np.ndarray) and found.dtype != object:
            return found
    return np.asarray(value)


class TorchArrays(NumpyArrays):
    """torch code: ``torch.Tensor`` in and out, ``torch.autograd`` for a missing backward."""

    name = "torch"
    autodiff = "torch.autograd.grad of the forward's graph"

    def __init__(self):
        import torch

        self.torch = torch

    def native(self, x: np.ndarray):
        from npdrop.dtypes import is_bfloat16

        copy = _copy(x)
        if is_bfloat16(copy.dtype):
            return self.torch.from_numpy(copy.view(np.int16)).view(self.torch.bfloat16)
        return self.torch.from_numpy(copy)

    def numpy(self, value):
        torch = self.torch
        if not isinstance(value, torch.Tensor):
            return _as_numpy(value)
        value = value.detach().cpu()
        if value.dtype == torch.bfloat16:
            from ml_dtypes import bfloat16

            return value.view(torch.int16).numpy().view(bfloat16)
        return value.numpy()

    def is_array(self, value) -> bool:
        return isinstance(value, self.torch.Tensor)

    def forward_recording(self, function, x):
        """``(out, backward)``: the forward on a clone of a leaf that requires grad (so code that
        works in place is allowed), and ``backward(g)`` = ``torch.autograd.grad(out, leaf, g)``."""
        leaf = x.requires_grad_(True)
        given = leaf.clone()
        out = function(given)

        def backward(grad):
            if not isinstance(out, self.torch.Tensor):
                raise UserCodeError(f"the forward returned {type(out).__name__}, not a torch tensor: "
                                    "no gradient can flow back through torch's autograd")
            if not out.requires_grad:  # built without the input (zeros_like(x) at p = 1): gradient 0
                return self.torch.zeros_like(leaf)
            g = self.native(grad).to(out.dtype)
            (gx,) = self.torch.autograd.grad(out, leaf, g, retain_graph=True, allow_unused=True)
            return self.torch.zeros_like(leaf) if gx is None else gx

        return out, given, backward

    def describe(self) -> str:
        return "torch tensors"


class JaxArrays(NumpyArrays):
    """jax code: ``jax.Array`` in and out, a fresh key per call, ``jax.vjp`` for a missing backward."""

    name = "jax"
    autodiff = "jax.vjp of the forward"
    keyed = True

    def __init__(self):
        import jax

        jax.config.update("jax_enable_x64", True)  # float64 stays float64 (the suite's dtype matrix)
        self.jax = jax

    def native(self, x: np.ndarray):
        return self.jax.numpy.asarray(_copy(x))

    def numpy(self, value):
        if isinstance(value, self.jax.Array):
            return np.asarray(value)
        return _as_numpy(value)

    def is_array(self, value) -> bool:
        return isinstance(value, self.jax.Array)

    def keys(self, seed: int):
        """``next_key()`` for one instance: ``fold_in(PRNGKey(seed), n)`` for its n-th call."""
        jax = self.jax
        base = jax.random.PRNGKey(seed % (2 ** 32))
        count = iter(range(2 ** 62))
        return lambda: jax.random.fold_in(base, next(count))

    def forward_recording(self, function, x):
        out, pullback = self.jax.vjp(function, x)

        def backward(grad):
            g = self.jax.numpy.asarray(_copy(grad)).astype(out.dtype)
            return pullback(g)[0]

        return out, x, backward

    def describe(self) -> str:
        return "jax arrays (jax_enable_x64 on)"


class TensorflowArrays(NumpyArrays):
    """TensorFlow code: ``tf.Tensor`` in and out, ``tf.GradientTape`` for a missing backward.
    Its random ops draw from TensorFlow's own state: each call draws anew."""

    name = "tensorflow"
    autodiff = "tf.GradientTape of the forward"

    def __init__(self):
        import tensorflow as tf

        self.tf = tf

    def native(self, x: np.ndarray):
        return self.tf.constant(_copy(x))

    def numpy(self, value):
        if isinstance(value, (self.tf.Tensor, self.tf.Variable)):
            return value.numpy()
        return _as_numpy(value)

    def is_array(self, value) -> bool:
        return isinstance(value, self.tf.Tensor)

    def forward_recording(self, function, x):
        with self.tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            out = function(x)

        def backward(grad):
            g = self.tf.cast(self.native(grad), out.dtype)
            gx = tape.gradient(out, x, output_gradients=g)
            return self.tf.zeros_like(x) if gx is None else gx

        return out, x, backward

    def describe(self) -> str:
        return "tensorflow tensors"


from . import mlx_arrays, paddle_arrays, tinygrad_arrays  # noqa: E402  (each imports its library only when its arrays are made)

LIBRARIES = {"numpy": NumpyArrays, "torch": TorchArrays, "jax": JaxArrays, "tensorflow": TensorflowArrays,
             "tinygrad": tinygrad_arrays.TinygradArrays, "mlx": mlx_arrays.MlxArrays,
             "paddle": paddle_arrays.PaddleArrays}
#: a library's own mode switch for code that has none of its own: ``switch(module or class)`` -> Mode or None
MODE_SWITCHES = (tinygrad_arrays.training_switch,)
#: ``seed(int32)`` for each library's global generator, applied per test where the library is imported
SEEDERS = (tinygrad_arrays.seed, mlx_arrays.seed, paddle_arrays.seed)


def _root(module_name: Optional[str]) -> Optional[str]:
    return (module_name or "").split(".")[0] or None


def _keras(module_name: str) -> Optional[str]:
    """Keras code works in its backend's arrays."""
    keras = sys.modules.get("keras")
    backend = getattr(getattr(keras, "backend", None), "backend", None)
    name = backend() if callable(backend) else "tensorflow"
    return {"numpy": "numpy", "jax": "jax", "torch": "torch", "tensorflow": "tensorflow"}.get(name)


def _library_of(module_name: Optional[str]) -> Optional[str]:
    root = _root(module_name)
    if root == "keras":
        return _keras(module_name)
    return ROOTS.get(root)


def _imported_by(module) -> list:
    """The array libraries whose modules (or names from them) a module's globals hold."""
    found = []
    for value in vars(module).values() if module is not None else ():
        name = value.__name__ if inspect.ismodule(value) else getattr(value, "__module__", None)
        if not isinstance(name, str):
            continue
        library = _library_of(name)
        if library and library not in found:
            found.append(library)
    return found


def detect(target) -> tuple:
    """``(library name, why)`` for ``target``: from its class's bases, its own module, or the
    modules its module imports (another library wins over numpy)."""
    classes = inspect.getmro(target) if inspect.isclass(target) else ()
    for cls in classes[:-1]:
        library = _library_of(cls.__module__)
        if library and library != "numpy":
            return library, f"{cls.__module__}.{cls.__qualname__} among its bases" if cls is not target \
                else f"defined in {cls.__module__}"
    own = getattr(target, "__module__", None)
    library = _library_of(own)
    if library and library != "numpy":
        return library, f"defined in {own}"
    module = sys.modules.get(own) if own else None
    imported = [name for name in _imported_by(module) if name != "numpy"]
    if imported:
        return imported[0], f"its module {own} uses {imported[0]}"
    return "numpy", "no other array library found in its module"


def arrays_for(target, option: Optional[str]) -> tuple:
    """The array library object for ``target`` (``--array-lib`` if given) and why."""
    if option:
        if option not in LIBRARIES:
            raise AdapterError(f"--array-lib must be one of {', '.join(LIBRARIES)}; got {option!r}")
        name, why = option, f"--array-lib {option}"
    else:
        name, why = detect(target)
    try:
        return LIBRARIES[name](), why
    except ImportError as exc:
        raise AdapterError(f"the implementation works in {name} arrays ({why}), but {exc.name} "
                           "cannot be imported") from exc
