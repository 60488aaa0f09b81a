"""Naming the first differing layer, and why: each layer checked alone, then the fault matched.

A layer is a culprit when torch's module, run on the user's own recorded input, mask and
upstream gradient, disagrees with what the layer did (:func:`.twin.local`): errors upstream
cannot pile into it. The first culprit in the forward order comes first, then the backward
order; the loss is one when its value or its gradient at the logits disagrees with torch's on
the user's own network output. A dropout's difference is matched against measured
fingerprints, the layer check's catalogue (:mod:`conformance.diagnose`) where it has the
fault: no scale, original form, 1/p scale, fresh mask in backward, backward without the scale,
and two of a network's own: a gradient passed through unmasked, a scale applied after the
wrapped layer (its bias included). A layer that differs alone while everything end to end
agrees is reported as harmless in context.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .twin import local

OWN = {
    "unmasked-gradient": ("the backward passes the gradient through without the forward's mask",
                          "multiply the gradient by the forward's scaled mask (mask / (1 - p))"),
    "wrapper-unmasked-gradient": ("the dropout wrapper's backward returns the wrapped layer's input gradient "
                                  "without the mask (and scale) its forward applied to the input",
                                  "multiply the wrapped layer's input gradient by mask / (1 - p)"),
    "scale-after-layer": ("the 1/(1-p) scale multiplies the wrapped layer's output, bias included, instead of "
                          "its input: the bias is scaled too, and the backward misses the scale",
                          "scale the input: layer.forward(x * mask / (1 - p)), and the input gradient by the same"),
    "loss-not-mean": ("the loss gradient is not divided by the batch size, while the loss value is the mean",
                      "divide the gradient at the logits by the batch size N"),
    "loss-gradient": ("the loss gradient at the logits differs from torch's for the same output and targets",
                      "check the loss's backward (softmax - one_hot(y)) / N for cross-entropy"),
    "loss-value": ("the loss value differs from torch's for the same output and targets", "check the loss formula"),
    "layer-forward": ("its output differs from torch's module on its own input", "check this layer's forward"),
    "layer-backward": ("its gradients differ from torch's module for its own input and upstream gradient",
                       "check this layer's backward"),
}


def _close(a, b, rtol=1e-7) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=rtol * (np.abs(b).max() if b.size else 0)))


def _entry(layer: str, fault: str, evidence: str, p: Optional[float] = None) -> dict:
    # imported here: the catalogue's module brings ml_dtypes (a second of start-up) that a
    # network with nothing to diagnose never needs
    from ..diagnose import CATALOGUE, Findings

    faults = {f.id: f for f in CATALOGUE}
    if fault in faults:
        f = faults[fault]
        cause, fix = f.cause, f.fix(Findings())
    else:
        cause, fix = OWN[fault]
    return {"layer": layer, "id": fault, "cause": cause, "evidence": evidence, "fix": fix}


def dropout_faults(call, eval_call, local_out: dict, form_original: bool) -> list:
    """The fingerprints of one dropout call that differs alone."""
    layer, x, y, m, p = call.layer, call.x, call.y, call.mask, call.layer.p
    found = []
    c = 1.0 / (1.0 - p) if p < 1 else 0.0
    name = layer.name
    fwd_bad = not _close(y, local_out["output"], 1e-6)
    if fwd_bad and layer.inner is None:
        sel = m & (x != 0)
        r = y[sel] / x[sel] if sel.any() else np.array([])
        if r.size and _close(r, np.ones_like(r)):
            at_eval = eval_call is not None and _close(eval_call.y, eval_call.x * (1 - p))
            fid = "original-form" if at_eval else "no-scale"
            found.append(_entry(name, fid, f"kept units come out as x (ratio 1.0 at p={p:g}; torch: {c:.6g})"
                                + ("; evaluation gives x * (1-p)" if at_eval else ""), p))
        elif r.size and p > 0 and p != 0.5 and _close(r, np.full_like(r, 1 / p)):
            found.append(_entry(name, "scale-by-p", f"kept units scaled by {1 / p:.6g} = 1/p at p={p:g}", p))
    if fwd_bad and layer.inner is not None and "bias" in call.params:
        b = call.params["bias"].reshape(-1)
        shift = (y - local_out["output"]).reshape(-1, b.size)
        if _close(shift, np.broadcast_to(b * (c - 1), shift.shape), 1e-6):
            found.append(_entry(name, "scale-after-layer", f"output - torch's = bias x p/(1-p) in every row "
                                f"(p={p:g}): the wrapped layer's output, bias included, is scaled"))
    if call.dx is not None and call.g is not None and "input grad" in local_out \
            and not _close(call.dx, local_out["input grad"], 1e-6):
        g, dx = call.g, call.dx
        if layer.inner is None:
            known = g != 0
            differ = int(((dx != 0) != m)[known].sum())
            if _close(dx, g):
                found.append(_entry(name, "unmasked-gradient", "input gradient equals the upstream gradient "
                                    f"(torch's is zero at {int((~m).sum())} dropped units)"))
            elif differ:
                found.append(_entry(name, "fresh-mask-backward", f"the input gradient's zero pattern differs from "
                                    f"the forward's mask in {differ} of {int(known.sum())} entries"))
            elif _close(dx, g * m) and not found:   # no-scale already says "and their gradient"
                found.append(_entry(name, "backward-no-scale", f"input gradient = upstream x mask, without "
                                    f"{c:.6g} = 1/(1-p)"))
        else:
            W = call.params["weight"]
            unmasked = g @ (W.T if layer.inner.extra.get("transposed") else W)
            if _close(dx, unmasked) or _close(dx, c * unmasked):
                found.append(_entry(name, "wrapper-unmasked-gradient",
                                    f"input gradient nonzero at {int(((dx != 0) & ~m).sum())} units the forward "
                                    f"dropped (of {int((~m).sum())})"))
            wg, tg = call.grads.get("weight"), local_out.get("weight")
            if wg is not None and tg is not None and found:
                ratio = np.abs(wg).max() / max(np.abs(tg).max(), 1e-300)
                found[-1]["evidence"] += f"; weight gradient {ratio:.4g} x torch's (1-p = {1 - p:g})"
    return found


def loss_faults(check, step: int) -> list:
    items = [i for i in check.items if i.step == step and i.stage == "local loss"]
    found = []
    for item in items:
        if item.status != "DIFF":
            continue
        if item.what == "value":
            from .screen import loss_value_only

            if loss_value_only(check.items, step):
                continue
            found.append(_entry("loss", "loss-value", f"{item.rel:.3g} relative difference from {check.loss.name}"
                                f"(reduction='{check.loss.reduction}')"))
            continue
        last = check.calls[step][-1]
        combined = last.g is None
        mine = last.dx if combined else last.g
        theirs = _torch_logits_grad(check, last, combined, step)
        n = mine.shape[0]
        if _close(mine, theirs * n):
            found.append(_entry("loss", "loss-not-mean", f"gradient at the logits = {n} x torch's (batch size {n})"))
        else:
            found.append(_entry("loss", "loss-gradient", f"{item.rel:.3g} relative difference at the logits"))
    return found


def _torch_logits_grad(check, last, combined, step):
    import torch

    from .twin import _t
    y = check.targets[step]
    z = _t(last.x if combined else last.y).requires_grad_(True)
    check.loss(torch.softmax(z, dim=-1) if combined else z, y).backward()
    return z.grad.numpy()


def culprits(check) -> list:
    """The faults found, the first differing layer's first; [] when every layer agrees alone."""
    for step, calls in check.calls.items():
        from .screen import loss_value_only

        bad = {(i.stage, i.layer) for i in check.items
               if i.step == step and i.stage.startswith("local") and i.status == "DIFF"
               and not (i.what == "value" and loss_value_only(check.items, step))}
        if not bad:
            continue
        found = []
        order = [c for c in calls if ("local forward", c.layer.name) in bad]
        order += [c for c in reversed(calls) if ("local backward", c.layer.name) in bad and c not in order]
        for call in order:
            if call.layer.kind == "dropout":
                evals = [e for e in check.eval_calls.get(step, ()) if e.layer is call.layer]
                hits = dropout_faults(call, evals[0] if evals else None, local(check.twins[id(call.layer)], call),
                                      check.options.form_original)
                if hits:
                    found += hits
                    continue
            stage = "layer-forward" if ("local forward", call.layer.name) in bad else "layer-backward"
            worst = max((i for i in check.items if i.step == step and i.layer == call.layer.name
                         and i.stage.startswith("local") and i.status == "DIFF"), key=lambda i: i.rel)
            found.append(_entry(call.layer.name, stage, f"{worst.what} differs by {worst.rel:.3g} (relative) at "
                                f"step {step}, on its own recorded input"))
        return merge(found + loss_faults(check, step))
    return []


def merge(found: list) -> list:
    """One entry per fault: the layers that show it listed together, the first one's evidence."""
    out = {}
    for entry in found:
        key = (entry["id"], entry["cause"])
        if key in out:
            out[key]["layers"].append(entry["layer"])
        else:
            out[key] = dict(entry, layers=[entry["layer"]])
    return list(out.values())
