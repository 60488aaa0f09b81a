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

#: property -> what it checks (the README and the JSON report use the same words).
PROPERTIES = {
    "forward": "training output equals torch's under the same mask (variant x dtype x p x shape)",
    "nonfinite": "NaN/inf inputs give torch's output (a dropped inf becomes NaN: inf * 0)",
    "backward": "input gradient equals torch autograd's under the same mask",
    "fuzz": "hypothesis-drawn shapes, strided/reversed/transposed views, dtypes and p: forward and backward equal torch's",
    "backward-reuses-mask": "backward multiplies by the forward's mask (no fresh draw)",
    "grad-at-zero-input": "gradient flows through kept units whose input is exactly 0",
    "eval-identity": "eval() forward returns the input unchanged, backward the gradient",
    "p-zero": "p == 0 in training is the identity, forward and backward",
    "p-one": "p == 1 gives zeros for finite input (never NaN), and a zero gradient",
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
}


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
        return [p for p in PROPERTIES if p in seen] + sorted(seen - set(PROPERTIES))

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
                "descriptions": {p: PROPERTIES.get(p, "") for p in self.properties()}, "totals": totals,
                "diagnoses": self.diagnoses}

    @classmethod
    def from_json(cls, data: dict) -> "Matrix":
        """The matrix a JSON report (:meth:`to_json`) was written from, failures as kept there."""
        matrix = cls()
        matrix.meta = {k: v for k, v in data.items() if k not in
                       ("properties", "failed_properties", "descriptions", "totals", "diagnoses")}
        matrix.diagnoses = list(data.get("diagnoses", []))
        for prop, cells in data.get("properties", {}).items():
            for variant, c in cells.items():
                matrix.cells[prop, variant] = Cell(c["passed"], c["failed"], c["skipped"], c["n/a"],
                                                   list(c["failures"]))
        return matrix

    def totals(self) -> dict:
        return {k: sum(getattr(c, k) for c in self.cells.values()) for k in ("passed", "failed", "skipped", "na")}

    @said_first
    def verdict(self) -> str:
        """One line: pass or FAIL, how many properties failed, how many tests ran."""
        t, failed, props = self.totals(), self.failed_properties(), self.properties()
        tests = f"{t['failed']} failed, {t['passed']} passed, {t['skipped']} skipped, {t['na']} n/a tests"
        if failed:
            return f"FAIL: {len(failed)} of {len(props)} properties fail ({', '.join(failed)}); {tests}"
        if not t["passed"]:
            return f"NOTHING CHECKED: no test passed or failed; {tests}"
        return f"pass: all {len(props)} properties ({tests})"

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
        and reports are), then the verdict and the likely causes with evidence and ``try:``."""
        out = [self.meta.get("description", ""), self.text()]
        explained = self.explained()
        if explained:
            out.append("failed properties (torch; here, the most telling failure; in training):")
            out += [f"  {text}" for _, _, text in explained]
        unknown = [p for p in self.properties() if p not in PROPERTIES]
        if unknown:
            out.append("(rows without a prop marker are named after their module: " + ", ".join(unknown) + ")")
        out += list(notes) + ["verdict: " + self.verdict()] + self.run_lines()
        for d in self.diagnoses:
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
        header, rows = self._rows("FAIL")
        widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
        line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
        return "\n".join([line(header)] + [line(r) for r in rows])

    def markdown(self) -> str:
        """The report: verdict and likely causes first, then the matrix, then one example per
        failed property (its most telling failure)."""
        header, rows = self._rows("**FAIL**")
        verdict = self.verdict()
        word, _, rest = verdict.partition(":")
        out = [f"# Conformance: {self.meta.get('impl', '?')}", "", f"**{word}**:{rest}", ""]
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
