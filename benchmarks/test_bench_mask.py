"""The mask-generation hot path against its peers, all in one pytest-benchmark run.

For n in {1e4, 1e6, 1e7} and p in {0.1, 0.5} (float32), four kinds of benchmark, grouped
as ``"<kind> n=<n> p=<p>"``:

- ``mask``: npdrop's ``FastSource.keep_mask`` (bool) and ``packed_keep_mask`` (packed) against the
  naive ``rng.random(n) < 1 - p`` and torch's ``torch.empty(n).bernoulli_(1 - p)``;
- ``forward``: ``npdrop.functional.dropout_forward`` (also into a reused ``out=`` buffer, and
  in place) against the naive ``x * m / (1 - p)`` (mask drawn inside) and
  ``torch.nn.functional.dropout``, plus three references that do no masking at all:
  ``memory bound``, ``np.multiply(x, s, out=o)`` into a reused buffer + writing n/8 bytes, the
  traffic of a forward into a reused buffer (read x, write a warm buffer, write the packed
  mask; in place moves the same bytes); ``memory bound fresh``, the same into a newly
  allocated array, the traffic of a forward that returns a new array (the kernel zeroes its
  fresh pages on first touch); ``floor``, that plus drawing the random bits npdrop draws (one
  byte per element, one bit at p = 1/2): what is left of the forward if masking, ties,
  packing and the bool-to-float cast cost nothing;
- ``backward``: ``dropout_backward`` (also into a reused ``out=``) against ``g * m / (1 - p)``
  and torch's autograd;
- ``forward+backward``: both.

npdrop and torch run on 1 and 2 threads (``set_num_threads``, restored after). One test
function covers every case, ordered so that the members of a group run one after the
other: on a shared machine, load drifting during the run then biases the ratios less.
Each benchmark records ``extra_info`` (kind, impl, threads, n, p, bytes per element kept
for backward); ``benchmarks/plot.py`` turns the JSON into the README tables and the plot.
"""
from __future__ import annotations

import numpy as np
import pytest

from npdrop.fastmask import FastSource
from npdrop.functional import dropout_backward, dropout_forward
from plot import BOUNDS

SIZES = [10_000, 1_000_000, 10_000_000]
PS = [0.1, 0.5]
#: Rounds per benchmark, by n: enough that a median survives a shared machine's noise.
ROUNDS = {10_000: 300, 1_000_000: 60, 10_000_000: 15}


def _torch_kept(torch, y, n):
    """Bytes per element torch's autograd graph holds for dropout's backward (its saved noise)."""
    saved = [getattr(y.grad_fn, a) for a in dir(y.grad_fn) if a.startswith("_saved_")]
    return sum(t.numel() * t.element_size() for t in saved if isinstance(t, torch.Tensor)) / n


# Each maker returns (the function to time, bytes per element kept for backward or None).

def mask_npdrop(x, g, n, p, torch):
    src = FastSource(0)
    return (lambda: src.keep_mask((n,), p)), None


def mask_npdrop_packed(x, g, n, p, torch):
    src = FastSource(0)
    return (lambda: src.packed_keep_mask((n,), p).fill()), None  # a large mask is drawn lazily: force it


def mask_naive(x, g, n, p, torch):
    rng = np.random.default_rng(0)
    return (lambda: rng.random(n) < 1 - p), None


def mask_torch(x, g, n, p, torch):
    return (lambda: torch.empty(n).bernoulli_(1 - p)), None


def forward_npdrop(x, g, n, p, torch):
    src = FastSource(0)
    return (lambda: dropout_forward(x, p, True, rng=src)), dropout_forward(x, p, rng=src)[1].noise.nbytes / n


def forward_npdrop_out(x, g, n, p, torch):
    buf, src = np.empty_like(x), FastSource(0)
    return (lambda: dropout_forward(x, p, True, rng=src, out=buf)), 0.125


def forward_npdrop_inplace(x, g, n, p, torch):
    # Repeated in place, x turns into zeros, infs and nans: no denormals, so no slow path.
    buf, src = x.copy(), FastSource(0)
    return (lambda: dropout_forward(buf, p, True, True, rng=src)), 0.125


def forward_naive(x, g, n, p, torch):
    rng, keep = np.random.default_rng(0), 1 - p
    return (lambda: x * (rng.random(n) < keep) / keep), 1.0


