"""The paired pruner: a trial stops only when it is significantly worse than the best on the same items."""

from __future__ import annotations

import math

import optuna
import pytest
from hypothesis import given
from hypothesis import strategies as st

from archon_compile.compiler.pruning import PairedPruner, signed_rank_p_lower


def test_signed_rank_p_matches_the_exact_law_on_small_samples() -> None:
    # five differences, all negative: the exact one-sided p is 1/32; the normal approximation is close
    assert signed_rank_p_lower([-1, -2, -3, -4, -5]) == pytest.approx(1 / 32, abs=0.01)
    assert signed_rank_p_lower([1, 2, 3, 4, 5]) > 0.95
    assert signed_rank_p_lower([0.0, 0.0]) == 1.0  # no evidence either way
    balanced = signed_rank_p_lower([-1, 1] * 10)
    assert 0.4 < balanced < 0.65


@given(st.lists(st.floats(min_value=-10, max_value=10, allow_nan=False), max_size=60))
def test_signed_rank_p_is_a_probability(diffs: list[float]) -> None:
    p = signed_rank_p_lower(diffs)
    assert 0.0 <= p <= 1.0 and not math.isnan(p)


def _study_with_best(best_scores: list[float], lam_cost: float = 0.0) -> optuna.Study:
    study = optuna.create_study(direction="maximize", pruner=PairedPruner(alpha=0.1, min_items=4))
    best = study.ask()
    best.set_user_attr("eval", {"scores": best_scores})
    study.tell(best, sum(best_scores) / len(best_scores) - lam_cost)
    return study


def _should_prune(study: optuna.Study, scores: list[float], lam_cost: float = 0.0) -> bool:
    trial = study.ask()
    trial.set_user_attr("eval", {"scores": scores})
    trial.report(sum(scores) / len(scores) - lam_cost, step=len(scores))
    return trial.should_prune()


def test_prunes_a_trial_clearly_worse_on_the_same_items() -> None:
    study = _study_with_best([1.0] * 40)
    assert _should_prune(study, [1.0] * 8 + [0.0] * 12)  # 12 of its 20 items lost, none won


def test_keeps_a_trial_level_with_the_best_even_when_it_trails_by_noise() -> None:
    best = [1.0, 0.0] * 20
    study = _study_with_best(best)
    trailing = best[:20]
    trailing[0], trailing[3] = 0.0, 1.0  # one item lost, one won: a tie
    trailing[2] = 0.0  # and one more lost: behind, not significantly
    assert not _should_prune(study, trailing)


def test_waits_for_min_items_and_for_a_complete_trial() -> None:
    study = _study_with_best([1.0] * 40)
    assert not _should_prune(study, [0.0] * 3)  # fewer than min_items scored
    empty = optuna.create_study(direction="maximize", pruner=PairedPruner(min_items=1))
    assert not _should_prune(empty, [0.0] * 10)  # nothing to compare with


def test_a_cost_term_shifts_the_comparison() -> None:
    # same answers as the best, but the best's architecture is much cheaper: worse on the objective
    scores = [1.0, 0.0] * 10
    study = _study_with_best(scores * 2, lam_cost=0.0)
    assert not _should_prune(study, scores, lam_cost=0.0)
    assert _should_prune(study, scores, lam_cost=0.5)


def test_rejects_a_meaningless_alpha() -> None:
    with pytest.raises(ValueError, match="alpha"):
        PairedPruner(alpha=1.5)
