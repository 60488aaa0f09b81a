"""The conformance matrix: property x variant -> pass / FAIL / skip / n/a, as text, JSON and Markdown.

Each test names its property with ``@pytest.mark.prop("...")`` and its variant through a
``variant`` parameter. A cell fails if any of its tests failed (an error in
set-up counts as a failure), passes if none failed and at least one passed, and is
"skip" only when every test in it was skipped: a skipped check is never shown as a pass.
A cell is "n/a" when its tests need something the implementation does not have (a
backward, an eval mode): they skip with a reason starting with :data:`NOT_APPLICABLE`.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from . import explain
from .diagnose import lines as cause_lines
from .incomplete import said_first
from .variants import VARIANTS

#: the start of a skip reason that means "does not apply to this implementation".
NOT_APPLICABLE = "n/a:"
#: the start of the skip reason of a dtype the implementation refuses (outside float16/32/64)
UNSUPPORTED = f"{NOT_APPLICABLE} unsupported dtype"

#: property -> what it checks (the README and the JSON report use the same words), training
#: properties first, then the edge ones (:data:`EDGE`).
PROPERTIES = {
    "forward": "training output equals torch's under the same mask (variant x dtype x p x shape, 0 <= p < 1)",
    "backward": "input gradient equals torch autograd's under the same mask (0 <= p < 1)",
    "fuzz": "hypothesis-drawn shapes, strided/reversed/transposed views, dtypes and p: forward and backward equal torch's",
    "backward-reuses-mask": "backward multiplies by the forward's mask (no fresh draw)",
    "grad-at-zero-input": "gradient flows through kept units whose input is exactly 0",
    "eval-identity": "eval() forward returns the input unchanged, backward the gradient",
    "p-zero": "p == 0 in training is the identity, forward and backward",
    "mode-switch": "train/eval switching never applies a stale mask, forward or backward",
    "instance-isolation": "two layers keep their own masks",
    "dtype": "float16/32/64 (and bfloat16 with ml_dtypes) in gives the same dtype out, forward and backward",
    "input-unchanged": "forward and backward leave the input and the gradient unmodified",
    "noise-shape": "one decision per noise cell, independent across cells",
    "keep-rate": "fraction kept is 1 - p (binomial bound, false alarm <= 1e-9)",
    "call-independence": "each call draws a new, independent mask",
    "batch-independence": "samples in a batch get independent masks",
    "inplace": "inplace=True matches F.dropout(inplace=True), input object included",
    "bad-input": "inputs torch rejects are rejected, with npdrop's documented error class and torch's",
    "layout": "output and input gradient have torch's strides; replayed masks follow the input's layout",
    "nn-injection": "dropout inside MultiheadAttention / TransformerEncoderLayer / LSTM is injected",
    "torch-func": "torch.func (bernoulli.p) and native_dropout draws are injected",
    "mlp": "an MLP trained with SGD matches torch step for step under the same masks",
    "network": "a whole network (--network) matches its torch twin: loss, every layer's output and gradients",
    "harness": "the harness itself: injection strictness, bounds, mask reading",
    "nonfinite": "NaN/inf inputs give torch's output (a dropped inf becomes NaN: inf * 0)",
    "float16-near-one": "float16 at p within 1e-4 of 1 (1/(1-p) past float16's range): forward and backward equal torch's",
    "p-one": "p == 1 gives zeros for finite input (never NaN), and a zero gradient, forward and backward",
    "signed-zero": "every zero of the output and the gradient has torch's sign (a dropped negative unit is -0.0)",
    "p-range": "p outside [0, 1] is refused (torch raises ValueError)",
    "integer-input": "integer input in training is refused (torch raises)",
}

#: the edge properties: a difference there changes nothing a network learns or predicts from
#: finite data at a p anyone trains with (conformance/README.md, "Two tiers", says why each is
#: here). Every other property is a training property.
EDGE = ("nonfinite", "float16-near-one", "p-one", "signed-zero", "p-range", "integer-input")

#: edge property -> what a difference there means, for the verdict's lines
EDGE_MEANS = {
    "nonfinite": "a NaN or inf input comes out otherwise than torch's (a dropped inf: NaN in torch); finite "
                 "data never meets it, it shows only once a NaN or inf has reached the layer",
    "float16-near-one": "in float16 at p within 1e-4 of 1 (scale 1/(1-p) > 1e4; at 1 - 1e-10 past float16's "
                        "65504) the output or gradient differs; only a float16 network dropping nearly every "
                        "unit meets it",
    "p-one": "at p = 1 (drop everything) the result is not torch's zeros; p = 1 trains nothing (no unit passes, "
             "no gradient flows): only code that uses p = 1 to cut a branch off meets it",
    "signed-zero": "a zero comes out with the other sign than torch's (a dropped negative unit: +0.0 here, -0.0 "
                   "in torch's x * 0); equal as numbers, only 1/x, copysign or the bits tell them apart",
    "p-range": "p outside [0, 1] is taken silently where torch raises ValueError: only a mistyped p meets it",
    "integer-input": "integer input in training is not refused as torch refuses it: an integer array that "
                     "should have been converted to float goes on unnoticed",
}


def tier(prop: str) -> str:
    """``"edge"`` for the properties of :data:`EDGE`, ``"training"`` for every other one."""
    return "edge" if prop in EDGE else "training"


@dataclass
class Cell:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    na: int = 0
    failures: list = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.failed:
            return "fail"
        if self.passed:
            return "pass"
        return "n/a" if self.na and not self.skipped else "skip"


_TICKS = re.compile(r"`+")


def _one_line(text: str) -> str:
    """Text for one Markdown line (a list item's continuation must not start a new paragraph)."""
    return " ".join(str(text).split())


def _examples(failures: list) -> list:
    """Up to five failures for the JSON report, the most telling first."""
    if not failures:
        return []
    first = explain.telling(failures)
    return [first] + [f for f in failures if f is not first][:4]


class Matrix:
    """Collects test outcomes into cells keyed by (property, variant)."""

    def __init__(self):
        self.cells: dict[tuple[str, str], Cell] = {}
        self.meta: dict = {}
        self.diagnoses: list = []   #: likely causes of the failures (see conformance.diagnose)

    def add(self, prop: str, variant: str, outcome: str, nodeid: str = "", message: str = "") -> None:
        cell = self.cells.setdefault((prop, variant), Cell())
        if outcome == "passed":
            cell.passed += 1
        elif outcome == "skipped":
            cell.skipped += 1
        elif outcome == "n/a":
            cell.na += 1
        else:
            cell.failed += 1
            cell.failures.append({"test": nodeid, "message": message})

    def properties(self) -> list:
        seen = {p for p, _ in self.cells}
        ordered = [p for p in PROPERTIES if p in seen] + sorted(seen - set(PROPERTIES))
        return [p for p in ordered if tier(p) == "training"] + [p for p in ordered if tier(p) == "edge"]

    def variants(self) -> list:
        seen = {v for _, v in self.cells}
        order = list(VARIANTS)
        return [v for v in order if v in seen] + sorted(seen - set(order))

    def failed_properties(self) -> list:
        return [p for p in self.properties() if any(c.failed for (q, _), c in self.cells.items() if q == p)]

    def failed_cells(self) -> dict:
        """variant -> its failed properties, in the matrix's order."""
        failed = {}
        for prop in self.properties():
            for variant in self.variants():
                cell = self.cells.get((prop, variant))
                if cell is not None and cell.failed:
                    failed.setdefault(variant, []).append(prop)
        return failed

    def to_json(self) -> dict:
        props = {}
        for (prop, variant), cell in sorted(self.cells.items()):
            props.setdefault(prop, {})[variant] = {
                "status": cell.status, "passed": cell.passed, "failed": cell.failed,
                "skipped": cell.skipped, "n/a": cell.na, "failures": _examples(cell.failures)}
        totals = {k: sum(getattr(c, k) for c in self.cells.values()) for k in ("passed", "failed", "skipped")}
        totals["n/a"] = sum(c.na for c in self.cells.values())
        return {**self.meta, "properties": props, "failed_properties": self.failed_properties(),
                "conforms_in_training": self.conforms_in_training(),
                "failed_in_training": self.failed_in("training"), "edge_differences": self.failed_in("edge"),
                "tiers": {p: tier(p) for p in self.properties()},
                "descriptions": {p: PROPERTIES.get(p, "") for p in self.properties()}, "totals": totals,
                "diagnoses": self.diagnoses}

    @classmethod
    def from_json(cls, data: dict) -> "Matrix":
        """The matrix a JSON report (:meth:`to_json`) was written from, failures as kept there."""
        matrix = cls()
        matrix.meta = {k: v for k, v in data.items() if k not in
                       ("properties", "failed_properties", "descriptions", "totals", "diagnoses",
                        "conforms_in_training", "failed_in_training", "edge_differences", "tiers")}
        matrix.diagnoses = list(data.get("diagnoses", []))
        for prop, cells in data.get("properties", {}).items():
            for variant, c in cells.items():
                matrix.cells[prop, variant] = Cell(c["passed"], c["failed"], c["skipped"], c["n/a"],
                                                   list(c["failures"]))
        return matrix

    def totals(self) -> dict:
        return {k: sum(getattr(c, k) for c in self.cells.values()) for k in ("passed", "failed", "skipped", "na")}

    def failed_in(self, which: str) -> list:
        """The failed properties of one tier (``"training"`` or ``"edge"``), in the matrix's order."""
        return [p for p in self.failed_properties() if tier(p) == which]

    def conforms_in_training(self) -> bool:
        """No training property failed and at least one test passed."""
        return not self.failed_in("training") and bool(self.totals()["passed"])

    def strict(self) -> bool:
        """Whether an edge difference fails the run too (``--strict``, and npdrop itself)."""
        return bool(self.meta.get("strict"))

    @said_first
    def verdict(self) -> str:
        """One line: whether the implementation conforms in training, then the edges that differ,
        then how many tests ran (:meth:`edge_lines` says what each differing edge means)."""
        t, props = self.totals(), self.properties()
        training, edges = self.failed_in("training"), self.failed_in("edge")
        ran_training = [p for p in props if tier(p) == "training"]
        ran_edges = [p for p in props if tier(p) == "edge"]
        tests = f"{t['failed']} failed, {t['passed']} passed, {t['skipped']} skipped, {t['na']} n/a tests"
        differ = (f"edges that differ: {len(edges)} of {len(ran_edges)} ({', '.join(edges)})" if edges
                  else f"every edge as torch ({len(ran_edges)} edge properties)" if ran_edges else "")
        if training:
            head = (f"FAIL: does not conform in training: {len(training)} of {len(ran_training)} training "
                    f"properties fail ({', '.join(training)})")
            return f"{head}; {differ}; {tests}" if edges else f"{head}; {tests}"
        if not t["passed"]:
            return f"NOTHING CHECKED: no test passed or failed; {tests}"
        head = f"all {len(ran_training)} training properties pass"
        if edges and self.strict():
            return f"FAIL (--strict): conforms in training ({head}), but {differ}; {tests}"
        if edges:
            return f"conforms in training: {head}; {differ}; {tests}"
        return f"pass: conforms in training and at every edge: all {len(props)} properties ({tests})"

    def edge_lines(self) -> list:
        """One line per edge property that differs: what the difference means."""
        return [f"  edge {prop}: {EDGE_MEANS.get(prop, PROPERTIES.get(prop, ''))}" for prop in self.failed_in("edge")]

    def explained(self) -> list:
        """(property, failed test count, one-line explanation) per failed property, with the
        most telling failure over all its variants."""
        out = []
        for prop in self.failed_properties():
            failures = [f for (q, _), c in self.cells.items() if q == prop for f in c.failures]
            count = sum(c.failed for (q, _), c in self.cells.items() if q == prop)
            out.append((prop, count, explain.line(prop, failures)))
        return out

    def screen(self, notes: tuple = ()) -> list:
        """The run on one screen, its answer last (where a terminal leaves it in view): what
        was found, the matrix, one line per failed property, ``notes`` (where the full log
        and reports are), then the verdict, what each differing edge means, and the likely
        causes with evidence and ``try:`` (those of a training property first)."""
        out = [self.meta.get("description", ""), self.text()]
        explained = self.explained()
        if explained:
            out.append("failed properties (torch; here, the most telling failure; in training; edge ones last):")
            out += [f"  {text}" for _, _, text in explained]
        unknown = [p for p in self.properties() if p not in PROPERTIES]
        if unknown:
            out.append("(rows without a prop marker are named after their module: " + ", ".join(unknown) + ")")
        out += list(notes) + ["verdict: " + self.verdict()] + self.edge_lines() + self.run_lines()
        # the causes of training failures first: on a terminal the first cause keeps its rows
        for d in sorted(self.diagnoses, key=lambda d: all(tier(p) == "edge" for p in d["properties"])):
            out += cause_lines(d)
        if self.failed_properties() and not self.diagnoses and self.meta.get("evidence_from", "").startswith("only"):
            out.append("no likely cause named from the evidence of " + self.meta["evidence_from"])
        return [line for block in out for line in block.split("\n")]

    def run_lines(self) -> list:
        """What the report's record of the run adds to the verdict: a call that timed out,
        tests whose pytest-xdist worker died, an incomplete run, dtypes refused (n/a)."""
        meta, out = self.meta, []
        timed_out = meta.get("timed_out")
        if timed_out:
            test = f" in {timed_out['test']}" if timed_out.get("test") else ""
            out.append(f"TIMED OUT: {timed_out['call']} did not return within {timed_out['limit_s']:g} s "
                       f"(--call-timeout){test}; the run ended there (exit {meta.get('exit_status')})")
        for test, cause in meta.get("crashed", {}).items():
            own = str(cause).startswith(("CRASHED: ", "TIMED OUT: ", "NOT RUN: "))   # the implementation's process
            out.append(f"CRASHED: {test}: {str(cause).partition(': ')[2]}" if own else
                       f"CRASHED: {test} (its worker died in it, as a call past --call-timeout makes it)")
        if not meta.get("complete", True):
            tests = meta.get("tests")
            out.append(f"INCOMPLETE: {tests['not_run']} of {tests['selected']} selected tests did not run; "
                       "the report says complete: false" if tests else
                       "INCOMPLETE: no test ran; the report says complete: false")
        for dtype, why in meta.get("unsupported", {}).items():
            out.append(f"unsupported: {dtype} input, refused with an exception (n/a, not failed): {why}")
        return out

    def _rows(self, fail: str) -> tuple[list, list]:
        variants = self.variants()
        rows = []
        for prop in self.properties():
            row = [prop]
            for v in variants:
                cell = self.cells.get((prop, v))
                row.append("" if cell is None else {"fail": f"{fail}({cell.failed})", "pass": "pass",
                                                    "skip": "skip", "n/a": "n/a"}[cell.status])
            rows.append(row)
        return ["property"] + variants, rows

    def text(self) -> str:
        """The matrix, training properties first; the edge ones under a line of their own."""
        header, rows = self._rows("FAIL")
        widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
        line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
        out = [line(header)]
        for row in rows:
            if tier(row[0]) == "edge" and not any(tier(r[0]) == "edge" for r in rows[:rows.index(row)]):
                out.append("edge cases (outside ordinary training):")
            out.append(line(row))
        return "\n".join(out)

    def markdown(self) -> str:
        """The report: verdict and likely causes first, then the matrix, then one example per
        failed property (its most telling failure)."""
        header, rows = self._rows("**FAIL**")
        verdict = self.verdict()
        word, _, rest = verdict.partition(":")
        out = [f"# Conformance: {self.meta.get('impl', '?')}", "", f"**{word}**:{rest}", ""]
        edges = [f"- edge **{prop}**: {_one_line(EDGE_MEANS.get(prop, ''))}" for prop in self.failed_in("edge")]
        out += edges + ([""] if edges else [])
        run = self.run_lines()
        if run:
            out += [f"- {_one_line(line)}" for line in run] + [""]
        out.append(self.meta.get("description", ""))
        if self.failed_properties():
            out += ["", "## Likely causes", ""]
            if not self.diagnoses:
                out.append("None of the known faults matched the measured figures; see the failures below.")
            for d in self.diagnoses:
                out += [f"- **{d['id']}** ({d['variant']}: {', '.join(d['properties'])}): {_one_line(d['cause'])}",
                        f"  - evidence: {_one_line(d['evidence'])}", f"  - try: {_one_line(d['fix'])}"]
        header = header[:1] + ["tier"] + header[1:]
        rows = [r[:1] + [tier(r[0])] + r[1:] for r in rows]
        out += ["", "## Matrix", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(r) + " |" for r in rows]
        if self.failed_properties():
            out += ["", "## Failed properties", ""]
            for prop, count, text in self.explained():
                failures = [f for (q, _), c in self.cells.items() if q == prop for f in c.failures]
                example = explain.telling(failures)
                fence = "`" * max(3, 1 + max((len(r) for r in _TICKS.findall(example["message"])), default=0))
                out += [f"### {prop}: {count} failed", "", _one_line(text.partition(": ")[2]), "",
                        f"Example: `{example['test']}`", "", fence + "text", example["message"].rstrip(), fence, ""]
        return "\n".join(out).rstrip("\n") + "\n"

    def write(self, json_path=None, md_path=None) -> None:
        if json_path:
            with open(json_path, "w") as f:
                json.dump(self.to_json(), f, indent=1)
        if md_path:
            with open(md_path, "w") as f:
                f.write(self.markdown())
