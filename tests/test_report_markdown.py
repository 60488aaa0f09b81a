"""The Markdown report, rendered by a Markdown library: verdict and likely causes first, then
the matrix, then one example per failed property, the most telling one."""
import pytest

from conformance.explain import TORCH, TRAINING, gist, telling
from conformance.report import PROPERTIES, Matrix

markdown_it = pytest.importorskip("markdown_it")

MISMATCH = ("npdrop.testing.compare.Mismatch: forward differs from torch within rtol=4.76837e-07, atol=0 "
            "[Dropout, p={p}, {dtype}, shape (6, 7, 5)]: 152 of 210 elements differ, max 5032693 ULP, max abs "
            "error 3.22; first at index (0, 0, 0): got {dtype}(0.2225) (bits 0x3e63e558), expected {dtype}(0.3179) "
            "(bits 0x3ea2c864)\n  repro: npdrop-conform m:D 'conformance/test_forward.py::test_forward[{id}]'")


def _faulty() -> Matrix:
    matrix = Matrix()
    matrix.meta.update(impl="m:D", description="m:D vs torch.nn.Dropout: forward(x) -> returned")
    for dtype in ("bfloat16", "float16", "float32", "float64"):   # alphabetical: the 16-bit ones first
        for p in (0.0, 0.3, 1.0):
            case = f"Dropout-batched-{dtype}-p{p}"
            matrix.add("forward", "Dropout", "failed", f"conformance/test_forward.py::test_forward[{case}]",
                       MISMATCH.format(p=p, dtype=dtype, id=case))
    matrix.add("keep-rate", "Dropout", "passed")
    matrix.add("nonfinite", "Dropout", "failed", "conformance/test_forward.py::test_nonfinite_inputs[Dropout-float16-p0.1]",
               "forward with NaN/inf/0 inputs differs from torch ```odd``` [Dropout, p=0.1, float16]\nsecond line")
    matrix.diagnoses = [{"id": "no-scale", "variant": "Dropout", "properties": ["forward"], "property": "forward",
                         "cause": "kept units are never scaled", "evidence": "ratio 0.7 at p=0.3\nand a second line",
                         "fix": "multiply by 1/(1-p)"}]
    return matrix


def _blocks(text: str):
    return markdown_it.MarkdownIt().enable("table").parse(text)


def test_verdict_and_causes_come_before_the_matrix_and_the_examples():
    tokens = _blocks(_faulty().markdown())
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert headings == ["Conformance: m:D", "Likely causes", "Matrix", "Failed properties",
                        "forward: 12 failed", "nonfinite: 1 failed"]
    first_paragraph = next(tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "paragraph_open")
    assert first_paragraph.startswith("**FAIL**: does not conform in training: 1 of 2 training properties fail "
                                      "(forward); edges that differ: 1 of 1 (nonfinite)")
    assert [t.type for t in tokens].count("table_open") == 1


def test_each_likely_cause_is_one_list_item_with_its_evidence_and_fix():
    tokens = _blocks(_faulty().markdown())
    causes = next(i for i, t in enumerate(tokens) if t.type == "inline" and t.content == "Likely causes")
    items = [t for t in tokens[causes:] if t.type == "list_item_open"]
    assert [t.level for t in items].count(items[0].level) == 1, "one top-level item per cause"
    inline = [t.content for t in tokens if t.type == "inline"]
    assert "evidence: ratio 0.7 at p=0.3 and a second line" in inline and "try: multiply by 1/(1-p)" in inline


def test_one_example_per_failed_property_the_most_telling():
    tokens = _blocks(_faulty().markdown())
    fences = [t for t in tokens if t.type == "fence"]
    assert len(fences) == 2, "one example per failed property"
    assert "[Dropout, p=0.3, float32," in fences[0].content, "not the first alphabetically (bfloat16, float16)"
    assert "```odd```" in fences[1].content and "second line" in fences[1].content, "the message is fenced whole"


