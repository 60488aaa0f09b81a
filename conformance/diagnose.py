"""Naming the mistake: failing properties matched against a catalogue of known dropout faults.

Each :class:`Fault` has a stable ``id``, the properties its failures show up in, and a
``test`` over the figures :mod:`conformance.evidence` recorded for one variant. The test
returns the evidence as a sentence of measured figures, or None: a fault is named only
when its fingerprint was measured, never from names, and only where one of its
properties failed. A correct implementation therefore gets no diagnosis, and a failure
that matches no fingerprint gets none either.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from .evidence import Records

from .stats import binomial_bounds
from .words import at_p, p_text


@dataclass(frozen=True)
class Findings:
    """What the run found: what it resolved about the implementation (not the option strings:
    a parameter named ``keep_prob`` means keep without ``--p-means``), and the evidence it recorded."""

    p_means: str = "drop"     #: "keep" when p is handed to the implementation as 1 - p (as resolved)
    form: str = "inverted"    #: "original" when the harness already expects the original form
    records: Records = field(default_factory=Records)   #: what the tests measured


def _dtype(name: str) -> np.dtype:
    """The dtype a record names: bfloat16 is known to numpy once ml_dtypes is imported (the
    records name it only where the tests ran with ml_dtypes), so it is imported then, not
    always: its import costs more than the rest of this module's."""
    if name == "bfloat16":
        import ml_dtypes  # noqa: F401
    return np.dtype(name)


def _eps(dtype: str) -> float:
    return float(np.finfo(_dtype(dtype)).eps)


def _fmt(x: float) -> str:
    return f"{x:.4g}"


# -- the fingerprints ----------------------------------------------------------------------

def _single_ratio(rows: list) -> Optional[dict]:
    """p -> the one ratio found at that p over ``rows`` (records with ``ratio``, ``spread``,
    ``n``, ``dtype``), each within 8 epsilons of its dtype, as the most precise dtype gave
    it; None if a call had no single ratio, calls at one p disagree, or nothing was measured."""
    found = {}
    for r in rows:
        if not r["n"]:
            continue
        tol = 8 * _eps(r["dtype"])
        if r["spread"] > tol:
            return None
        seen = found.setdefault(r["p"], (r["ratio"], tol))
        if abs(seen[0] - r["ratio"]) > max(seen[1], tol) * abs(seen[0]):
            return None
        if tol < seen[1]:
            found[r["p"]] = (r["ratio"], tol)
    return {p: value for p, (value, _) in sorted(found.items())} or None


def _ratios(kind: str, variant: str, findings) -> Optional[dict]:
    """p -> the ratio of the output (or gradient) to torch's under the same mask, 0 < p < 1."""
    return _single_ratio([r for r in findings.records(kind, variant) if 0 < r["p"] < 1 and not _near_one(r["p"])])


def _scaled_by(kind: str, variant: str, findings, target: Callable[[float], float], informative=lambda p: True):
    """The ratios as text if every one equals ``target(p)`` and at least one p is informative."""
    ratios = _ratios(kind, variant, findings)
    if not ratios or not any(informative(p) for p in ratios):
        return None
    if any(abs(r - target(p)) > 1e-2 * abs(target(p)) for p, r in ratios.items()):
        return None
    return ", ".join(f"{_fmt(r)} {at_p(p)}" for p, r in ratios.items())


def _eval_ratio(variant: str, findings) -> Optional[tuple]:
    """(p, ratio) of the evaluation forward's output to its input, if one ratio was found."""
    ratios = _single_ratio(findings.records("eval", variant))
    return None if ratios is None or len(ratios) != 1 else next(iter(ratios.items()))


def _fits(count: int, cells: int, q: float) -> bool:
    lo, hi = binomial_bounds(cells, q)
    return lo <= count <= hi


def _kept_like_keep_probability(variant: str, findings) -> Optional[str]:
    rows = [r for r in findings.records("kept", variant) if r["p"] != 0.5]
    if not rows or not all(_fits(r["count"], r["cells"], r["p"]) for r in rows):
        return None
    if all(_fits(r["count"], r["cells"], 1 - r["p"]) for r in rows):
        return None
    return ", ".join(f"{r['count'] / r['cells']:.6f} {at_p(r['p'])} ({r['cells']} cells)" for r in rows)


