"""The default sampler's local search: one-step neighbours of the incumbent, never one already tried."""

from __future__ import annotations

from typing import Any

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from archon_compile.compiler.neighbours import neighbours, untried
from archon_compile.compiler.sampling import TrialSeededTPE

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


def _objective(trial: optuna.Trial) -> float:
    p = _space(trial)
    return -abs(p["k"] - 3) - abs(p["layers"] - 2) - (p["sel"] != "voter") - abs(p["width"] - 4) / 2


def _proposals(seed: int, local: float) -> list[dict[str, Any]]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = TrialSeededTPE(seed, local=local, multivariate=True, group=True, n_startup_trials=3)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.enqueue_trial({"layers": 1, "k": 1, "sel": "none"})
    study.optimize(_objective, n_trials=12)
    return [t.params for t in study.trials]


def test_local_search_proposes_untried_neighbours_of_the_incumbent() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=TrialSeededTPE(0, local=1.0))
    study.enqueue_trial({"layers": 1, "k": 1, "sel": "none"})
    study.optimize(_objective, n_trials=8)
    for n, trial in enumerate(study.trials[1:], 1):
        earlier = study.trials[:n]
        best = max(earlier, key=lambda t: t.values[0])
        changed = [k for k, v in trial.params.items() if k in best.params and v != best.params[k]]
        assert len(changed) == 1  # one step (a switched-on axis, like `width`, is drawn at random)
        assert all(t.params != trial.params for t in earlier)


def test_the_search_is_seeded() -> None:
    assert _proposals(3, 0.5) == _proposals(3, 0.5)
    assert _proposals(3, 0.5) != _proposals(4, 0.5)


def test_local_probability_is_checked() -> None:
    with pytest.raises(ValueError, match="local"):
        TrialSeededTPE(0, local=1.5)
