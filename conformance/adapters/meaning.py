"""What p means (drop or keep probability) and which form of dropout is expected.

The harness always thinks in torch's terms: ``p`` is the drop probability. An
implementation whose parameter is the keep probability gets ``1 - p``. The meaning comes
from the parameter's name (``keep_prob`` means keep, ``rate`` means drop); a bare ``p``
says nothing, so torch's meaning is assumed unless ``--p-means keep`` says otherwise.

The form: *inverted* dropout (torch's) scales kept units by ``1/(1-p)`` in training and is
the identity at eval; the *original* form (Srivastava et al. 2014) multiplies by the bare
mask in training and by ``1-p`` at eval (``--form original``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

KEEP_NAMES = ("keep_prob", "keep_rate", "p_keep", "keep", "keep_probability", "keepprob", "prob_keep", "keep_p",
              "retain", "retain_prob", "retain_p", "p_retain", "retain_rate")
DROP_NAMES = ("rate", "dropout_rate", "drop_rate", "dropout_ratio", "drop_prob", "dropout", "p_drop",
              "drop_probability", "dropout_prob", "dropout_p", "drop", "drop_ratio", "p_dropout", "drop_p",
              "dropout_probability", "ratio")
#: names that say nothing about which probability they are (torch's drop meaning is assumed).
AMBIGUOUS_NAMES = ("p", "prob", "probability")
P_NAMES = KEEP_NAMES + DROP_NAMES + AMBIGUOUS_NAMES
MEANINGS = ("drop", "keep")
FORMS = ("inverted", "original")


@dataclass(frozen=True)
class PMeaning:
    """How the harness's drop probability becomes the value the implementation is given."""

    keep: bool
    source: str    #: why: the parameter name, the option, or the default

    def value(self, p: float) -> float:
        return 1.0 - p if self.keep else p

    def describe(self) -> str:
        return f"p: {'keep' if self.keep else 'drop'} probability ({self.source})"


def p_meaning(name: str, option: Optional[str], label: str = "") -> PMeaning:
    """The meaning of a p parameter called ``name``; ``option`` is ``--p-means`` (or None);
    ``label`` is how the description names the parameter (default ``parameter 'name'``)."""
    label = label or f"parameter '{name}'"
    said = "keep" if name in KEEP_NAMES else "drop" if name in DROP_NAMES else None
    if option is not None:
        if option not in MEANINGS:
            raise ValueError(f"--p-means must be 'drop' or 'keep', got {option!r}")
        note = f", overriding what {label} suggests" if said and said != option else ""
        return PMeaning(option == "keep", f"--p-means {option}{note}")
    if said:
        return PMeaning(said == "keep", label)
    return PMeaning(False, f"{label}: ambiguous, torch's meaning assumed; --p-means keep if not")


@dataclass(frozen=True)
class Form:
    """What a correct result is under the keep-mask ``keep`` (element-wise 0/1 of the input's shape)."""

    name: str

    @property
    def original(self) -> bool:
        return self.name == "original"

    def train_scale(self, p: float) -> float:
        """Factor on kept units in training: torch's ``1/(1-p)`` or the original form's 1."""
        return 1.0 if self.original else 1.0 / (1.0 - p)

    def eval_scale(self, p: float) -> Optional[float]:
        """Factor on every unit at eval, None for the identity (inverted dropout)."""
        return 1.0 - p if self.original else None

    def at_eval(self, x: np.ndarray, p: float) -> np.ndarray:
        """The correct eval output for ``x`` (or backward for the gradient ``x``)."""
        scale = self.eval_scale(p)
        return x if scale is None else (x.astype(np.float64) * scale).astype(x.dtype)

    def describe(self) -> str:
        return "form: original (x*m, eval x*(1-p))" if self.original else "form: inverted"


def form(name: Optional[str]) -> Form:
    name = name or "inverted"
    if name not in FORMS:
        raise ValueError(f"--form must be 'inverted' or 'original', got {name!r}")
    return Form(name)