def test_a_passing_run_says_pass_and_has_no_failure_sections():
    matrix = Matrix()
    matrix.add("forward", "Dropout", "passed")
    matrix.add("keep-rate", "Dropout", "skipped")
    text = matrix.markdown()
    headings = [t for t in _blocks(text) if t.type == "heading_open"]
    assert len(headings) == 2 and text.splitlines()[2].startswith(
        "**pass**: conforms in training and at every edge: all 2 properties")
    assert "Likely causes" not in text and "Failed properties" not in text


def _edge_only(strict: bool = False) -> Matrix:
    matrix = Matrix()
    matrix.meta.update(impl="m:D", strict=strict)
    matrix.add("forward", "Dropout", "passed")
    matrix.add("keep-rate", "Dropout", "passed")
    matrix.add("float16-near-one", "Dropout", "failed", "t[Dropout-p0.9999999999]", "forward differs")
    matrix.add("nonfinite", "Dropout", "passed")
    return matrix


def test_an_edge_difference_conforms_in_training_and_is_listed_with_what_it_means():
    matrix = _edge_only()
    assert matrix.conforms_in_training() and matrix.failed_in("edge") == ["float16-near-one"]
    assert matrix.verdict().startswith("conforms in training: all 2 training properties pass; edges that "
                                       "differ: 1 of 2 (float16-near-one); 1 failed, 3 passed")
    screen = matrix.screen()
    assert screen[screen.index("verdict: " + matrix.verdict()) + 1].startswith("  edge float16-near-one: in float16")
    assert "edge cases (outside ordinary training):" in matrix.text().splitlines()
    assert matrix.text().splitlines()[-2:] == ["nonfinite         pass", "float16-near-one  FAIL(1)"]
    data = matrix.to_json()
    assert data["conforms_in_training"] is True and data["edge_differences"] == ["float16-near-one"]
    assert data["tiers"] == {"forward": "training", "keep-rate": "training", "float16-near-one": "edge",
                             "nonfinite": "edge"}
    rows = [line for line in matrix.markdown().splitlines() if line.startswith("| float16-near-one")]
    assert rows == ["| float16-near-one | edge | **FAIL**(1) |"]


def test_strict_makes_an_edge_difference_a_failure():
    verdict = _edge_only(strict=True).verdict()
    assert verdict.startswith("FAIL (--strict): conforms in training (all 2 training properties pass), but edges "
                              "that differ: 1 of 2 (float16-near-one)")


def test_the_json_report_keeps_the_most_telling_failure_and_reads_back():
    matrix = _faulty()
    data = matrix.to_json()
    first = data["properties"]["forward"]["Dropout"]["failures"][0]
    assert first["test"].endswith("[Dropout-batched-float32-p0.3]")
    again = Matrix.from_json(data)
    assert again.verdict() == matrix.verdict() and again.text() == matrix.text()
    assert again.diagnoses == matrix.diagnoses


def test_every_property_is_explained():
    assert set(TORCH) == set(PROPERTIES)
    assert set(TRAINING) <= set(PROPERTIES)
    assert "0 where torch gives NaN" not in TRAINING["nonfinite"] and "harmless" in TRAINING["nonfinite"]


def test_gist_keeps_what_differs_and_drops_bits_tolerance_and_repro():
    text = gist(MISMATCH.format(p=0.3, dtype="float32", id="x"))
    assert text == ("forward differs from torch [Dropout, p=0.3, float32]: 152 of 210 elements differ, max abs "
                    "error 3.22; got float32(0.2225), expected float32(0.3179)")


def test_telling_prefers_float32_mid_p_batched():
    failures = [{"test": f"t[Dropout-{c}-{d}-p{p}]", "message": ""}
                for c in ("scalar", "batched") for d in ("float16", "float32") for p in (0.0, 0.3)]
    assert telling(failures)["test"] == "t[Dropout-batched-float32-p0.3]"


def test_explanations_speak_a_keep_probability():
    from conformance import words
    from conformance.explain import line

    assert "at p = 0 (keep everything)" in line("p-zero", [])
    words.speak(True)
    try:
        assert "at keep_p = 1 (torch p = 0: keep everything)" in line("p-zero", [])
        assert "scales kept ones by 1/keep_p" in line("forward", [])
        assert "only at keep_p = 0," in line("p-one", [])
    finally:
        words.speak(False)