def no_scale(variant, findings):
    train = _scaled_by("forward", variant, findings, lambda p: 1 - p)
    if train is None or never_drops(variant, findings):
        return None   # an output equal to its input is never-drops' fingerprint, not this one
    if any(r.get("missing") for r in findings.records("eval", variant)):
        return f"training output / torch's under the same mask = {train} (1 - p each time); it has no evaluation mode"
    at_eval = _eval_ratio(variant, findings)
    if at_eval is None or abs(at_eval[1] - 1) > 1e-3:
        return None
    return (f"training output / torch's under the same mask = {train} (1 - p each time); "
            f"evaluation returns the input (ratio 1 {at_p(at_eval[0])})")


def original_form(variant, findings):
    if findings.form == "original":
        return None
    train = _scaled_by("forward", variant, findings, lambda p: 1 - p)
    at_eval = _eval_ratio(variant, findings)
    if train is None or at_eval is None or abs(at_eval[1] - (1 - at_eval[0])) > 1e-3:
        return None
    return (f"training output / torch's under the same mask = {train} (1 - p each time); "
            f"evaluation multiplies by {_fmt(at_eval[1])} {at_p(at_eval[0])} (1 - p)")


def scale_by_p(variant, findings):
    train = _scaled_by("forward", variant, findings, lambda p: (1 - p) / p, informative=lambda p: p != 0.5)
    if train is None or _kept_like_keep_probability(variant, findings):
        return None
    return f"training output / torch's under the same mask = {train}: (1 - p)/p each time, i.e. kept units times 1/p"


def backward_no_scale(variant, findings):
    if _scaled_by("forward", variant, findings, lambda p: 1.0) is None:
        return None
    back = _scaled_by("backward", variant, findings, lambda p: 1 - p)
    return None if back is None else (f"input gradient / torch's under the same mask = {back} (1 - p each "
                                      "time), while the forward matches")


def keep_prob(variant, findings):
    kept = _kept_like_keep_probability(variant, findings)
    return None if kept is None else f"kept fraction {kept}: p, not 1 - p"


def _draws_independent(variant: str, findings) -> bool:
    """No measured agreement between masks that should be independent (samples of a batch,
    consecutive calls) falls outside its binomial bound: the kept counts are binomial."""
    return all(_fits(r["agree"], r["cells"], r["p"] ** 2 + (1 - r["p"]) ** 2)
               for kind in ("batch", "call") for r in findings.records(kind, variant))


def quantised_threshold(variant, findings):
    if not _draws_independent(variant, findings):
        return None   # shared or repeated masks make the kept count overdispersed, not biased
    found = []
    for r in findings.records("kept", variant):
        q, count, cells = 1 - r["p"], r["count"], r["cells"]
        if _fits(count, cells, q):
            continue
        steps = [j / 256 for j in {math.floor(256 * q), math.ceil(256 * q)} if 0 < j < 256 and j / 256 != q]
        near = [s for s in steps if _fits(count, cells, s)]
        if not near:
            return None
        found.append(f"kept {count} of {cells} cells = {count / cells:.6f} {at_p(r['p'])}: fits "
                     f"{round(near[0] * 256)}/256 = {near[0]:.6f}, not {_fmt(q)}")
    return "; ".join(found) or None


def dtype_upcast(variant, findings):
    seen = {}
    for kind in ("dtype", "forward", "backward"):
        for r in findings.records(kind, variant):
            given, got = _dtype(r["dtype"]), _dtype(r["out_dtype"])
            if given.kind == got.kind == "f" and got.itemsize > given.itemsize:
                seen.setdefault((given.name, got.name), set()).add(r.get("what", f"training {kind}"
                                                                       if kind == "forward" else kind))
    if not seen:
        return None
    return "; ".join(f"{a} in -> {b} out ({', '.join(sorted(w))})" for (a, b), w in sorted(seen.items()))


_DIVISION = ("ZeroDivisionError", "FloatingPointError")


def _near_one(p: float) -> bool:
    """p within 1e-4 of 1 (below it): the ``float16-near-one`` edge's p."""
    return 1 - 1e-4 < p < 1


def _not_near_one(rows: list) -> list:
    """Rows at p outside (1 - 1e-6, 1): NaN at p = 1 - 1e-10 in float16 is a scale overflowing
    the dtype (1e10 > 65504), a different fault from dividing by zero at p = 1."""
    return [r for r in rows if not 1 - 1e-6 < r["p"] < 1]


