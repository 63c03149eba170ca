"""Early stopping that compares a trial with the best one item by item.

Every trial answers the same dev items in the same order, so a running trial and the best finished one
can be compared on exactly the items the running one has scored: a paired test. The median rule
(Optuna's MedianPruner) compares running means across trials instead; once a search has found a good
region, half of the architectures there sit below the median by item noise alone, and it stopped
architectures that would have come out best. This rule stops a trial only when it is significantly
worse than the best (one-sided Wilcoxon signed-rank test on the per-item differences).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState


class PairedPruner(optuna.pruners.BasePruner):
    """Stop a trial whose dev scores so far are significantly below the best complete trial's on the same
    items (p < `alpha`), once it has scored `min_items` items.

    Reads the per-item scores the compiler records on each trial (user attribute `eval.scores`), so it
    serves `compile()`'s weighted objective; a cost term (lam x cost) shifts every item's score by the
    trial's constant, which is read from the reported value.
    """

    def __init__(self, alpha: float = 0.1, min_items: int = 1) -> None:
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}")
        self.alpha = alpha
        self.min_items = max(1, min_items)

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        scores = item_scores(trial)
        step = trial.last_step
        if len(scores) < self.min_items or step is None:
            return False
        best = _best_complete(study, len(scores))
        if best is None:
            return False
        best_scores = item_scores(best)[: len(scores)]
        shift = _cost_shift(scores, trial.intermediate_values[step]) - _cost_shift(
            item_scores(best), best.values[0]
        )
        diffs = [
            s - b - shift for s, b in zip(scores, best_scores, strict=True) if s is not None and b is not None
        ]
        return signed_rank_p_lower(diffs) < self.alpha


def item_scores(trial: FrozenTrial) -> list[float | None]:
    """The per-item dev scores the compiler recorded on `trial`, in dev order (empty if none); None for
    an item the judge could not score (left out of the comparison)."""
    return list(trial.user_attrs.get("eval", {}).get("scores", []))


def _cost_shift(scores: Sequence[float | None], value: float) -> float:
    """What the objective subtracts from mean quality (lam x cost), recovered from a reported value."""
    scored = [s for s in scores if s is not None]
    return (sum(scored) / len(scored) if scored else 0.0) - value


def _best_complete(study: optuna.Study, items: int) -> FrozenTrial | None:
    """The complete trial with the highest value whose scores cover at least `items` items."""
    done = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.values and len(item_scores(t)) >= items
    ]
    return max(done, key=lambda t: t.values[0], default=None)


def signed_rank_p_lower(diffs: Sequence[float]) -> float:
    """One-sided p-value that the differences are centred below zero (Wilcoxon signed-rank, normal
    approximation with tie correction and continuity correction; zero differences dropped). 1.0 when
    no difference is non-zero."""
    nonzero = [d for d in diffs if abs(d) > 1e-12]
    n = len(nonzero)
    if n == 0:
        return 1.0
    ranks = _ranks([abs(d) for d in nonzero])
    w_plus = sum(r for r, d in zip(ranks, nonzero, strict=True) if d > 0)
    mean = n * (n + 1) / 4
    ties = _tie_sizes([abs(d) for d in nonzero])
    var = n * (n + 1) * (2 * n + 1) / 24 - sum(t**3 - t for t in ties) / 48
    if var <= 0:
        return 1.0
    z = (w_plus - mean + 0.5) / math.sqrt(var)
    return 0.5 * math.erfc(-z / math.sqrt(2))


def _ranks(values: Sequence[float]) -> list[float]:
    """Ranks from 1, ties sharing their mean rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _tie_sizes(values: Sequence[float]) -> list[int]:
    counts: dict[float, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return [c for c in counts.values() if c > 1]
