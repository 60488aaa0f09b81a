"""Seed for seed: torch's CPU random stream, replayed in NumPy.

:class:`TorchCPUGenerator` is a mask source (see :mod:`npdrop.rng`) that draws, bit for bit,
what ``torch.manual_seed(s)`` followed by CPU ``bernoulli_`` / ``uniform_`` / ``randn`` calls
would draw, so a network built in npdrop from ``TorchCPUGenerator(s)`` gets the initial
weights and dropout masks torch gets from the same seed. The engine is NumPy's
``np.random.MT19937`` (torch's ``at::mt19937``); README.md, "How torch draws", lists the
conversions from its 32-bit outputs that ATen makes and this module mirrors. Nothing here
imports torch; :func:`npdrop.testing.check_torch_replays` checks a given torch.
"""
from __future__ import annotations

import math
import numbers
from typing import Optional

import numpy as np

__all__ = ["TorchCPUGenerator", "TORCH_DEFAULT_SEED", "TORCH_STATE_SIZE"]

#: ``torch.Generator().initial_seed()``: the seed of a freshly constructed CPU generator.
TORCH_DEFAULT_SEED = 67280421310721

_N = 624  # MT19937 state words (at::MERSENNE_STATE_N)
_MASK32 = 0xFFFFFFFF
_MASK64 = 0xFFFFFFFFFFFFFFFF

# The bytes of ``torch.get_rng_state()``: ``CPUGeneratorImplState`` in CPUGeneratorImpl.cpp,
# a memcpy of this C struct (x86-64 / aarch64 alignment, little-endian):
#   struct CPUGeneratorImplStateLegacy {        // offset
#     uint64_t the_initial_seed;                //    0
#     int left;                                 //    8   outputs left before the next twist, + 1
#     int seeded;                               //   12   must be non-zero
#     uint64_t next;                            //   16   index of the next state word
#     uint64_t state[624];                      //   24   32-bit words, zero-extended
#     double normal_x, normal_y, normal_rho;    // 5016   only normal_y is used: the cached
#     int normal_is_valid;                      // 5040   double normal of normal_distribution
#   };                                          //        (padded to 5048)
#   float next_float_normal_sample;             // 5048
#   bool is_next_float_normal_sample_valid;     // 5052   (struct padded to 5056)
_STATE_DTYPE = np.dtype(
    {
        "names": [
            "the_initial_seed", "left", "seeded", "next", "state",
            "normal_x", "normal_y", "normal_rho", "normal_is_valid",
            "next_float_normal_sample", "is_next_float_normal_sample_valid",
        ],
        "formats": ["<u8", "<i4", "<i4", "<u8", ("<u8", _N), "<f8", "<f8", "<f8", "<i4", "<f4", "u1"],
        "offsets": [0, 8, 12, 16, 24, 5016, 5024, 5032, 5040, 5048, 5052],
        "itemsize": 5056,
    }
)
#: ``torch.get_rng_state().numel()`` for a CPU generator.
TORCH_STATE_SIZE = _STATE_DTYPE.itemsize

_M21 = np.uint64((1 << 21) - 1)  # the high word's share of a 53-bit draw
_M24 = np.uint64((1 << 24) - 1)
_SHIFT32 = np.uint64(32)
_TWO_M24 = np.float32(2.0**-24)
_TWO_M53 = 2.0**-53
_CHUNK = 1 << 15  # keep_mask works in cache-sized chunks of this many elements


def _seed_to_uint64(seed) -> int:
    """Reduce ``seed`` the way ``torch.Generator.manual_seed`` does.

    torch unpacks the Python int as a uint64, or, when that overflows, as an int64 whose
    two's complement bits are kept: -1 becomes 2**64 - 1. Anything outside
    [-2**63, 2**64) is an error; so are non-integers (torch's Generator refuses floats and
    bools with "manual_seed expected a long").
    """
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}: {seed!r}")
    seed = int(seed)
    if not -(1 << 63) <= seed <= _MASK64:
        raise ValueError(f"seed must be in [-2**63, 2**64 - 1], as in torch.manual_seed; got {seed}")
    return seed & _MASK64


def _init_genrand(seed32: int) -> np.ndarray:
    """MT19937 ``init_genrand``: the 624 state words of ``at::mt19937(seed)`` before any twist.

    Formula: ``s[0] = seed mod 2**32``, ``s[j] = 1812433253 * (s[j-1] ^ (s[j-1] >> 30)) + j``
    mod 2**32 (MT19937RNGEngine.h ``init_with_uint32``).
    """
    words = [seed32 & _MASK32]
    for j in range(1, _N):
        prev = words[-1]
        words.append((1812433253 * (prev ^ (prev >> 30)) + j) & _MASK32)
    return np.array(words, dtype=np.uint32)


