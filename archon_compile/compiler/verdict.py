"""An honest winner and a verdict against the best single model.

Selection resists the winner's curse by selecting on a lower confidence bound: a trial is emitted only
if the 95% bootstrap lower bound of its paired dev gain over the best single model (same items, in dev
order), minus lam x its extra cost, is above zero; among such trials the highest bound wins. Otherwise
the compile emits the best single model and says, with numbers, that the dev set could not separate
them. The maximum of many noisy dev means is biased upwards (the more trials, the more), while the lower
bound of one architecture's paired gain is not inflated by trying others as much, and it can never
choose an architecture worse on dev than the single model.

The verdict is measured on held-out items no selection has seen: the winner against the best single
model, the paired difference with its 95% CI, and one of three outcomes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from archon_compile.compiler.objective import Objective
from archon_compile.stats import paired_difference_ci

if TYPE_CHECKING:
    from archon_compile.compiler.result import TrialRow

Outcome = Literal["the search paid", "no significant gain", "worse"]


class Selection(BaseModel):
    """How the winner was chosen on dev, and whether dev could tell the candidates apart."""

    chosen_trial: int | None = Field(description="the emitted trial; None: the best single model")
    best_trial: int = Field(description="the best trial by the objective (highest dev mean)")
    dev_items: int
    gain: float | None = Field(
        None, description="the best trial's mean paired dev gain over the single model"
    )
    ci_low: float | None = None
    ci_high: float | None = None
    items_needed: int | None = Field(
        None, description="dev items that would make the best trial's gain significant, at its size"
    )

    def sentence(self) -> str:
        if self.chosen_trial is not None:
            return (
                f"trial #{self.chosen_trial} beats the best single model on dev with a 95% lower bound above "
                f"zero ({self.dev_items} items)"
            )
        if self.gain is None or self.ci_low is None or self.ci_high is None:
            return "no trial could be compared with the best single model on dev: the single model is emitted"
        text = (
            f"no trial beats the best single model significantly on dev: the best trial (#{self.best_trial}) "
            f"gains {self.gain:+.3f} (95% CI {self.ci_low:+.3f} to {self.ci_high:+.3f}, width "
            f"{self.ci_high - self.ci_low:.3f}) on {self.dev_items} dev items, so the single model is emitted"
        )
        if self.items_needed is not None:
            text += f"; about {self.items_needed} dev items would separate a gain of this size"
        return text


class Verdict(BaseModel):
    """The winner against the best single model on held-out: paired difference and its 95% CI."""

    winner: str
    baseline: str
    items: int
    winner_quality: float
    baseline_quality: float
    difference: float
    ci_low: float
    ci_high: float
    outcome: Outcome

    def sentence(self) -> str:
        same = " (the compiled program is the single model)" if self.winner == self.baseline else ""
        return (
            f"Verdict: {self.outcome}{same}. Held-out ({self.items} items): winner "
            f"{self.winner_quality:.3f} vs "
            f"best single model {self.baseline_quality:.3f}, difference {self.difference:+.3f} "
            f"(95% CI {self.ci_low:+.3f} to {self.ci_high:+.3f})."
        )


def select(
    candidates: Sequence[TrialRow],
    best: TrialRow,
    single_scores: Sequence[float | None],
    single_cost: float,
    objective: Objective,
    seed: int,
) -> Selection:
    """The candidate with the highest lower confidence bound of its cost-adjusted paired dev gain over the
    single model, if that bound is above zero; else the single model (`chosen_trial` None)."""
    n = len(single_scores)
    bounds: list[tuple[float, TrialRow]] = []
    for row in candidates:
        if len(row.scores) != n or n == 0:
            continue
        low, _ = paired_difference_ci(row.scores, single_scores, seed=seed)
        if low is None:
            continue
        penalty = objective.lam * ((row.cost or 0.0) - single_cost) if objective.mode == "weighted" else 0.0
        bounds.append((low - penalty, row))
    top = max(
        bounds, key=lambda b: (b[0], b[1].value or 0.0, -(b[1].cost or 0.0), -b[1].number), default=None
    )
    chosen = top[1].number if top is not None and top[0] > 1e-12 else None
    gain, low, high = _gain(best, single_scores, seed)
    return Selection(
        chosen_trial=chosen,
        best_trial=best.number,
        dev_items=n,
        gain=gain,
        ci_low=low,
        ci_high=high,
        items_needed=_items_needed(gain, low, high, n) if chosen is None else None,
    )


def _gain(
    row: TrialRow, single: Sequence[float | None], seed: int
) -> tuple[float | None, float | None, float | None]:
    if len(row.scores) != len(single) or not single:
        return None, None, None
    diffs = [a - b for a, b in zip(row.scores, single, strict=True) if a is not None and b is not None]
    if not diffs:
        return None, None, None
    low, high = paired_difference_ci(row.scores, single, seed=seed)
    return sum(diffs) / len(diffs), low, high


def _items_needed(gain: float | None, low: float | None, high: float | None, n: int) -> int | None:
    """Items at which a CI of this width (shrinking as 1/sqrt(n)) would clear a gain of this size."""
    if gain is None or low is None or high is None or gain <= 0 or high <= low:
        return None
    half = (high - low) / 2
    return max(n + 1, math.ceil(n * (half / gain) ** 2))


def verdict(
    winner: str,
    baseline: str,
    winner_scores: Sequence[float | None],
    baseline_scores: Sequence[float | None],
    seed: int,
) -> Verdict | None:
    """The held-out verdict; None when there are no held-out items scored by both."""
    pairs = [
        (a, b) for a, b in zip(winner_scores, baseline_scores, strict=True) if a is not None and b is not None
    ]
    if not pairs:
        return None
    low, high = paired_difference_ci(winner_scores, baseline_scores, seed=seed)
    lo, hi = low or 0.0, high or 0.0
    w = sum(a for a, _ in pairs) / len(pairs)
    b = sum(b for _, b in pairs) / len(pairs)
    outcome: Outcome = "the search paid" if lo > 0 else "worse" if hi < 0 else "no significant gain"
    return Verdict(
        winner=winner,
        baseline=baseline,
        items=len(pairs),
        winner_quality=w,
        baseline_quality=b,
        difference=w - b,
        ci_low=lo,
        ci_high=hi,
        outcome=outcome,
    )
