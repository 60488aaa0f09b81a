"""The network check's report: one screen, JSON and Markdown, all from one dictionary.

The screen reads like the layer check's: what was found (the layers, the training step, the
loss, where masks and p came from), a table of layers x steps (the worst difference of each
layer's output and gradients per step, and the layer checked alone), the verdict, the likely
causes with their evidence and a ``try:`` line, and harmless differences apart.
"""
from __future__ import annotations

import json

from ..files import write_atomically

STATUS_ORDER = {"ok": 0, "n/a": 0, "close": 1, "DIFF": 2}


def _worst(items):
    items = [i for i in items if i.status != "n/a"]
    if not items:
        return None
    return max(items, key=lambda i: (STATUS_ORDER[i.status], i.rel))


def _cell(item) -> str:
    return "" if item is None else f"{item.status} {item.rel:.1e}"


def loss_value_only(items, step: int) -> bool:
    """Whether, at ``step``, the loss value differs while the gradient at the logits agrees
    (end to end and alone): an epsilon in a log or a clip, which training never sees."""
    grads = [i for i in items if i.step == step and i.what == "logits grad"]
    return bool(grads) and all(i.status in ("ok", "close") for i in grads)


def verdict(check, culprits) -> dict:
    value_only = [i for i in check.items if i.what == "value" and i.status == "DIFF"
                  and loss_value_only(check.items, i.step)]
    diffs = [i for i in check.items if not i.stage.startswith("local") and i.status == "DIFF" and i not in value_only]
    close = [i for i in check.items if not i.stage.startswith("local") and i.status == "close"]
    local_bad = [i for i in check.items if i.stage.startswith("local") and i.status == "DIFF" and i not in value_only]
    harmless = []
    if value_only:
        worst = _worst(value_only)
        harmless.append(f"the loss value differs from torch's ({worst.rel:.2g} at step {worst.step}) while its "
                        "gradient at the logits agrees: an epsilon or a clip in the log (log(y + 1e-7))? harmless "
                        "in training")
    if close:
        worst = _worst(close)
        harmless.append(f"{len(close)} comparisons close, not equal (worst: step {worst.step} "
                        f"{worst.layer or 'loss'} {worst.what}, {worst.rel:.2g}): an epsilon or a clip in your "
                        "loss? harmless in training")
    if local_bad and not diffs:
        layers = sorted({i.layer or "loss" for i in local_bad})
        harmless.append(f"differs alone but agrees end to end (harmless in context): {', '.join(layers)}")
    missing = sorted({f"{i.layer or 'loss'} {i.what}" for i in check.items if i.status == "n/a"})
    if missing:   # never counted as agreeing: said
        harmless.append("not compared, your code gave no value for: " + ", ".join(missing))
    if not diffs:
        return {"verdict": "PASS", "harmless": harmless, "first": None}
    first = diffs[0]
    return {"verdict": "FAIL", "harmless": harmless,
            "first": {"step": first.step, "stage": first.stage, "layer": first.layer or "loss", "what": first.what,
                      "rel": first.rel}}


def build(spec: str, check, culprits: list, command: str = "") -> dict:
    v = verdict(check, culprits)
    layers = [{"label": l.label, "name": l.name, "kind": l.kind + (f"({l.inner.kind})" if l.inner else ""),
               "p": l.p, "p_source": l.p_source, "mask_from": check.masks_from.get(l.label)}
              for l in check.net.layers]
    loss = check.loss.describe() + (f" + 0.5 * {check.l2[0]:g} * sum(W**2) ({check.l2[1]})" if check.l2 else "")
    return {"network": spec, "found": check.net.describe(), "loss": loss,
            "logits_at": check.logits_at, "dtype": str(check.dtype), "steps": check.options.steps,
            "batch": check.options.batch, "lr": check.options.lr, "form": "original" if
            check.options.form_original else "inverted", "layers": layers, "verdict": v["verdict"],
            "first_difference": v["first"], "culprit": culprits[0]["layer"] if culprits else None,
            "diagnoses": culprits, "harmless": v["harmless"], "items": [i.as_dict() for i in check.items],
            "command": command, "exit_status": 0 if v["verdict"] == "PASS" else 1}


def stopped(spec: str, stop, command: str, status: int) -> dict:
    """The report of a run that ended early: a call overran its limit, or the network's process
    ended. Nothing was judged; the verdict says INCOMPLETE, never a pass."""
    how = "a call timed out" if stop.timed_out else "the network's process ended during a call"
    return {"network": spec, "verdict": "INCOMPLETE", "complete": False, "incident": str(stop),
            "stopped_in": stop.what, "while": "loading the network" if stop.loading else "the check",
            "reason": how, "command": command, "exit_status": status}


