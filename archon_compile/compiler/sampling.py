"""The default sampler and pruner of a search.

The sampler is Optuna's multivariate TPE, seeded per trial: a fresh `TPESampler` whose seed is a function
of (search seed, trial number) proposes each trial, so a run reproduces and workers sharing a study
(whose trial numbers differ) do not all propose the same startup architectures. Composition through
Optuna's public sampler interface, not a subclass reseeding TPE's private random state.
"""

from __future__ import annotations

import random
import warnings
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution
from optuna.samplers import BaseSampler, RandomSampler, TPESampler
from optuna.trial import FrozenTrial, TrialState

from archon_compile.compiler.marks import MarkKind, mark_of
from archon_compile.compiler.neighbours import Params, neighbours, untried
from archon_compile.compiler.pruning import PairedPruner


class TrialSeededTPE(BaseSampler):
    """TPE with a seed per trial, mixed with a local search around the incumbent.

    With probability `local` (once a complete trial exists) a proposal is an untried neighbour of the best
    complete trial (`neighbours.py`: one axis moved one step); parameters the move switches on are drawn
    at random. After a proposal that repeated an evaluated architecture (marked `repeat` by the driver)
    the next proposal is drawn at random: TPE concentrated on one good architecture keeps proposing it,
    and repeats are free for the trial count, so without this step a search could loop on them."""

    def __init__(self, seed: int, local: float = 0.0, **tpe: Any) -> None:
        if not 0.0 <= local <= 1.0:
            raise ValueError(f"local must be in [0, 1], got {local}")
        self._seed = seed
        self._local = local
        self._tpe = tpe
        self._move: Params | None = None
        self._inner: BaseSampler = self._make(seed, explore=False)

    def _make(self, seed: int, explore: bool) -> BaseSampler:
        if explore:
            return RandomSampler(seed=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return TPESampler(seed=seed, **self._tpe)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        mixed = (self._seed * 1_000_003 + trial.number) % 2**32
        trials = study.get_trials(deepcopy=False)
        previous = next((t for t in trials if t.number == trial.number - 1), None)
        mark = mark_of(previous) if previous is not None else None
        repeat = mark is not None and mark.kind == MarkKind.REPEAT
        self._move = None if repeat else self._neighbour(study, trials, random.Random(mixed))
        self._inner = self._make(mixed, explore=repeat or self._move is not None)
        self._inner.before_trial(study, trial)

    def _neighbour(self, study: optuna.Study, trials: list[FrozenTrial], rng: random.Random) -> Params | None:
        """An untried neighbour of the incumbent, with probability `local`; None otherwise."""
        if rng.random() >= self._local:
            return None
        best = incumbent(study, trials, rng)
        if best is None:
            return None
        options = untried(neighbours(best.params, best.distributions), trials)
        return rng.choice(options) if options else None

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        if self._move is not None:
            return {}
        return self._inner.infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self._inner.sample_relative(study, trial, search_space)

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        if self._move is not None and param_name in self._move:
            value = self._move[param_name]
            if _fits(value, param_distribution):
                return value
        return self._inner.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Any) -> None:
        self._inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._inner.reseed_rng()


def incumbent(study: optuna.Study, trials: list[FrozenTrial], rng: random.Random) -> FrozenTrial | None:
    """The best complete trial (one objective), or one of the Pareto front drawn by `rng` (several)."""
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.values]
    if not complete:
        return None
    if len(study.directions) == 1:
        sign = 1 if study.direction == optuna.study.StudyDirection.MAXIMIZE else -1
        return max(complete, key=lambda t: sign * t.values[0])
    return rng.choice(study.best_trials)


def _fits(value: Any, dist: BaseDistribution) -> bool:
    if isinstance(dist, CategoricalDistribution):
        return value in dist.choices
    if isinstance(dist, IntDistribution):
        return isinstance(value, int) and dist.low <= value <= dist.high
    return False


def default_sampler(seed: int, trials: int, local: float = 0.0) -> optuna.samplers.BaseSampler:
    """Multivariate TPE over the conditional space (`group=True`: axes that occur together are modelled
    jointly, so it learns that, say, two models sampled three times and voted is good while neither axis
    alone is), after a short random start; `constant_liar` lets parallel workers see each other's running
    trials. Measured on bench/search_efficiency.py (100-item dev set, seeds 0-19, mean trials to the
    optimum; random search 67.2), with the median pruner: univariate 58.6, multivariate 38.4; with the
    paired pruner and repeats told as failed: 32.0. 8 random startup trials instead of 5: 55.6.

    `local`: the share of proposals that are untried neighbours of the incumbent (0 by default: on the few
    seeds this loaded machine could emulate, neither 0.5 nor 1.0 beat plain TPE on both search benches;
    the README gives the figures, and both benches take `--local` to measure it again).
    """
    return TrialSeededTPE(
        seed,
        local=local,
        multivariate=True,
        group=True,
        constant_liar=True,
        n_startup_trials=max(3, min(5, trials // 3)),
    )


def default_pruner(dev_items: int) -> optuna.pruners.BasePruner:
    """The paired rule (`PairedPruner`) from a quarter of the dev items on. Its alpha trades LM calls for
    the risk of stopping a winner: 0.1 sends 0.389 of the naive calls on bench/search_cost.py; 0.03 sends
    0.461 (over the 0.40 target) but stops fewer winners (bench/search_efficiency.py over seeds 0-39: mean
    33.0 trials instead of 39.4)."""
    return PairedPruner(alpha=0.1, min_items=max(1, dev_items // 4))