def nan_at_p1(variant, findings):
    rows = _not_near_one(findings.records("forward", variant))
    raised = _not_near_one([r for r in findings.records("raised", variant) if r["type"] in _DIVISION])
    at = sorted({r["p"] for r in rows if r["nan"]} | {r["p"] for r in raised})
    ends = {1.0: p_text(1.0)}
    if _kept_like_keep_probability(variant, findings):
        ends[0.0] = f"{p_text(0.0)}, where this implementation, reading p the other way round, drops everything"
    if len(at) != 1 or at[0] not in ends:
        return None
    nan = sum(r["nan"] for r in rows if r["p"] == at[0])
    size = sum(r["size"] for r in rows if r["p"] == at[0])
    others = sum(1 for r in rows if r["p"] != at[0] and r["size"])
    found = [f"NaN in {nan} of {size} outputs for finite input"] if nan else []
    found += [f"{r['type']}: {r['message']}" for r in raised[:1]]
    text = f"{' and '.join(found)} at {ends[at[0]]}; none in {others} forwards at other p"
    # where it shows: the tests at the p where everything is dropped, in the implementation's terms
    # (the forward and backward matrices' p = 1 cases are p-one's; their p = 0 ones are theirs)
    return text, ("p-one",) if at[0] == 1.0 else ("p-zero", "forward", "backward")


def scale_overflows_float16(variant, findings):
    """NaN for finite input only in float16 at p within 1e-4 of 1, none at any ordinary p."""
    rows = [r for kind in ("forward", "backward") for r in findings.records(kind, variant)]
    edge = [r for r in rows if r["dtype"] == "float16" and _near_one(r["p"]) and r["nan"]]
    ordinary = [r for r in rows if 0 < r["p"] < 1 and not _near_one(r["p"])]
    if not edge or any(r["nan"] for r in ordinary):
        return None
    nan, size = sum(r["nan"] for r in edge), sum(r["size"] for r in edge)
    ps = ", ".join(p_text(p) for p in sorted({r["p"] for r in edge}))
    return (f"NaN in {nan} of {size} float16 results for finite input at {ps}; none in {len(ordinary)} "
            f"results at ordinary p")


def _eval_drops(variant, findings) -> Optional[dict]:
    """An evaluation forward whose output was 0 at some nonzero inputs and x/(1-p) at all the others."""
    for r in findings.records("eval", variant):
        if r.get("zeros") and r.get("scaled") and r["zeros"] + r["scaled"] == r.get("finite", -1):
            return r
    return None


def eval_still_drops(variant, findings):
    r = _eval_drops(variant, findings)
    if r is None or never_drops(variant, findings):
        return None   # dropping in evaluation only: the flag read the wrong way round, never-drops' fingerprint
    return (f"an evaluation forward {at_p(r['p'])} gave 0 at {r['zeros']} of {r['finite']} nonzero inputs "
            f"and x/(1-p) at the other {r['scaled']}: training-mode dropout")


def eval_backward(variant, findings):
    rows = findings.records("eval-backward", variant)
    raised = [r["raised"] for r in rows if "raised" in r]
    if raised:
        return f"backward after an evaluation forward raised {raised[0]}"
    stale = [r for r in rows if r.get("stale")]
    if not stale:
        return None
    r = stale[0]
    return (f"after train -> eval, backward(grad) was zero at exactly the {r['zeros']} of {r['size']} units "
            f"the last training forward dropped ({len(stale)} of {len(rows)} such calls)")


def fresh_mask_backward(variant, findings):
    rows = findings.records("pattern", variant)
    if not rows:
        return None
    for r in rows:
        p, cells = r["p"], r["cells"]
        if r["agree"] == cells or not _fits(r["through"], cells, 1 - p) \
                or not _fits(r["agree"], cells, p * p + (1 - p) ** 2):
            return None
    return "; ".join(f"{at_p(r['p'])} backward(ones) passed {r['through']} of {r['cells']} cells (1 - p) but agreed "
                     f"with the forward's mask on {r['agree'] / r['cells']:.3f} of them, as an independent "
                     f"mask does (p^2 + (1-p)^2 = {r['p'] ** 2 + (1 - r['p']) ** 2:.3f})" for r in rows)


def _identical(kind: str, what: str):
    def test(variant, findings):
        # masks that drop nothing agree trivially: that is never-drops' fingerprint, not this one
        rows = [r for r in findings.records(kind, variant)
                if r["agree"] == r["cells"] and r["cells"] >= 64 and r.get("dropped", 1) > 0]
        return None if not rows else f"{what} agreed on all {rows[0]['cells']} cells ({p_text(rows[0]['p'])})"
    return test


def never_drops(variant, findings):
    """Every training draw at 0 < p < 1 kept every cell (at least 64 of them)."""
    rows = [r for r in findings.records("kept", variant) if 0 < r["p"] < 1]
    if not rows or any(r["count"] != r["cells"] or r["cells"] < 64 for r in rows):
        return None
    return "; ".join(f"kept {r['count']} of {r['cells']} cells {at_p(r['p'])}" for r in rows[:3])