def forward_memory_bound(x, g, n, p, torch):
    out, bits, scale = np.empty_like(x), np.empty((n + 7) // 8, dtype=np.uint8), np.float32(1 / (1 - p))

    def traffic():  # a forward into a reused buffer: read x, write the warm buffer, write n/8 bytes
        np.multiply(x, scale, out=out)
        bits.fill(1)

    return traffic, None


def forward_memory_bound_fresh(x, g, n, p, torch):
    bits, scale = np.empty((n + 7) // 8, dtype=np.uint8), np.float32(1 / (1 - p))

    def traffic():  # what an allocating forward must move: read x, write a new array, n/8 bytes
        bits.fill(1)
        return np.multiply(x, scale)  # the kernel zeroes the new pages first: part of the cost

    return traffic, None


def forward_floor(x, g, n, p, torch):
    bitgen, bits, scale = np.random.SFC64(0), np.empty((n + 7) // 8, dtype=np.uint8), np.float32(1 / (1 - p))
    words = (n + 63) // 64 if p == 0.5 else (n + 7) // 8  # npdrop's draw: 1 bit at p = 1/2, else 1 byte

    def least():  # the random bits npdrop draws, plus the fresh-output traffic; no masking at all
        bitgen.random_raw(words)
        bits.fill(1)
        return np.multiply(x, scale)

    return least, None


def forward_torch(x, g, n, p, torch):
    xt = torch.from_numpy(x)
    kept = _torch_kept(torch, torch.nn.functional.dropout(xt.clone().requires_grad_(), p), n)
    return (lambda: torch.nn.functional.dropout(xt, p, True)), kept


def backward_npdrop(x, g, n, p, torch):
    _, saved = dropout_forward(x, p, rng=FastSource(0))
    return (lambda: dropout_backward(g, saved)), saved.noise.nbytes / n


def backward_npdrop_out(x, g, n, p, torch):
    _, saved = dropout_forward(x, p, rng=FastSource(0))
    buf = np.empty_like(g)
    return (lambda: dropout_backward(g, saved, out=buf)), saved.noise.nbytes / n


def backward_naive(x, g, n, p, torch):
    keep = 1 - p
    mask = np.random.default_rng(0).random(n) < keep
    return (lambda: g * mask / keep), 1.0


def backward_torch(x, g, n, p, torch):
    xr, gt = torch.from_numpy(x).clone().requires_grad_(), torch.from_numpy(g)
    y = torch.nn.functional.dropout(xr, p)
    return (lambda: torch.autograd.grad(y, xr, gt, retain_graph=True)), _torch_kept(torch, y, n)


def forward_backward_npdrop(x, g, n, p, torch):
    src = FastSource(0)

    def step():
        _, saved = dropout_forward(x, p, rng=src)
        return dropout_backward(g, saved)

    return step, 0.125


def forward_backward_naive(x, g, n, p, torch):
    rng, keep = np.random.default_rng(0), 1 - p

    def step():
        mask = rng.random(n) < keep
        return x * mask / keep, g * mask / keep

    return step, 1.0


def forward_backward_torch(x, g, n, p, torch):
    xr, gt = torch.from_numpy(x).clone().requires_grad_(), torch.from_numpy(g)
    kept = _torch_kept(torch, torch.nn.functional.dropout(xr, p), n)
    return (lambda: torch.autograd.grad(torch.nn.functional.dropout(xr, p), xr, gt)), kept


#: Single-threaded references, labelled without a thread count: the naive dropout and the
#: forward's bounds (see the module docstring).
REFERENCES = ("naive",) + BOUNDS
#: kind -> [(impl, maker, thread counts)]; "npdrop*" and "torch" honour the thread count.
IMPLS = {
    "mask": [("npdrop", mask_npdrop, [1, 2]), ("npdrop packed", mask_npdrop_packed, [1]),
             ("naive", mask_naive, [1]), ("torch", mask_torch, [1, 2])],
    "forward": [("npdrop", forward_npdrop, [1, 2]), ("npdrop out", forward_npdrop_out, [1]),
                ("npdrop inplace", forward_npdrop_inplace, [1]),
                ("naive", forward_naive, [1]), ("memory bound", forward_memory_bound, [1]),
                ("memory bound fresh", forward_memory_bound_fresh, [1]), ("floor", forward_floor, [1]),
                ("torch", forward_torch, [1, 2])],
    "backward": [("npdrop", backward_npdrop, [1, 2]), ("npdrop out", backward_npdrop_out, [1]),
                 ("naive", backward_naive, [1]),
                 ("torch", backward_torch, [1, 2])],
    "forward+backward": [("npdrop", forward_backward_npdrop, [1, 2]), ("naive", forward_backward_naive, [1]),
                         ("torch", forward_backward_torch, [1, 2])],
}
CASES = [pytest.param(kind, n, p, impl, k, id=f"{kind}-{n:.0e}-{p}-{impl}-{k}t".replace("+0", "").replace(" ", "_"))
         for n in SIZES for p in PS for kind in IMPLS for impl, _, counts in IMPLS[kind] for k in counts]


@pytest.mark.parametrize("kind,n,p,impl,k", CASES)
def test_bench(benchmark, inputs, npdrop_threads, torch_threads, kind, n, p, impl, k):
    torch = pytest.importorskip("torch") if impl == "torch" else None
    maker = {name: m for name, m, _ in IMPLS[kind]}[impl]
    x, g = inputs(n)
    fn, kept = maker(x, g, n, p, torch)
    benchmark.group = f"{kind} n={n:.0e} p={p}".replace("+0", "")
    label = impl if impl in REFERENCES else f"{impl} {k}t"
    benchmark.extra_info.update(kind=kind, impl=impl, label=label, threads=k, n=n, p=p, dtype="float32")
    if kept is not None:
        benchmark.extra_info["bytes_kept_per_element"] = kept
    threads = torch_threads(torch, k) if torch is not None else npdrop_threads(k)
    with threads:
        benchmark.pedantic(fn, rounds=ROUNDS[n], iterations=1, warmup_rounds=1)
