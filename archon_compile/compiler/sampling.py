"""The default sampler and pruner of a search.

The sampler proposes most architectures by Bayesian optimisation, as ARCHON did: a Gaussian process fitted
to the trials so far (`surrogate.py`) scores candidate architectures (`candidates.py`: one- and two-step
moves from the best trials and a few random draws) and, of those of nearly the highest expected
improvement, the one that would send the fewest new LM calls (`pricing.py`) is tried.
Optuna's multivariate TPE proposes the rest: the first trials, before the surrogate has three to learn
from, whenever no untried candidate is left, and when no setting of the surrogate fits the trials.
Every trial is seeded by (search seed, trial number), so a run reproduces and workers sharing a study
(whose trial numbers differ) do not propose alike.
Composition through Optuna's public sampler interface, not a subclass reseeding TPE's private state.
"""

from __future__ import annotations

import random
import warnings
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution
from optuna.samplers import BaseSampler, RandomSampler, TPESampler
from optuna.trial import FrozenTrial, TrialState

from archon_compile.compiler.architect import Architect
from archon_compile.compiler.candidates import Params, draw, two_steps, untried
from archon_compile.compiler.marks import MarkKind, mark_of
from archon_compile.compiler.pricing import CallsMade
from archon_compile.compiler.pruning import PairedPruner, item_scores
from archon_compile.compiler.surrogate import Encoding, GaussianProcess

RANDOM_CANDIDATES = 64  # random draws beside the moves (first version: 256 gave 27.2 trials, 32: 24.4)
FROM_BEST = 3  # the best trials whose one- and two-step moves are candidates
MIN_OBSERVED = 3  # trials with a quality before the surrogate proposes
MAX_OBSERVED = 300  # the best trials the surrogate is fitted to (its cost grows with their cube)
# Expected improvements this close to the highest are told apart by the calls they would send. 0.9 was
# chosen before 0.8 and 0.95 were tried (replay of bench/search_efficiency.py, seeds 0-119, mean trials:
# 11.0 / 11.5 / 12.8; none: 16.3). Dividing the improvement by the calls instead (Snoek et al. 2012's
# improvement per second) found worse architectures on bench/search_cost.py's landscape, even at an
# equal call budget, and needed more trials on a landscape whose optimum is costly (README).
NEAR_BEST = 0.9


class GuidedSampler(BaseSampler):
    """Expected improvement under a Gaussian process, with probability `guided`; seeded TPE otherwise.

    A trial stopped early by the pruner is an observation too, at its last reported value: dropping them
    took bench/search_efficiency.py from 27.2 to 42.4 trials (first version, 256 random candidates); it
    is read on all items by `DifficultyOffsets`.
    After a proposal that repeated an evaluated architecture (marked `repeat` by the driver) the next
    proposal is drawn at random: repeats are free for the trial count, so without this step a search
    could loop on them."""

    def __init__(self, seed: int, guided: float = 1.0, **tpe: Any) -> None:
        if not 0.0 <= guided <= 1.0:
            raise ValueError(f"guided must be in [0, 1], got {guided}")
        self._seed = seed
        self._guided = guided
        self._tpe = tpe
        self._proposal: Params | None = None
        self._inner: BaseSampler = self._make(seed, explore=False)
        self._architect: Architect | None = None

    def price_with(self, architect: Architect) -> None:
        """Price candidates by the calls they would send, through the search's `architect` (the driver
        calls this: Optuna's sampler interface knows parameters, not the architectures they build)."""
        self._architect = architect

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
        rng = random.Random(mixed)
        guided = not repeat and rng.random() < self._guided
        self._proposal = propose(study, trials, rng, self._architect) if guided else None
        self._inner = self._make(mixed, explore=repeat or self._proposal is not None)
        self._inner.before_trial(study, trial)

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        if self._proposal is not None:
            return {}
        return self._inner.infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self._inner.sample_relative(study, trial, search_space)

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        if self._proposal is not None and param_name in self._proposal:
            value = self._proposal[param_name]
            if _fits(value, param_distribution):
                return value
        return self._inner.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Any) -> None:
        self._inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._inner.reseed_rng()


def propose(
    study: optuna.Study, trials: list[FrozenTrial], rng: random.Random, architect: Architect | None = None
) -> Params | None:
    """The untried candidate of highest expected improvement on the first objective (the weighted score;
    quality alone in the Pareto mode), or None (TPE proposes) before `MIN_OBSERVED` trials have a value,
    when every candidate was tried, or when no setting of the surrogate fits the trials. The improvement
    is over the best fitted mean, not the best raw value: a value that the fit reads partly as noise is
    not a bar that only noise could clear.

    With an `architect`, candidates a trial would skip are dropped, and among the candidates whose
    improvement is at least `NEAR_BEST` of the highest, the one that would send the fewest new LM calls
    is proposed (`pricing.py`; `cheapest_near_best`)."""
    sign = 1 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else -1
    offsets = DifficultyOffsets(trials)
    observed = sorted(
        ((t.params, sign * q) for t in trials if (q := observed_value(t, offsets)) is not None),
        key=lambda o: -o[1],
    )
    if len(observed) < MIN_OBSERVED:
        return None
    dists: dict[str, BaseDistribution] = {}
    for t in trials:
        dists.update(t.distributions)
    pool = [draw(dists, rng) for _ in range(RANDOM_CANDIDATES)]
    for params, _ in observed[:FROM_BEST]:
        pool += two_steps(params, dists)
    options, calls = priced(untried(pool, trials), trials, architect)
    if not options:
        return None
    fitted = observed[:MAX_OBSERVED]
    try:
        gp = GaussianProcess(Encoding(dists), [p for p, _ in fitted], [q for _, q in fitted], rng)
    except np.linalg.LinAlgError:
        return None
    return options[cheapest_near_best(gp.expected_improvement(options), calls)]