def _check_shape(shape) -> tuple[int, ...]:
    if isinstance(shape, (numbers.Integral, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(f"shape must be a tuple of ints, got {shape!r}") from None
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, (numbers.Integral, np.integer)) or d < 0:
            raise ValueError(f"shape must be a tuple of non-negative ints, got {shape!r}")
    return tuple(int(d) for d in dims)


from ._fma import fma32, fma64  # noqa: E402  (torch's fused uniform_ rounding)


class TorchCPUGenerator:
    """A mask source that replays ``torch``'s CPU generator (``torch.Generator()`` / the global one).

    ``TorchCPUGenerator(s)`` draws exactly what torch draws after ``torch.manual_seed(s)``,
    call for call, as long as both sides make the same calls in the same order:

    - :meth:`keep_mask` ``(shape, p)`` is ``torch.empty(shape).bernoulli_(1 - p) != 0``, the
      noise of every dropout variant (2 engine outputs per element);
    - :meth:`uniform` ``(a, b, shape, dtype)`` is ``torch.empty(shape, dtype).uniform_(a, b)``
      (``nn.Linear``'s and ``nn.init``'s draws);
    - :meth:`normal` ``(shape, dtype)`` is ``torch.randn(shape, dtype=dtype)``.

    State is interchangeable with torch: :meth:`get_state` returns the bytes
    ``torch.get_rng_state()`` would, and :meth:`set_state` accepts them, so either side can
    pick up where the other stopped.

    ``fused_uniform`` says whether torch's ``uniform_`` kernel rounds ``x * (b - a) + a``
    once (a fused multiply-add: torch's AVX2/AVX512 kernels on x86-64, the usual case) or
    twice (the ``ATEN_CPU_CAPABILITY=default`` kernel). :func:`npdrop.testing.check_torch_replays` tells
    which one a given torch uses.
    """

    #: Torch fills its noise tensor (empty_like of the input: for a sliced input, dense in the
    #: input's stride order) in memory order; npdrop's forward honours this flag (npdrop.layout).
    draws_in_memory_order = True

    def __init__(self, seed: int = TORCH_DEFAULT_SEED, *, fused_uniform: bool = True) -> None:
        self.fused_uniform = bool(fused_uniform)
        self._bitgen = np.random.MT19937(0)  # state replaced by manual_seed below
        self.manual_seed(seed)

    # -- seeding and state ------------------------------------------------------------
    def manual_seed(self, seed: int) -> "TorchCPUGenerator":
        """Reseed like ``torch.Generator.manual_seed(seed)``; returns ``self``.

        The engine is seeded with ``init_genrand(seed mod 2**32)``; :meth:`initial_seed`
        keeps the full 64-bit value (negative seeds wrap to ``seed + 2**64``). Clears the
        cached normal samples, as torch does.
        """
        seed64 = _seed_to_uint64(seed)
        self._initial_seed = seed64
        self._set_engine(_init_genrand(seed64 & _MASK32), pos=_N)
        # torch's fresh engine reports next = 0 (with left = 1) until its first draw.
        self._stale_next: Optional[int] = 0
        self._double_normal: Optional[float] = None
        self._float_normal: Optional[np.float32] = None
        return self

    def initial_seed(self) -> int:
        """The seed last given to :meth:`manual_seed` (or loaded by :meth:`set_state`), as a uint64."""
        return self._initial_seed

    def _set_engine(self, key: np.ndarray, pos: int) -> None:
        self._bitgen.state = {"bit_generator": "MT19937", "state": {"key": key, "pos": int(pos)}}

    def get_state(self) -> np.ndarray:
        """The generator state as the 5056 bytes ``torch.get_rng_state()`` returns.

        ``torch.set_rng_state(torch.from_numpy(gen.get_state()))`` makes torch continue
        exactly where this generator stands.

        Mapping: NumPy's MT19937 keeps (key, pos) and twists when pos == 624; torch keeps
        (state, left, next) and twists when --left hits 0. After every twist both return
        word ``pos == next`` next, and torch's left counts down from 624 as pos counts up
        from 1, so ``left = 625 - pos``.
        """
        np_state = self._bitgen.state["state"]
        pos = int(np_state["pos"])
        out = np.zeros((), dtype=_STATE_DTYPE)
        out["the_initial_seed"] = self._initial_seed
        out["left"] = _N + 1 - pos
        out["seeded"] = 1
        out["next"] = pos if self._stale_next is None else self._stale_next
        out["state"] = np.asarray(np_state["key"], dtype=np.uint32).astype(np.uint64)
        if self._double_normal is not None:
            out["normal_is_valid"] = 1
            out["normal_y"] = self._double_normal
        if self._float_normal is not None:
            out["is_next_float_normal_sample_valid"] = 1
            out["next_float_normal_sample"] = self._float_normal
        return np.frombuffer(out.tobytes(), dtype=np.uint8).copy()

    def set_state(self, state) -> None:
        """Load a state produced by ``torch.get_rng_state()`` (or :meth:`get_state`).

        Accepts a uint8 array (a torch ByteTensor converts via ``.numpy()``), ``bytes`` or
        ``bytearray`` of exactly 5056 bytes. Applies torch's ``set_state`` rules: state words
        keep their low 32 bits, ``seeded`` must be non-zero, ``1 <= left <= 624`` and
        ``next <= 624``; the legacy ``normal_x``/``normal_rho`` fields are ignored.
        """
        if isinstance(state, (bytes, bytearray, memoryview)):
            raw = np.frombuffer(bytes(state), dtype=np.uint8)
        else:
            raw = np.asarray(state)
            if raw.dtype != np.uint8:
                raise TypeError(f"RNG state must be a uint8 array (torch.ByteTensor), got dtype {raw.dtype}")
            raw = raw.reshape(-1)
        if raw.size != TORCH_STATE_SIZE:
            raise ValueError(
                f"Expected a CPU generator state of {TORCH_STATE_SIZE} bytes "
                f"(torch.get_rng_state()), got {raw.size}"
            )
        st = np.frombuffer(np.ascontiguousarray(raw).tobytes(), dtype=_STATE_DTYPE)[0]
        left, seeded = int(st["left"]), int(st["seeded"])
        nxt = int(st["next"]) & _MASK32  # torch: static_cast<uint32_t>(next)
        if seeded == 0 or not 1 <= left <= _N or nxt > _N:
            raise ValueError(
                f"Invalid mt19937 state: need seeded != 0, 1 <= left <= {_N} and next <= {_N}; "
                f"got seeded={seeded}, left={left}, next={nxt}"
            )
        if left != 1 and nxt != _N + 1 - left:
            # torch itself only ever produces next == 625 - left (or left == 1 after seeding);
            # any other pairing reads words NumPy's engine cannot position on.
            raise ValueError(
                f"Unsupported mt19937 state: left={left} requires next={_N + 1 - left}, got next={nxt}"
            )
        key = (st["state"] & np.uint64(_MASK32)).astype(np.uint32)  # torch copies into uint32 words
        self._set_engine(key, pos=_N + 1 - left)
        # With left == 1 the next call twists and resets next, so its value is inert but kept
        # for byte-identical get_state().
        self._stale_next = nxt if left == 1 else None
        self._initial_seed = int(st["the_initial_seed"])
        self._double_normal = float(st["normal_y"]) if int(st["normal_is_valid"]) else None
        self._float_normal = (
            np.float32(st["next_float_normal_sample"]) if int(st["is_next_float_normal_sample_valid"]) else None
        )

    # -- raw engine outputs -----------------------------------------------------------
    def _raw(self, count: int) -> np.ndarray:
        """The next ``count`` 32-bit engine outputs (``at::mt19937::operator()``), as uint64."""
        if count > 0:
            self._stale_next = None
        return self._bitgen.random_raw(count)

    def _uniform53(self, count: int) -> np.ndarray:
        """``count`` doubles ``(random64() & (2**53 - 1)) * 2**-53``, as ``uniform_real<double>(0, 1)``."""
        pairs = self._raw(2 * count).reshape(count, 2)
        k = ((pairs[:, 0] & _M21) << _SHIFT32) | pairs[:, 1]
        return k.astype(np.float64) * _TWO_M53  # k < 2**53: exact

    # -- MaskSource -------------------------------------------------------------------
    def keep_mask(self, shape: tuple[int, ...], p: float) -> np.ndarray:
        """``torch.empty(shape).bernoulli_(1 - p) != 0`` as a bool array; 2 outputs per element.

        Mirrors ATen's scalar ``bernoulli_`` kernel (``bernoulli_distribution<double>``):
        element i is kept iff ``u_i < q`` with ``q = 1 - p`` in double and
        ``u_i = k_i * 2**-53``, ``k_i = random64() & (2**53 - 1)``.

        Integer form. ``k * 2**-53`` is exact (k has at most 53 bits; scaling by a power of
        two only moves the exponent), and so is ``q * 2**53`` (q is a double in [0, 1]).
        So ``u < q  <=>  k < q * 2**53`` as real numbers, and for an integer k and a real x,
        ``k < x  <=>  k < ceil(x)``. ``T = ceil(q * 2**53)`` is an integer <= 2**53, exact
        in a double and in a uint64, hence ``keep = k < T`` bit for bit.
        """
        shape = _check_shape(shape)
        p = float(p)
        if not 0.0 <= p <= 1.0:  # also rejects NaN
            raise ValueError(f"keep_mask expects p in [0, 1], got p={p}")
        n = math.prod(shape)
        out = np.empty(n, dtype=bool)
        threshold = np.uint64(math.ceil((1.0 - p) * 2.0**53))
        buf = np.empty(min(n, _CHUNK), dtype=np.uint64)
        for start in range(0, n, _CHUNK):
            c = min(_CHUNK, n - start)
            pairs = self._raw(2 * c).reshape(c, 2)  # (high word, low word) per element
            k = buf[:c]
            np.bitwise_and(pairs[:, 0], _M21, out=k)
            np.left_shift(k, _SHIFT32, out=k)
            np.bitwise_or(k, pairs[:, 1], out=k)
            np.less(k, threshold, out=out[start:start + c])
        return out.reshape(shape)

    def uniform(self, low: float, high: float, shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
        """``torch.empty(shape, dtype=dtype).uniform_(low, high)``, bit for bit.

        float32 and float16 (computed in float32, then rounded to half): one output r per
        element, ``x = (r & (2**24 - 1)) * 2**-24``, ``v = x * (b - a) + a`` with a, b and
        b - a in float32. float64: ``x`` from ``random64()`` and 53 bits, all in double.
        ``v`` is rounded once (``fused_uniform=True``) or twice; a ``v`` that rounds up to
        ``b`` in the output dtype is replaced by ``a``, as ATen's ``uniform_kernel`` does.
        """
        shape = _check_shape(shape)
        dtype = np.dtype(dtype)
        if dtype not in (np.float16, np.float32, np.float64):
            raise TypeError(f"uniform replays float16, float32 and float64 draws, not {dtype}")
        low, high = float(low), float(high)
        finfo = np.finfo(dtype)
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError(f"uniform expects finite bounds, got low={low}, high={high}")
        if low > high:
            raise ValueError(f"uniform expects low <= high (torch: a [from, to) range), got low={low} > high={high}")
        if not (float(finfo.min) <= low and high <= float(finfo.max)) or high - low > float(finfo.max):
            raise ValueError(f"uniform bounds [{low}, {high}) exceed the range of {dtype}")
        n = math.prod(shape)
        if n == 0:
            return np.empty(shape, dtype=dtype)
        if dtype == np.float64:
            x = self._uniform53(n)
            span = high - low
            if self.fused_uniform:
                v = fma64(x, span, low)
            else:
                v = x * span + low
            v = np.where(v == high, low, v)
        else:
            a, b = np.float32(low), np.float32(high)
            span = np.float32(b - a)  # torch computes (to - from) in float32 too
            x = (self._raw(n) & _M24).astype(np.float32) * _TWO_M24  # exact: 24 bits
            if self.fused_uniform:
                v = fma32(x, span, a)
            else:
                v = x * span + a
            v = v.astype(dtype)
            # ATen compares with static_cast<scalar_t>(to) (double -> float -> half).
            to_s, from_s = np.float32(high).astype(dtype), np.float32(low).astype(dtype)
            v = np.where(v == to_s, from_s, v)
        return v.astype(dtype, copy=False).reshape(shape)

    def normal(self, shape: tuple[int, ...], dtype=np.float64) -> np.ndarray:
        """``torch.randn(shape, dtype=dtype)`` (standard normal), bit for bit where torch is portable.

        - fewer than 16 elements, any float dtype: ATen's ``normal_distribution<double>``
          per element: reuse a cached sample if the generator holds one, else
          ``u1, u2`` from ``random64()``, ``r = sqrt(-2 log1p(-u2))``, ``t = 2 pi u1``,
          return ``r cos t`` and cache ``r sin t``; rounded to ``dtype``.
        - 16 or more float64 elements: ATen's ``normal_fill``: a 53-bit uniform for every
          element, then Box-Muller on each block of 16 (``u1 = 1 - d[j]``, ``u2 = d[j + 8]``,
          ``r = sqrt(-2 log u1)``, ``t = 2 pi u2``, ``d[j] = r cos t``, ``d[j + 8] = r sin t``),
          and if 16 does not divide n, 16 fresh uniforms for the last 16 elements.
          Uses the platform libm through :mod:`math` (as torch's scalar code does), so this
          is slow-ish (a few M elements/s) but exact.
        - 16 or more float32/float16 elements: ``NotImplementedError``: torch runs a SIMD
          polynomial log/sincos whose rounding depends on the CPU kernel. Draw float64 and
          cast on both sides instead (``torch.randn(..., dtype=torch.float64).float()``).
        """
        shape = _check_shape(shape)
        dtype = np.dtype(dtype)
        if dtype not in (np.float16, np.float32, np.float64):
            raise TypeError(f"normal replays float16, float32 and float64 draws, not {dtype}")
        n = math.prod(shape)
        if n == 0:
            return np.empty(shape, dtype=dtype)
        if n < 16:
            values = np.array([self._normal_distribution_double() for _ in range(n)], dtype=np.float64)
        elif dtype == np.float64:
            values = self._normal_fill_double(n)
        else:
            raise NotImplementedError(
                f"normal: torch draws {n} >= 16 {dtype} normals with a vectorised Box-Muller whose "
                "SIMD log/sin/cos rounding depends on the CPU kernel (AVX2, AVX512, default), so it "
                "cannot be replayed portably. Replay float64 draws and cast them, matching "
                "torch.randn(shape, dtype=torch.float64).to(dtype) in torch."
            )
        if dtype == np.float16:
            # c10::Half is built from a float: double -> float -> half, two roundings.
            values = values.astype(np.float32)
        return values.astype(dtype).reshape(shape)

    def _normal_distribution_double(self) -> float:
        """One draw of ``at::normal_distribution<double>(0, 1)``, using and refilling the cache."""
        if self._double_normal is not None:
            cached, self._double_normal = self._double_normal, None
            return cached * 1.0 + 0.0  # transformation::normal(val, mean=0, std=1)
        u1, u2 = self._uniform53(2)
        r = math.sqrt(-2.0 * math.log1p(-float(u2)))
        theta = 2.0 * math.pi * float(u1)
        self._double_normal = r * math.sin(theta)
        return r * math.cos(theta) * 1.0 + 0.0

    def _normal_fill_double(self, n: int) -> np.ndarray:
        """ATen ``normal_fill<double>`` for ``n >= 16`` contiguous elements (mean 0, std 1)."""
        data = self._uniform53(n)
        full = n - n % 16
        if full:
            data[:full] = _box_muller_blocks(data[:full])
        if n % 16:
            # torch redraws the last 16 positions (overlapping already transformed ones).
            data[n - 16:] = _box_muller_blocks(self._uniform53(16))
        return data

    def __repr__(self) -> str:
        return (
            f"TorchCPUGenerator(initial_seed={self._initial_seed}, "
            f"fused_uniform={self.fused_uniform})"
        )


def _box_muller_blocks(data: np.ndarray) -> np.ndarray:
    """ATen's scalar ``NormalFill16<double>`` applied to consecutive blocks of 16 uniforms.

    Per block and j < 8: ``u1 = 1 - d[j]``, ``u2 = d[j + 8]``, ``r = sqrt(-2 * log(u1))``,
    ``t = (2 pi) * u2``, ``d[j] = fma(r cos t, 1, 0)``, ``d[j + 8] = fma(r sin t, 1, 0)``.
    log/cos/sin go through :mod:`math`, i.e. the same libm torch calls; NumPy's own SIMD
    versions may differ in the last bit.
    """
    blocks = data.reshape(-1, 2, 8)
    u1 = 1.0 - blocks[:, 0, :].ravel()
    u2 = blocks[:, 1, :].ravel()
    logs = np.fromiter(map(math.log, u1.tolist()), dtype=np.float64, count=u1.size)
    r = np.sqrt(-2.0 * logs)
    theta = (2.0 * math.pi) * u2
    cos_t = np.fromiter(map(math.cos, theta.tolist()), dtype=np.float64, count=theta.size)
    sin_t = np.fromiter(map(math.sin, theta.tolist()), dtype=np.float64, count=theta.size)
    out = np.empty_like(blocks)
    # fma(v, std=1, mean=0) == v + 0.0 exactly (v * 1 is exact); + 0.0 turns -0.0 into +0.0 as fma does.
    out[:, 0, :] = (r * cos_t + 0.0).reshape(-1, 8)
    out[:, 1, :] = (r * sin_t + 0.0).reshape(-1, 8)
    return out.reshape(-1)

