"""One line per failed property: what torch does, what the code did, whether it matters in training.

``TORCH`` and ``TRAINING`` are fixed words per property; what the code did is the gist of
its most telling failure (:func:`telling`): a mid-range p, float32/float64, the batched
input, rather than the first failure in alphabetical order (often a float16 case).
"""
from __future__ import annotations

import re

from .words import keeps

#: property -> what torch does.
TORCH = {
    "forward": "torch zeroes dropped units and scales kept ones by 1/(1-p) in training",
    "nonfinite": "torch multiplies by the scaled mask: a dropped inf or NaN becomes NaN (inf * 0), a kept one stays",
    "backward": "torch's input gradient is the upstream gradient times the forward's mask and scale",
    "fuzz": "torch's forward and backward on hypothesis-drawn shapes, views, dtypes and p",
    "backward-reuses-mask": "torch's backward multiplies by the very mask the forward drew",
    "grad-at-zero-input": "torch passes the gradient through every kept unit, even where the input is exactly 0",
    "eval-identity": "in eval mode torch returns the input unchanged, and the gradient unchanged",
    "p-zero": "at p = 0 (keep everything) torch is the identity, forward and backward",
    "p-one": "at p = 1 (drop everything) torch returns x * 0 and a zero gradient, never a division by 0",
    "signed-zero": "torch multiplies by the scaled mask: a dropped negative unit or -0.0 gives -0.0",
    "p-range": "torch raises ValueError for p outside [0, 1]",
    "integer-input": "torch's training dropout raises on integer input",
    "float16-near-one": "in float16 at p within 1e-4 of 1 torch computes the scale 1/(1-p) in float32, multiplies "
                        "it by the 0/1 mask and rounds: a dropped unit is 0 even where the scale passes float16's "
                        "65504",
    "mode-switch": "switching train/eval, torch never applies a stale mask, forward or backward",
    "instance-isolation": "two torch layers keep their own masks",
    "dtype": "torch returns the input's dtype, forward and backward",
    "input-unchanged": "torch leaves the input and the upstream gradient unmodified",
    "noise-shape": "torch draws one decision per noise cell (an element, or a whole channel)",
    "keep-rate": "torch keeps each unit with probability 1 - p",
    "call-independence": "torch draws a new, independent mask on every call",
    "batch-independence": "torch draws each sample's mask independently",
    "inplace": "inplace=True writes into the input as F.dropout(inplace=True) does",
    "bad-input": "torch rejects these inputs with an error",
    "layout": "torch gives the output and gradient the input's memory layout",
    "nn-injection": "torch's own modules draw through the injected masks",
    "torch-func": "torch.func and native_dropout draws are injected",
    "mlp": "an MLP trained with SGD in torch",
    "network": "a torch twin of the whole network, with the same weights and masks, gives the same loss and gradients",
    "harness": "the harness's own checks",
}

#: property -> whether it matters in training.
TRAINING = {
    "forward": "matters: every layer after it sees other values than torch's would",
    "nonfinite": "edge: harmless for finite training data, it differs only once a NaN or inf has appeared",
    "float16-near-one": "edge: only a float16 network trained with nearly every unit dropped meets it",
    "signed-zero": "edge: equal as numbers; only 1/x, copysign or bit comparisons see it",
    "p-range": "edge: only a mistyped p meets it",
    "integer-input": "edge: only an integer array passed by mistake meets it",
    "backward": "matters: the weights get wrong gradients",
    "fuzz": "matters as forward/backward do: an input the fixed matrix does not try",
    "backward-reuses-mask": "matters: dropped units receive gradient",
    "grad-at-zero-input": "matters after a ReLU, whose zeros are common: those units get no gradient",
    "eval-identity": "matters: evaluation and inference give other predictions",
    "p-zero": "matters only if p = 0 is used to switch dropout off",
    "p-one": "edge: only at p = 1, which trains nothing; a NaN there spreads to everything downstream",
    "mode-switch": "matters when you evaluate during training (validation every epoch)",
    "instance-isolation": "matters with more than one dropout layer",
    "dtype": "costs memory and speed, and changes the dtype of every layer after it",
    "input-unchanged": "matters when the input is used again (a residual connection, a cache)",
    "noise-shape": "matters: another amount of regularisation than intended",
    "keep-rate": "matters: the effective dropout rate is not the one you set",
    "call-independence": "matters: a mask that never changes trains a fixed sub-network, no regularisation",
    "batch-independence": "matters: less regularisation, correlated gradients within a batch",
}

#: under a keep-probability p, the words above in the user's p
_KEEP_WORDS = (("1/(1-p)", "1/keep_p"), ("at p = 0 (keep everything)", "at keep_p = 1 (torch p = 0: keep everything)"),
               ("at p = 1 (drop everything)", "at keep_p = 0 (torch p = 1: drop everything)"),
               ("probability 1 - p", "probability keep_p"), ("if p = 0 is used", "if keep_p = 1 is used"),
               ("only at p = 1,", "only at keep_p = 0,"))

_PREFIX = re.compile(r"^(?:[\w.]+\.)?(?:Mismatch|AssertionError|UserCodeError|Failed): ")
_NOISE = (re.compile(r" \(bits 0x[0-9a-f]+\)"), re.compile(r" within rtol=\S+ atol=\S+"),
          re.compile(r", shape \([^)]*\)"), re.compile(r", max \d+ ULP"),
          re.compile(r" first at index \([^)]*\):"), re.compile(r"\s*repro: .*$", re.S))
_RANK = (("float16", 2), ("bfloat16", 2), ("scalar", 2), ("empty", 2), ("vector", 1), ("transposed", 1),
         ("sliced", 1), ("p0.0", 2), ("p1.0", 2), ("p0.1", 1))


def gist(message: str, width: int = 190) -> str:
    """A failure message's first line, without the exception's module path, the raw bits, the
    tolerance and the repro command; at most ``width`` characters."""
    text = message.strip().split("\n")[0] if message.strip() else ""
    for noise in _NOISE:
        text = noise.sub("", text)
    text = _PREFIX.sub("", text.strip())
    return text if len(text) <= width else text[:width - 3].rstrip() + "..."


def telling(failures: list) -> dict:
    """The most telling of a cell's failures (``{"test", "message"}`` dicts): the one whose
    test id has the fewest edge cases (16-bit dtypes, empty or scalar input, p at 0 or 1)."""
    def cost(failure):
        test = failure["test"]
        case = test[test.find("[") + 1:].rstrip("]").split("-")
        return sum(weight for word, weight in _RANK if word in case or (word.startswith("p") and
                                                                        f"torch_{word}" in case))
    return min(failures, key=cost)


def line(prop: str, failures: list) -> str:
    """``prop``: what torch does; what the code did (its most telling failure); whether it matters."""
    did = gist(telling(failures)["message"]) if failures else ""
    parts = [_yours(TORCH.get(prop, prop))]
    if did:
        parts.append(f"here: {did}")
    if prop in TRAINING and "(--call-timeout)" not in did:   # a hung call is not a wrong value
        parts.append(f"in training: {_yours(TRAINING[prop])}")
    return f"{prop}: " + "; ".join(parts)


def _yours(text: str) -> str:
    """``text`` in the user's p: unchanged in torch's meaning."""
    if keeps():
        for torch_words, user_words in _KEEP_WORDS:
            text = text.replace(torch_words, user_words)
    return text
