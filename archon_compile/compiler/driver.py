"""The ask/tell driver: power ranking, then trials (sample -> spec -> budget check -> dev minibatches)
until N counted trials exist across all workers or a budget is hit.

Cheap: one disk cache for the whole run (trials reuse the ranking's and each other's answers); an
architecture already evaluated is not evaluated again, and its repeat is not counted as a trial (the
sampler is told it failed and asked again); weak trials stop after a dev minibatch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState

from archon_compile.compiler.architect import Architect
from archon_compile.compiler.budget import Budget, Spent
from archon_compile.compiler.events import TrialEvent, trial_event
from archon_compile.compiler.marks import (
    ARCH,
    EVAL,
    WORKER,
    ArchAttrs,
    EvalAttrs,
    Mark,
    MarkKind,
    eval_of,
    mark_of,
    set_mark,
)
from archon_compile.compiler.objective import (
    Evaluation,
    Objective,
    StopTrial,
    evaluate,
    evaluate_dev,
    pareto_should_prune,
)
from archon_compile.compiler.power import PowerRanking, load_or_rank, rank_models
from archon_compile.compiler.sampling import GuidedSampler, default_pruner
from archon_compile.compiler.space import ArchonSpace
from archon_compile.compiler.storage import THIS_WORKER, fail_stale, heartbeat, open_storage, quiet, slot_free
from archon_compile.compiler.trials import evaluated_twin, finished_curves, spec_hash
from archon_compile.errors import ArchonError
from archon_compile.lm.base import LM
from archon_compile.program import Program, with_endpoints
from archon_compile.runtime.cache import Cache
from archon_compile.runtime.calls import RetryPolicy
from archon_compile.spec import ArchitectureSpec
from archon_compile.tasks.base import Item, Judge, Task

MAX_CONSECUTIVE_SKIPS = 200
MAX_ERROR_RATE = 0.25
FAILED_IN_A_ROW = 3


class CompileError(ArchonError, RuntimeError):
    """A compile that cannot start or produced nothing usable; the message says what to change."""


class TrialFailed(Exception):
    """Raised between minibatches when a trial's errors exceed the error budget."""

    def __init__(self, reason: str, error: str | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error = error


@dataclass
class Search:
    task: Task
    models: list[str]
    space: ArchonSpace
    trials: int
    budget: Budget
    objective: Objective
    seed: int
    lms: Mapping[str, LM] | None
    api_bases: dict[str, str]
    concurrency: int
    retry: RetryPolicy | None
    cache: Cache
    progress: Callable[[TrialEvent], None] | None
    max_error_rate: float = MAX_ERROR_RATE
    judge: Judge | None = None
    dev: list[Item] = field(default_factory=list)
    heldout: list[Item] = field(default_factory=list)
    study: optuna.Study = field(init=False)
    storage: RDBStorage = field(init=False)
    ranking: PowerRanking = field(init=False)
    started: float = field(default_factory=time.monotonic)
    before: Spent = field(default_factory=Spent)
    stop_reason: str | None = None

    # -- setup -----------------------------------------------------------------------------------
    def split(self, dev_fraction: float, dev_size: int | None, heldout_size: int | None) -> None:
        self.dev, self.heldout = self.task.split(self.seed, dev_fraction, dev_size, heldout_size)
        if not self.dev:
            raise CompileError(f"task {self.task.name!r} has no items for a dev split")

    def open(
        self,
        url: str,
        name: str,
        sampler: optuna.samplers.BaseSampler,
        pruner: optuna.pruners.BasePruner | None,
        prior: bool,
    ) -> None:
        self.storage = open_storage(url)
        self.study = optuna.create_study(
            storage=self.storage,
            study_name=name,
            load_if_exists=True,
            directions=self.objective.directions,
            sampler=sampler,
            pruner=pruner or default_pruner(len(self.dev)),
        )
        self._check_config()
        self.ranking, _ = load_or_rank(self.study, self._rank)
        self._check_ranking()
        if isinstance(sampler, GuidedSampler):
            sampler.price_with(self.architect())
        if prior:
            self._enqueue_prior()

    def _enqueue_prior(self) -> None:
        """Queue the prior architectures once per study: an architecture already tried or queued (by an
        earlier run or another worker) is not queued again."""
        with quiet():
            for params in self.space.prior(self.ranking.order):
                self.study.enqueue_trial(params, user_attrs={"prior": True}, skip_if_exists=True)

    def _check_config(self) -> None:
        """A resumed study must search the same thing, or its trials would mean something else."""
        config = {
            "task": self.task.name,
            "models": self.models,
            "space": self.space.model_dump(mode="json"),
            "objective": self.objective.model_dump(mode="json"),
            "seed": self.seed,
            "dev": [i.id for i in self.dev],
        }
        stored = self.study.user_attrs.get("config")
        if stored is None:
            self.study.set_user_attr("config", config)
            return
        changed = sorted(k for k in config if stored.get(k) != config[k])
        if changed:
            raise CompileError(
                f"study {self.study.study_name!r} was created with different {', '.join(changed)}; "
                "rerun with the original settings to resume it, or pass a new study name "
                "(--study NAME) to start another"
            )

    def _check_ranking(self) -> None:
        """A ranking in which every model failed on every dev item measured nothing: stop, say why."""
        if all(s.errors >= len(self.dev) for s in self.ranking.scores):
            first = next((s.first_error for s in self.ranking.scores if s.first_error), "unknown")
            raise CompileError(
                f"every model failed on every dev item in the power ranking, so nothing can be measured; "
                f"the first error: {first}. Check the endpoints (--api-base, --judge-api-base) and keys"
            )

    def _rank(self) -> PowerRanking:
        return rank_models(
            self.models,
            lambda spec: evaluate(self.task, self.program(spec), self.dev, self.judge),
            self.space.temperature,
            self.space.max_tokens,
        )

    def program(self, spec: ArchitectureSpec, provenance: Mapping[str, Any] | None = None) -> Program:
        return Program(
            with_endpoints(spec, self.api_bases),
            lms=self.lms,
            cache=self.cache,
            concurrency=self.concurrency,
            retry=self.retry,
            seed=self.seed,
            provenance=provenance,
        )

    # -- the worker loop -------------------------------------------------------------------------
    def run(self) -> None:
        """Ask, check the slot and the search budget, run, tell; until N trials exist or a budget is hit.

        The study is read once per trial, right after `ask` (so trials other workers created before this
        one are seen); spending by other workers during a trial is seen at the next trial.
        """
        skips = failed = 0
        while True:
            fail_stale(self.study)
            with quiet():
                trial = self.study.ask()
            trial.set_user_attr(WORKER, THIS_WORKER)
            if EVAL in trial.user_attrs:  # a dead worker's rerun: its calls are counted on that trial
                trial.set_user_attr(EVAL, EvalAttrs().model_dump())
            others = [t for t in self.study.get_trials(deepcopy=False) if t.number != trial.number]
            self.before = self.spent(others)
            self.stop_reason = self.budget.exhausted(self.before)
            if self.stop_reason or not slot_free(others, trial.number, self.trials):
                set_mark(trial, Mark(kind=MarkKind.SURPLUS, reason=self.stop_reason or "no trial slot left"))
                self.study.tell(trial, state=TrialState.FAIL)
                return
            with heartbeat(self.storage, trial):
                state, values = self._run_trial(trial, others)
            self.study.tell(trial, values, state=state)
            told = next(t for t in self.study.get_trials(deepcopy=False) if t.number == trial.number)
            mark = mark_of(told)
            skips = skips + 1 if mark is not None and not mark.counted else 0
            if mark is None or mark.counted:
                failed = failed + 1 if mark is not None and mark.kind == MarkKind.FAILED else 0
            self._report(told, others)
            if failed >= FAILED_IN_A_ROW and mark is not None:
                raise CompileError(
                    f"the last {failed} trials failed their error budget, so the search measures nothing; "
                    f"the last one: {mark.reason}. Fix the cause (endpoints, keys, judge) and rerun the "
                    "same command to resume"
                )
            if skips >= MAX_CONSECUTIVE_SKIPS:
                self.stop_reason = (
                    f"{skips} proposals in a row were invalid, over budget or already evaluated: widen "
                    "the space or the per-query budget"
                )
                return
            if self.stop_reason:
                return

    def _run_trial(
        self, trial: optuna.Trial, others: list[FrozenTrial]
    ) -> tuple[TrialState, list[float] | None]:
        choice = self.space.suggest(trial, self.ranking.order)
        built = self.architect().build(choice, name=f"{self.task.name}-trial-{trial.number}")
        if isinstance(built, str):
            return _skip(trial, built)
        spec, tokens = built
        digest = spec_hash(spec)
        same = evaluated_twin(others, digest)
        if same is not None:
            return _repeat(trial, same)
        arch = ArchAttrs(
            spec=spec.model_dump(mode="json"),
            spec_hash=digest,
            cost=self.objective.cost_of(spec, tokens),
            calls_per_query=spec.calls_per_query(),
            tokens=tokens,
        )
        trial.set_user_attr(ARCH, arch.model_dump(mode="json"))
        return self._evaluate(trial, spec, arch.cost, others)

    def _evaluate(
        self, trial: optuna.Trial, spec: ArchitectureSpec, cost: float, others: list[FrozenTrial]
    ) -> tuple[TrialState, list[float] | None]:
        def after_batch(ev: Evaluation) -> str | None:
            self._record(trial, spec, ev)
            if self.objective.mode == "pareto" and pareto_should_prune(
                len(ev.scores), ev.quality, cost, finished_curves(others)
            ):
                return (
                    f"stopped after {len(ev.scores)} of {len(self.dev)} dev items: below the median quality "
                    "at no lower cost"
                )
            self._check_errors(ev)
            now = self.before.model_copy(update={"wall_time_s": time.monotonic() - self.started})
            self.stop_reason = self.budget.exhausted(now + ev.usage)
            return self.stop_reason

        try:
            ev = evaluate_dev(
                self.task, self.program(spec), self.dev, self.judge, self.objective, cost, trial, after_batch
            )
        except StopTrial as stop:
            failing = self._over_budget(stop.evaluation, len(stop.evaluation.records))
            if failing is not None:  # stopped early, but mostly by its errors: that is a failure
                set_mark(trial, Mark(kind=MarkKind.FAILED, reason=failing.reason, error=failing.error))
                return TrialState.FAIL, None
            set_mark(trial, Mark(kind=MarkKind.STOPPED, reason=stop.reason))
            return TrialState.PRUNED, None
        except TrialFailed as fail:
            set_mark(trial, Mark(kind=MarkKind.FAILED, reason=fail.reason, error=fail.error))
            return TrialState.FAIL, None
        return TrialState.COMPLETE, self.objective.values(ev.quality, cost)

    def _check_errors(self, ev: Evaluation) -> None:
        """The error budget: a trial fails as soon as its failed items (program or judge) exceed
        `max_error_rate` of the dev set; it is not scored 0 and is never a winner. Counted against the whole
        dev set, so one error in a small first minibatch does not fail a trial that would stay in budget;
        a trial stopped early is failed instead if its errors exceed the rate of the items it scored."""
        failing = self._over_budget(ev, len(self.dev))
        if failing is not None:
            raise failing

    def _over_budget(self, ev: Evaluation, base: int) -> TrialFailed | None:
        failed = ev.errors + ev.judge_errors
        if failed <= self.max_error_rate * base:
            return None
        first = next((r.program_error or r.judge_error for r in ev.records if r.failed), None)
        return TrialFailed(
            f"failed: {failed} of {len(ev.records)} dev items errored ({ev.errors} program, "
            f"{ev.judge_errors} judge; the budget is {self.max_error_rate:.0%}): {(first or '')[:300]}",
            first,
        )

    def _record(self, trial: optuna.Trial, spec: ArchitectureSpec, ev: Evaluation) -> None:
        """One write per minibatch: what the trial scored and sent so far (read by budgets and reports)."""
        queries = sum(len(item.turns) for item in self.dev[: len(ev.scores)])
        attrs = EvalAttrs(
            dev_quality=ev.quality,
            dev_items=len(ev.scores),
            dev_curve=ev.curve,
            usage=ev.usage,
            naive_calls=spec.calls_per_query() * queries,
            scores=ev.scores,
            program_errors=ev.errors,
            judge_errors=ev.judge_errors,
            first_error=next((r.program_error or r.judge_error for r in ev.records if r.failed), None),
        )
        trial.set_user_attr(EVAL, attrs.model_dump())

    def architect(self) -> Architect:
        return Architect(self.space, self.ranking.order, self.budget, self.query_tokens())

    def query_tokens(self) -> int:
        """Mean tokens of a dev conversation (about 4 characters a token)."""
        chars = [sum(len(t) for t in item.turns) + len(self.task.system_prompt or "") for item in self.dev]
        return max(1, sum(chars) // (4 * len(chars)))

    def spent(self, trials: Sequence[FrozenTrial]) -> Spent:
        total = Spent(calls=self.ranking.calls, cost_usd=self.ranking.usd)
        for t in trials:
            ev = eval_of(t)
            if ev is not None:
                total += ev.usage
        return total.model_copy(update={"wall_time_s": time.monotonic() - self.started})

    def _report(self, t: FrozenTrial, others: Sequence[FrozenTrial]) -> None:
        if self.progress is not None:
            everyone = [*others, t]
            self.progress(trial_event(t, everyone, self.trials, self.spent(everyone).calls))


def _skip(trial: optuna.Trial, reason: str) -> tuple[TrialState, None]:
    set_mark(trial, Mark(kind=MarkKind.SKIPPED, reason=reason))
    return TrialState.PRUNED, None


def _repeat(trial: optuna.Trial, same: FrozenTrial) -> tuple[TrialState, list[float] | None]:
    """A proposal of an architecture already evaluated costs no LM call and brings no new information,
    so it is not counted as a trial (like a skipped one) and is told to the sampler as failed: told as a
    second observation, it would weigh that architecture twice and pull the sampler back to it. It
    carries no `arch` and no `eval`, so it is neither a candidate for the best nor in any count."""
    reason = f"same architecture as trial {same.number}"
    set_mark(trial, Mark(kind=MarkKind.REPEAT, reason=reason, same_as=same.number))
    return TrialState.FAIL, None