def where_select(variant, findings):
    """Every non-finite input that torch turned into NaN (dropped: inf * 0) and this code did not, came out as 0.
    Only 0 < p < 1 counts: at p = 1 returning zeros (``zeros_like(x)``) selects nothing."""
    rows = [r for r in findings.records("nonfinite", variant) if r["p"] < 1.0]
    lost = sum(r["lost"] for r in rows)
    if not lost or any(r["zero"] != r["lost"] for r in rows):
        return None
    return f"{lost} dropped inf/NaN inputs gave 0 where torch gives NaN ({len(rows)} forwards)"


def _inverse_keep(findings) -> str:
    """The inverted scale in the run's words."""
    return "1/keep_p" if findings.p_means == "keep" else "1/(1-p)"


# -- the catalogue -------------------------------------------------------------------------

@dataclass(frozen=True)
class Fault:
    id: str
    properties: tuple          #: where its failures show up, the most telling first
    test: Callable             #: (variant, Findings) -> evidence text (or text and the properties
                               #: it explains, a subset of ``properties``), or None
    cause: str
    fix: Callable              #: Findings -> what to change or which option to try


_VALUES = ("forward", "backward", "nonfinite", "grad-at-zero-input")

CATALOGUE = (
    Fault("no-scale", _VALUES, no_scale,
          "kept units are never scaled by 1/(1-p): the training output has mean (1-p) x, evaluation x",
          lambda findings: f"multiply kept units (and their gradient) by {_inverse_keep(findings)} in training: "
                           "inverted dropout, torch's form"),
    Fault("original-form", _VALUES + ("eval-identity", "mode-switch"), original_form,
          "this is the original dropout (train x * mask, evaluation x * (1-p)), not torch's inverted form",
          lambda _: "run with --form original to check it as such, or scale by 1/(1-p) in training and "
                    "make evaluation the identity"),
    Fault("scale-by-p", _VALUES, scale_by_p,
          "kept units are scaled by 1/p instead of 1/(1-p) (invisible at p = 0.5)",
          lambda findings: f"divide by {'keep_p' if findings.p_means == 'keep' else '1 - p'}, the keep probability"),
    Fault("backward-no-scale", ("backward", "grad-at-zero-input"), backward_no_scale,
          "backward multiplies by the 0/1 mask but not by the 1/(1-p) scale the forward used",
          lambda findings: f"multiply the gradient by the forward's scaled mask (mask * {_inverse_keep(findings)})"),
    Fault("keep-prob", ("keep-rate", "forward", "backward", "p-zero", "p-one", "nonfinite", "grad-at-zero-input"),
          keep_prob,
          "p is read as the probability of keeping a unit; torch's p is the probability of dropping it",
          lambda findings: ("your p is the drop probability after all (the harness read it as the keep "
                            "probability): run with --p-means drop" if findings.p_means == "keep"
                            else "run with --p-means keep if that is the convention you want, or keep with "
                                 "probability 1 - p")),
    Fault("quantised-threshold", ("keep-rate",), quantised_threshold,
          "the keep probability is quantised to 1/256 steps: a threshold compared with random bytes",
          lambda _: "compare uniform floats with 1 - p, or draw more bits where the byte equals the threshold byte"),
    Fault("dtype-upcast", ("dtype", "forward", "backward", "nonfinite", "p-one", "grad-at-zero-input"), dtype_upcast,
          "a wider mask promotes the result: a float64 mask (np.random.binomial, rand(...) / p, integer noise) "
          "or a float32 one with float16 input; or a dtype policy casts the input (Keras' layer(x) computes "
          "in float32)",
          lambda _: "make the scaled mask an array of the input's dtype before multiplying, `np.asarray(mask / "
                    "keep, dtype=x.dtype)` (np.asarray also takes the Python float that np.random.rand() "
                    "returns for 0-d input)"),
    Fault("nan-at-p1", ("p-one", "forward", "backward", "p-zero"), nan_at_p1,
          "the scale is computed when every unit is dropped (1/(1-p) at p = 1, or 1/keep at keep 0): "
          "0 * inf or 0/0 gives NaN (or a Python float division raises)",
          lambda _: "special-case dropping everything: return x * 0 and a zero gradient, as torch does at p = 1"),
    Fault("scale-overflows-float16", ("float16-near-one",), scale_overflows_float16,
          "in float16 at p near 1 the scale leaves float16's range: 1/(1-p) overflows to inf and a dropped unit "
          "is 0 * inf = NaN (NumPy 2 takes a Python-float scale in the array's dtype), or 1 - p rounds to 0 "
          "and 0/0 = NaN; torch computes the scaled mask in float32 and rounds it once, so a dropped unit is 0",
          lambda _: "scale the 0/1 mask at full precision and round it to the input's dtype once (NumPy: "
                    "`np.asarray(mask / keep, dtype=x.dtype)`; torch: `(mask.float() / keep).to(x.dtype)`), "
                    "then multiply x by it; or leave it: only a float16 network dropping nearly every unit "
                    "meets it"),
    Fault("eval-still-drops", ("eval-identity", "mode-switch"), eval_still_drops,
          "evaluation still drops: the mode never reaches the forward (`if not self.train:` tests a bound "
          "method, always true; `F.dropout(x, self.p)` without `training=self.training`; a flag set on "
          "another object)",
          lambda _: "pass the mode to the forward (`F.dropout(x, self.p, training=self.training)`; test the "
                    "flag `self.training`, not the method `self.train`) and return the input unchanged in "
                    "evaluation"),
    Fault("eval-backward", ("mode-switch", "eval-identity"), eval_backward,
          "backward ignores the mode: after an evaluation forward it reuses the last training mask, or fails",
          lambda _: "clear the saved mask in an evaluation forward and return the gradient unchanged"),
    Fault("fresh-mask-backward", ("backward-reuses-mask", "backward", "mode-switch", "instance-isolation",
                                  "grad-at-zero-input"), fresh_mask_backward,
          "backward draws a new mask instead of reusing the forward's",
          lambda _: "save the forward's mask (and scale) and multiply the gradient by it"),
    Fault("where-select", ("nonfinite",), where_select,
          "dropped units are selected away (np.where(keep, x / (1-p), 0), as Keras and Flax do), so a dropped "
          "inf or NaN gives 0; torch multiplies by the mask, and inf * 0 is NaN. Harmless for finite training data",
          lambda _: "nothing, unless NaN must propagate as in torch: then multiply x by the scaled mask instead "
                    "of selecting"),
    Fault("batch-shared-mask", ("batch-independence",), _identical("batch", "samples 2i and 2i+1 of one batch"),
          "one mask is drawn for a single sample and shared by every sample of the batch",
          lambda _: "draw the mask with the input's full shape, batch axis included"),
    Fault("never-drops", ("keep-rate", "call-independence", "batch-independence", "eval-identity", "mode-switch"),
          never_drops,
          "the training forward drops nothing: the mode flag is read the wrong way round, or training mode is never "
          "reached",
          lambda _: "check how the mode reaches forward (deterministic=True means evaluation; training=True, "
                    "mode='train' mean training)"),
    Fault("fixed-mask", ("call-independence",), _identical("call", "two consecutive calls' masks"),
          "every call uses the same mask: it is cached, or the generator is re-seeded in forward",
          lambda _: "draw a new mask on every call; seed once, at construction"),
)