def table(report: dict) -> list:
    from .items import Item

    items = [Item.from_dict(d) for d in report["items"]]
    steps = range(1, report["steps"] + 1)
    rows = [("loss", lambda i: i.stage == "loss" and i.what == "value", "local loss"),
            ("logits grad", lambda i: i.stage == "loss" and i.what == "logits grad", "local loss")]
    for layer in report["layers"]:
        name = layer["name"]
        rows.append((name, lambda i, n=name: i.layer == n and i.stage in ("forward", "backward"), name))
    rows.append(("input grad", lambda i, n=report["layers"][0]["name"]: i.layer == n and i.what == "input grad"
                 and i.stage == "backward", None))
    rows.append(("eval output", lambda i: i.stage == "eval", None))
    width = max(len(r[0]) for r in rows) + 2
    head = "".join(f"{'step ' + str(s):<14}" for s in steps) + "alone"
    out = [f"{'':<{width}}{head}"]
    for label, pick, alone in rows:
        cells = "".join(f"{_cell(_worst([i for i in items if i.step == s and pick(i)])):<14}" for s in steps)
        local = ""
        if alone == "local loss":
            local = _cell(_worst([i for i in items if i.stage == "local loss" and
                                  i.what == ("value" if label == "loss" else "logits grad")])).split(" ")[0]
        elif alone:
            w = _worst([i for i in items if i.layer == alone and i.stage.startswith("local")])
            local = "" if w is None else (w.status if w.status != "DIFF" else f"DIFF ({w.what})")
        out.append(f"{label:<{width}}{cells}{local}")
    return out


def screen(report: dict, notes: tuple = ()) -> list:
    if report["verdict"] == "INCOMPLETE":
        return [f"npdrop network check: {report['network']} vs a torch twin", report["incident"],
                f"verdict: INCOMPLETE: {report['reason']} ({report['while']}); the run ended there "
                f"(exit {report['exit_status']})"] + list(notes)
    lines = [f"npdrop network check: {report['network']} vs a torch twin ({report['dtype']}, {report['steps']} SGD "
             f"steps, batch {report['batch']}, lr {report['lr']}, form {report['form']})",
             f"found: {report['found']}",
             f"loss: {report['loss']}; gradient at the logits taken at the {report['logits_at']}"]
    drops = [l for l in report["layers"] if l["p"] is not None]
    if drops:
        lines.append("dropout: " + "; ".join(f"{l['label']} p={l['p']:.6g} ({l['p_source']}), mask "
                                             f"{l['mask_from']}" for l in drops))
    lines += table(report)
    first = report["first_difference"]
    if report["verdict"] == "PASS":
        lines.append("verdict: PASS: loss, every layer's output and gradients and the evaluation output agree with "
                     f"torch over {report['steps']} steps")
    else:
        where = report["culprit"] or first["layer"]
        lines.append(f"verdict: FAIL: first difference at step {first['step']}, {first['stage']}, {first['layer']} "
                     f"{first['what']} ({first['rel']:.2g}); first differing layer: {where}")
        if not report["diagnoses"]:
            lines.append("  every layer and the loss agree with torch alone: look at what happens between layers "
                         "(state kept across steps, gradients accumulated, a layer called out of order)")
    for d in report["diagnoses"]:
        lines += [f"likely cause: {d['id']} [{', '.join(d['layers'])}]: {d['cause']}", f"  evidence: {d['evidence']}",
                  f"  try: {d['fix']}"]
    lines += [f"harmless: {h}" for h in report["harmless"]]
    return lines + list(notes)


def markdown(report: dict) -> str:
    out = [f"# Network check: `{report['network']}`", "", f"**Verdict: {report['verdict']}**", ""]
    if report["verdict"] == "INCOMPLETE":
        return "\n".join(out + [f"- {report['incident']}", f"- {report['reason']} ({report['while']}); the run "
                                 f"ended there (exit {report['exit_status']})"]) + "\n"
    if report["diagnoses"]:
        out += ["## Likely causes", ""]
        out += [f"- **{d['id']}** ({d['layer']}): {d['cause']}. Evidence: {d['evidence']}. Try: {d['fix']}"
                for d in report["diagnoses"]]
        out.append("")
    out += [f"- found: {report['found']}", f"- loss: {report['loss']}", ""]
    out += ["```"] + table(report) + ["```", ""]
    out += [f"- harmless: {h}" for h in report["harmless"]]
    return "\n".join(out) + "\n"


def _strict(value):
    """``value`` with NaN as null and infinities as strings: JSON has neither."""
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return str(value)
    return value


def write_reports(report: dict, json_path=None, md_path=None) -> None:
    report = _strict(report)
    if json_path:
        write_atomically(json_path, json.dumps(report, indent=1, default=float, allow_nan=False))
    if md_path:
        write_atomically(md_path, markdown(report))