def cheapest_near_best(improvement: np.ndarray, calls: np.ndarray) -> int:
    """The index of the fewest `calls` among the improvements of at least `NEAR_BEST` of the highest;
    the higher improvement breaks a tie (with no calls priced: the highest improvement)."""
    near = improvement >= NEAR_BEST * improvement.max()
    return int(np.lexsort((-improvement, np.where(near, calls, np.inf)))[0])


def priced(
    candidates: list[Params], trials: list[FrozenTrial], architect: Architect | None
) -> tuple[list[Params], np.ndarray]:
    """The candidates a trial would run, and the new calls per query of each (all 0 without an
    architect: every candidate is kept, none is priced)."""
    if architect is None:
        return candidates, np.zeros(len(candidates))
    made = CallsMade.of_trials(trials)
    specs = [(c, spec) for c in candidates if (spec := architect.candidate(c)) is not None]
    return [c for c, _ in specs], np.array([float(made.new_calls(spec)) for _, spec in specs])


class DifficultyOffsets:
    """How much easier the first n dev items are than the whole dev set, on average over the complete
    trials. Every trial scores the dev items in the same order, so a trial stopped after n items is
    observed at its last report plus this offset: its estimated value on all items. Its raw report is
    biased by the difficulty of those first items; on bench/search_efficiency.py's seeds 40-79 the first
    25 items were easy, stopped trials were read at 0.80 above complete ones at 0.78, and the surrogate
    spent its trials on their neighbours: 35.4 trials to the optimum, 29.4 with the offset (measured
    before the prior on the surrogate's weights)."""

    def __init__(self, trials: list[FrozenTrial]) -> None:
        self._complete = [
            scored for t in trials if t.state == TrialState.COMPLETE and (scored := item_scores(t))
        ]
        self._cache: dict[int, float] = {}

    def __call__(self, items: int) -> float:
        if items not in self._cache:
            gaps = [g for s in self._complete if (g := _gap(s, items)) is not None]
            self._cache[items] = sum(gaps) / len(gaps) if gaps else 0.0
        return self._cache[items]


def _gap(scores: list[float | None], items: int) -> float | None:
    """Mean score on all items minus mean score on the first `items` (None if either has no score)."""
    every = [s for s in scores if s is not None]
    first = [s for s in scores[:items] if s is not None]
    if not every or not first:
        return None
    return sum(every) / len(every) - sum(first) / len(first)


def observed_value(t: FrozenTrial, offsets: DifficultyOffsets | None = None) -> float | None:
    """A trial's first objective: its value when complete; when stopped early, its last report plus the
    difficulty offset of the items it scored (`DifficultyOffsets`; none without `offsets`)."""
    if t.state == TrialState.COMPLETE and t.values:
        return t.values[0]
    if t.state == TrialState.PRUNED and t.intermediate_values:
        scored = max(t.intermediate_values)  # the driver reports after each minibatch at step = items scored
        return t.intermediate_values[scored] + (offsets(scored) if offsets is not None else 0.0)
    return None


def _fits(value: Any, dist: BaseDistribution) -> bool:
    if isinstance(dist, CategoricalDistribution):
        return value in dist.choices
    if isinstance(dist, IntDistribution):
        return isinstance(value, int) and dist.low <= value <= dist.high
    return False


def default_sampler(seed: int, trials: int, guided: float = 1.0) -> optuna.samplers.BaseSampler:
    """`GuidedSampler`; its TPE is multivariate over the conditional space (`group=True`: axes that occur
    together are modelled jointly), with a short random start and `constant_liar` so that parallel workers
    see each other's running trials. Measured on bench/search_efficiency.py (100-item dev set, seeds 0-39,
    mean trials to the optimum; random search 77.0): TPE alone (`guided=0`) 39.4, every proposal guided
    12.8 (before near-ties went to the fewest new calls: 14.8; before the averaged improvement and the
    trend of `GaussianProcess`: 22.5; the first surrogate: 23.5; with half the proposals guided: 35.3).
    Before the surrogate, on seeds 0-19 (random 67.2): univariate TPE with the median pruner 58.6,
    multivariate 38.4; with the paired pruner and repeats told as failed: 32.0.
    """
    return GuidedSampler(
        seed,
        guided=guided,
        multivariate=True,
        group=True,
        constant_liar=True,
        n_startup_trials=max(3, min(5, trials // 3)),
    )


def default_pruner(dev_items: int) -> optuna.pruners.BasePruner:
    """The paired rule (`PairedPruner`) from a quarter of the dev items on. Its alpha trades LM calls for
    the risk of stopping a winner (measured with TPE alone, before the surrogate): 0.1 sends 0.389 of the
    naive calls on bench/search_cost.py; 0.03 sends 0.461 but stops fewer winners
    (bench/search_efficiency.py over seeds 0-39: mean 33.0 trials instead of 39.4)."""
    return PairedPruner(alpha=0.1, min_items=max(1, dev_items // 4))