#: under a keep-probability p the catalogue's formulas still use torch's p: it says so
_KEEP_NOTE = " (p in formulas is torch's drop probability: 1 - your keep_p)"


def diagnose(failed: dict, findings: Findings = Findings()) -> list:
    """Diagnoses for the failed cells ``failed`` (variant -> failed properties, in order).

    One entry per fault and variant whose fingerprint was measured and one of whose
    properties failed: ``id``, ``property`` (the most telling one), ``properties`` (every
    failed one it explains), ``variant``, ``cause``, ``evidence``, ``fix``.
    """
    found = []
    for variant, props in failed.items():
        for fault in CATALOGUE:
            hit = [p for p in props if p in fault.properties]
            if not hit:
                continue
            measured = fault.test(variant, findings)
            if isinstance(measured, tuple):
                measured, where = measured
                hit = [p for p in hit if p in where]
            if measured and hit:
                telling = next(p for p in fault.properties if p in hit)
                cause = fault.cause + (_KEEP_NOTE if findings.p_means == "keep" else "")
                found.append({"id": fault.id, "property": telling, "properties": hit, "variant": variant,
                              "cause": cause, "evidence": measured, "fix": fault.fix(findings)})
    return found


def lines(diagnosis: dict) -> list:
    """The terminal summary's lines for one diagnosis."""
    d = diagnosis
    return [f"likely cause: {d['id']} [{d['variant']}: {', '.join(d['properties'])}]: {d['cause']}",
            f"  evidence: {d['evidence']}", f"  try: {d['fix']}"]
