"""The machinery every exercise check shares: Verdict and a few ways to compare answers."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NOT_ANSWERED = ...    # what a starter cell's answer holds until the learner replaces it


@dataclass
class Verdict:
    """What a check says: correct (True), not yet (False) or not answered yet (None), and
    a message - the explanation when right, a hint when not."""

    correct: bool | None
    message: str

    @property
    def mark(self) -> str:
        return {True: "Right", False: "Not yet", None: "Not answered yet"}[self.correct]

    def __str__(self) -> str:
        return f"{self.mark}: {self.message}"

    __repr__ = __str__

    def _repr_markdown_(self) -> str:
        icon = {True: "✅", False: "❌", None: "✏️"}[self.correct]
        return f"{icon} **{self.mark}**: {self.message}"

    def __bool__(self) -> bool:
        return bool(self.correct)


def answered(answer) -> bool:
    """False while the starter cell still holds `...` (or None)."""
    return answer is not NOT_ANSWERED and answer is not None


def verdict(correct: bool, right: str, hint: str) -> Verdict:
    """Verdict(True, right) or Verdict(False, hint)."""
    return Verdict(True, right) if correct else Verdict(False, hint)


def compare(answer, expected, *, hint: str, right: str = "", rel: float = 0.0,
            abs_tol: float = 0.0, unanswered_hint: str | None = None) -> Verdict:
    """The usual check: not answered yet, or answer == expected (numbers within rel/abs_tol,
    arrays element-wise, anything else with ==). `right` may use {expected}."""
    if not answered(answer):
        return Verdict(None, unanswered_hint or hint)
    try:
        if isinstance(expected, (np.ndarray, list, tuple)) and not isinstance(expected, str):
            a, e = np.asarray(answer), np.asarray(expected)
            ok = a.shape == e.shape and (np.allclose(a, e, rtol=rel, atol=abs_tol)
                                         if e.dtype.kind in "fc" else np.array_equal(a, e))
        elif isinstance(expected, (int, float, np.number)) and not isinstance(expected, bool):
            ok = bool(np.isclose(float(answer), float(expected), rtol=rel, atol=abs_tol))
        else:
            ok = answer == expected
    except (TypeError, ValueError):
        ok = False
    return verdict(bool(ok), (right or "that is {expected}.").format(expected=expected), hint)
