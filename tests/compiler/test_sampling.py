"""The default sampler: candidates (moves from the best trials, random draws, never one already tried) and
the surrogate-guided proposals chosen among them."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from archon_compile.compiler.candidates import draw, neighbours, two_steps, untried
from archon_compile.compiler.marks import EVAL, EvalAttrs
from archon_compile.compiler.sampling import DifficultyOffsets, GuidedSampler, observed_value
from archon_compile.compiler.surrogate import Encoding, GaussianProcess

DISTS = {
    "k": IntDistribution(1, 4),
    "width": IntDistribution(2, 6, step=2),
    "sel": CategoricalDistribution(["none", "voter", "ranker"]),
    "temp": FloatDistribution(0.0, 1.0),
}


def test_neighbours_move_one_axis_one_step() -> None:
    params = {"k": 1, "width": 4, "sel": "voter", "temp": 0.5}
    moved = [{k: v for k, v in n.items() if v != params[k]} for n in neighbours(params, DISTS)]
    assert moved == [{"k": 2}, {"width": 2}, {"width": 6}, {"sel": "none"}, {"sel": "ranker"}]


def test_two_steps_reach_two_axes_at_once() -> None:
    params = {"k": 1, "width": 4, "sel": "voter"}
    changed = [{k for k, v in c.items() if v != params[k]} for c in two_steps(params, DISTS)]
    assert {"k", "sel"} in changed and {"width"} in changed
    assert max(len(c) for c in changed) == 2


def test_draws_stay_in_their_distributions() -> None:
    rng = random.Random(0)
    for _ in range(50):
        d = draw(DISTS, rng)
        assert 1 <= d["k"] <= 4 and d["width"] in (2, 4, 6) and d["sel"] in ("none", "voter", "ranker")
        assert "temp" not in d  # a float axis has no grid to draw a candidate from


def _space(trial: optuna.Trial) -> dict[str, Any]:
    """A conditional space: `width` exists only with 2+ layers."""
    layers = trial.suggest_int("layers", 1, 3)
    width = trial.suggest_int("width", 2, 6, step=2) if layers >= 2 else 0
    return {
        "layers": layers,
        "width": width,
        "k": trial.suggest_int("k", 1, 4),
        "sel": trial.suggest_categorical("sel", ["none", "voter", "ranker"]),
    }


def test_a_tried_candidate_is_recognised_across_switched_axes() -> None:
    study = optuna.create_study()
    study.enqueue_trial({"layers": 1, "k": 2, "sel": "none"})
    study.optimize(lambda t: float(len(_space(t))), n_trials=1)
    tried = study.trials
    # switching a second layer off leaves a stale width: still the tried architecture
    assert untried([{"layers": 1, "width": 4, "k": 2, "sel": "none"}], tried) == []
    # switching it on leaves the width open: new until some width with 2 layers was tried
    assert untried([{"layers": 2, "k": 2, "sel": "none"}], tried) == [{"layers": 2, "k": 2, "sel": "none"}]
    # each candidate once
    assert untried([{"layers": 3, "k": 1, "sel": "none"}] * 3, tried) == [
        {"layers": 3, "k": 1, "sel": "none"}
    ]


def _needle(trial: optuna.Trial) -> float:
    """Smooth in k and layers, with a bonus only for one (k, sel) pair: an optimum that needs two axes."""
    p = _space(trial)
    return (
        0.5
        - 0.05 * abs(p["k"] - 3)
        - 0.03 * abs(p["layers"] - 2)
        + 0.2 * (p["k"] == 3 and p["sel"] == "voter")
    )


def _trials_to_optimum(seed: int, guided: float) -> int:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = GuidedSampler(seed, guided=guided, multivariate=True, group=True, n_startup_trials=3)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    for k in (1, 4, 2):
        study.enqueue_trial({"layers": 1, "k": k, "sel": "none"})
    study.optimize(_needle, n_trials=60, callbacks=[_stop_at(0.69)])
    return len(study.trials)


def _stop_at(value: float) -> Any:
    def callback(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.values and trial.values[0] >= value:
            study.stop()

    return callback


def test_the_surrogate_finds_an_optimum_that_needs_two_axes_sooner_than_tpe() -> None:
    guided = [_trials_to_optimum(seed, 1.0) for seed in range(6)]
    tpe = [_trials_to_optimum(seed, 0.0) for seed in range(6)]
    assert max(guided) < 60  # every guided search reached it
    assert sum(guided) < sum(tpe), (guided, tpe)


def test_guided_proposals_never_repeat_a_tried_architecture() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=GuidedSampler(1, guided=1.0))
    for k in (1, 4, 2):
        study.enqueue_trial({"layers": 1, "k": k, "sel": "none"})
    study.optimize(_needle, n_trials=25)
    seen = [tuple(sorted(t.params.items())) for t in study.trials]
    assert len(set(seen)) == len(seen)


def _proposals(seed: int, guided: float) -> list[dict[str, Any]]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = GuidedSampler(seed, guided=guided, multivariate=True, group=True, n_startup_trials=3)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.enqueue_trial({"layers": 1, "k": 1, "sel": "none"})
    study.optimize(_needle, n_trials=12)
    return [t.params for t in study.trials]


def test_the_search_is_seeded() -> None:
    assert _proposals(3, 0.5) == _proposals(3, 0.5)
    assert _proposals(3, 0.5) != _proposals(4, 0.5)


def test_guided_share_is_checked() -> None:
    with pytest.raises(ValueError, match="guided"):
        GuidedSampler(0, guided=1.5)


def test_a_trial_stopped_early_is_observed_at_its_last_report() -> None:
    study = optuna.create_study(direction="maximize")
    stopped = study.ask()
    stopped.report(0.4, step=5)
    stopped.report(0.3, step=10)
    study.tell(stopped, state=TrialState.PRUNED)
    skipped = study.ask()
    study.tell(skipped, state=TrialState.PRUNED)
    done = study.ask()
    study.tell(done, 0.8)
    assert [observed_value(t) for t in study.trials] == [0.3, None, 0.8]


def _scored(study: optuna.Study, scores: list[float | None], stopped: bool) -> None:
    """A trial with per-item dev scores recorded as the driver records them."""
    trial = study.ask()
    trial.set_user_attr(EVAL, EvalAttrs(scores=scores).model_dump())
    known = [s for s in scores if s is not None]
    if stopped:
        trial.report(sum(known) / len(known), step=len(scores))
        study.tell(trial, state=TrialState.PRUNED)
    else:
        study.tell(trial, sum(known) / len(known))


def test_a_stopped_trial_is_read_on_all_items_by_the_difficulty_of_its_first() -> None:
    study = optuna.create_study(direction="maximize")
    _scored(study, [1.0, 1.0, 0.0, 0.0], stopped=False)  # first two items 0.5 easier than all four
    _scored(study, [1.0, 1.0, None, 1.0, 0.0], stopped=False)  # 1/4 easier; the unscored item is left out
    _scored(study, [1.0, 0.0], stopped=True)
    trials = study.trials
    assert observed_value(trials[2]) == 0.5
    assert observed_value(trials[2], DifficultyOffsets(trials)) == pytest.approx(0.5 - (0.5 + 0.25) / 2)
    assert observed_value(trials[0], DifficultyOffsets(trials)) == 0.5


def test_without_complete_trials_a_stopped_trial_keeps_its_report() -> None:
    study = optuna.create_study(direction="maximize")
    _scored(study, [1.0, 0.0], stopped=True)
    assert observed_value(study.trials[0], DifficultyOffsets(study.trials)) == 0.5


def test_trials_no_surrogate_setting_can_fit_leave_the_proposal_to_tpe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without noise, trials of one architecture with different values make every fit singular."""
    monkeypatch.setattr("archon_compile.compiler.surrogate.NOISES", (0.0,))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=GuidedSampler(0, guided=1.0))
    for value in (0.2, 0.4, 0.6):
        study.add_trial(
            optuna.trial.create_trial(
                params={"k": 2}, distributions={"k": IntDistribution(1, 4)}, value=value
            )
        )
    with pytest.raises(np.linalg.LinAlgError):
        GaussianProcess(
            Encoding({"k": IntDistribution(1, 4)}), [{"k": 2}] * 3, [0.2, 0.4, 0.6], random.Random(0)
        )
    study.optimize(lambda t: t.suggest_int("k", 1, 4) / 4, n_trials=2)
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
