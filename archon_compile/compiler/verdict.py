"""An honest winner and a verdict against the best single model.

Selection resists the winner's curse by ranking on a lower confidence bound: every complete trial's
paired dev gain over the best single model (same items, in dev order) gets a 95% bootstrap interval, less
lam x its extra cost; the trial with the highest lower bound is emitted if its mean gain is above zero,
else the single model is (never an architecture worse on dev than the single model). When the emitted
gain is not significant the selection says so, with the items it would take. Measured on
bench/winner_selection.py (6 seeds, 20 dev and 200 held-out items): emitting only significant gains
("lcb") kept the single model on every seed and gave up +0.061 of held-out quality; ranking on the bound
chose the same trial as the highest dev mean on every seed (both +0.061 over the single model on held-out,
both 0.114 lower on held-out than on dev). The curse is real and the held-out verdict reports it; the
bound only breaks near-ties towards well-supported trials.

The verdict is measured on held-out items no selection has seen: the winner against the best single
model, the paired difference with its 95% CI, and one of three outcomes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field

from archon_compile.compiler.objective import Objective
from archon_compile.compiler.trials import TrialRow
from archon_compile.stats import paired_difference_ci

Outcome = Literal["the search paid", "no significant gain", "worse"]
Rule = Literal["lcb-rank", "lcb", "mean"]


class Selection(BaseModel):
    """How the winner was chosen on dev, and whether dev could tell it from the best single model."""

    chosen_trial: int | None = Field(description="the emitted trial; None: the best single model")
    best_trial: int = Field(description="the best trial by the objective (highest dev mean)")
    shown_trial: int = Field(description="the trial the gain below is of: the emitted one, else the best")
    dev_items: int
    gain: float | None = Field(None, description="its mean paired dev gain over the best single model")
    ci_low: float | None = None
    ci_high: float | None = None
    items_needed: int | None = Field(
        None, description="dev items that would make a gain of this size significant (CI ~ 1/sqrt(n))"
    )

    def sentence(self) -> str:
        if self.gain is None or self.ci_low is None or self.ci_high is None:
            return "no trial could be compared with the best single model on dev: the single model is emitted"
        who = f"trial #{self.shown_trial}" + (" is emitted" if self.chosen_trial is not None else "")
        text = (
            f"{who}: dev gain over the best single model {self.gain:+.3f} (95% CI {self.ci_low:+.3f} to "
            f"{self.ci_high:+.3f}, width {self.ci_high - self.ci_low:.3f}, {self.dev_items} items)"
        )
        if self.chosen_trial is None:
            text += "; no trial gains on dev, so the single model is emitted"
        elif self.ci_low <= 0:
            text += "; dev is too small to call this gain significant"
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
    rule: Rule = "lcb-rank",
) -> Selection:
    """The emitted trial, or None for the best single model, by `rule`:
    "lcb-rank" (the default): the candidate with the highest 95% lower bound of its cost-adjusted paired dev
    gain over the single model, emitted if its mean gain is above zero; "lcb": the same, emitted only if
    the bound itself is above zero (significant); "mean": the best trial by the objective, if its gain is
    above zero."""
    n = len(single_scores)
    ranked: list[tuple[float, float, TrialRow]] = []
    for row in candidates:
        if len(row.scores) != n or n == 0:
            continue
        gain, low, _ = _gain(row, single_scores, seed)
        if gain is None or low is None:
            continue
        penalty = objective.lam * ((row.cost or 0.0) - single_cost) if objective.mode == "weighted" else 0.0
        ranked.append((low - penalty, gain - penalty, row))
    if rule == "mean":
        pick = next((r for r in ranked if r[2].number == best.number), None)
    else:
        pick = max(ranked, key=lambda r: (r[0], r[1], -(r[2].cost or 0.0), -r[2].number), default=None)
    passes = pick is not None and (pick[0] if rule == "lcb" else pick[1]) > 1e-12
    chosen = pick[2] if pick is not None and passes else None
    shown = chosen or best
    gain, low, high = _gain(shown, single_scores, seed)
    significant = low is not None and low > 0
    return Selection(
        chosen_trial=chosen.number if chosen else None,
        best_trial=best.number,
        shown_trial=shown.number,
        dev_items=n,
        gain=gain,
        ci_low=low,
        ci_high=high,
        items_needed=None if significant else _items_needed(gain, low, high, n),
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
