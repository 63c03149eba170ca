"""The Optuna driver: power ranking, then trials (sample -> spec -> budget check -> dev minibatches),
then the best architecture on held-out, frozen with its provenance.

Robustness, in the order things can go wrong:
- Resumable: the study lives in RDB storage (SQLite under `runs/<study>/` by default). A killed worker's
  running trial is failed and re-enqueued with the same parameters by the next run (same host: its pid
  is gone; any host: its heartbeat stopped), and its finished LM calls are in the run's disk cache.
- Several workers share one study: each asked trial takes a slot only if fewer than `trials` counted
  trials come before it (trial numbers are assigned atomically by the storage), so N trials are
  finished in total, never more.
- Cheap: one disk cache for the whole run (trials reuse the ranking's and each other's answers); an
  architecture already evaluated is not evaluated again, and its repeat is not counted as a trial (the
  sampler is told it failed and asked again); weak trials stop after a dev minibatch.

The default search (`default_sampler`, `prior`): a few paper-informed architectures first
(`ArchonSpace.prior`), then seeded multivariate TPE over the conditional space, with a paired pruner
(`PairedPruner`: a trial stops when it is significantly worse than the best on the same dev items).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy.exc
from optuna.samplers import TPESampler
from optuna.trial import FrozenTrial, TrialState
from pydantic import BaseModel
from sqlalchemy.engine import make_url

from archon_compile.compiler.budget import Budget, Spent, TokenEstimate, estimate_tokens
from archon_compile.compiler.objective import (
    Evaluation,
    Objective,
    StopTrial,
    evaluate,
    evaluate_dev,
    pareto_should_prune,
)
from archon_compile.compiler.power import PowerRanking, load_or_rank, rank_models, single_model_spec
from archon_compile.compiler.pruning import PairedPruner
from archon_compile.compiler.result import CompileResult, Counts, HeldOut, Report, TrialRow
from archon_compile.compiler.space import ArchonSpace
from archon_compile.errors import ArchonError
from archon_compile.evaluation.judge import JudgeRequired, make_judge
from archon_compile.lm.base import LM
from archon_compile.program import Program, with_endpoints
from archon_compile.runtime.cache import Cache
from archon_compile.runtime.calls import RetryPolicy
from archon_compile.spec import ArchitectureSpec, SpecError
from archon_compile.tasks.base import Item, Judge, Task

HEARTBEAT_S = 10
GRACE_S = 60
MAX_CONSECUTIVE_SKIPS = 200
_DONE = (TrialState.COMPLETE, TrialState.PRUNED)
_COUNTED = (*_DONE, TrialState.RUNNING, TrialState.WAITING)
_WORKER = {"host": socket.gethostname(), "pid": os.getpid()}


class CompileError(ArchonError, RuntimeError):
    """A compile that cannot start or produced nothing usable; the message says what to change."""


class TrialEvent(BaseModel):
    """Sent to `progress` after every trial this worker finishes."""

    number: int
    state: str
    dev_quality: float | None
    note: str | None
    finished: int
    total: int


class ArchAttrs(BaseModel):
    """A trial's architecture as stored in the study (user attribute `arch`), written before any call."""

    spec: dict[str, Any]
    spec_hash: str
    cost: float
    calls_per_query: int
    tokens: TokenEstimate


class EvalAttrs(BaseModel):
    """A trial's dev evaluation so far (user attribute `eval`), rewritten after every minibatch."""

    dev_quality: float = 0.0
    dev_items: int = 0
    dev_curve: list[tuple[int, float]] = []
    calls: int = 0
    cache_hits: int = 0
    usd: float = 0.0
    naive_calls: int = 0
    scores: list[float | None] = []


def _arch(t: FrozenTrial) -> ArchAttrs | None:
    return ArchAttrs.model_validate(t.user_attrs["arch"]) if "arch" in t.user_attrs else None


def _eval(t: FrozenTrial) -> EvalAttrs:
    return EvalAttrs.model_validate(t.user_attrs.get("eval", {}))


class _SeededTPE(TPESampler):
    """TPE whose randomness is a function of (seed, trial number): a run reproduces, and workers sharing a
    study (whose trial numbers differ) do not all propose the same startup architectures.

    After a proposal that repeated an evaluated architecture (the driver marks it `duplicate_of`), the
    next proposal is drawn at random: TPE concentrated on one good architecture keeps proposing it, and
    repeats are free for the trial count, so without this step a search could loop on them.
    """

    def __init__(self, seed: int, **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        self._base_seed = seed
        self._explore = False

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        mixed = (self._base_seed * 1_000_003 + trial.number) % 2**32
        self._rng.rng.seed(mixed)
        self._random_sampler._rng.rng.seed(mixed)
        previous = (
            study._storage.get_trial_id_from_study_id_trial_number(study._study_id, trial.number - 1)
            if trial.number
            else None
        )
        self._explore = previous is not None and "duplicate_of" in study._storage.get_trial_user_attrs(
            previous
        )
        super().before_trial(study, trial)

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, optuna.distributions.BaseDistribution]:
        return {} if self._explore else super().infer_relative_search_space(study, trial)

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: optuna.distributions.BaseDistribution,
    ) -> Any:
        if self._explore:
            return self._random_sampler.sample_independent(study, trial, param_name, param_distribution)
        return super().sample_independent(study, trial, param_name, param_distribution)


def default_sampler(seed: int, trials: int) -> optuna.samplers.BaseSampler:
    """Multivariate TPE over the conditional space (`group=True`: axes that occur together are modelled
    jointly, so it learns that, say, two models sampled three times and voted is good while neither axis
    alone is), after a short random start; `constant_liar` lets parallel workers see each other's running
    trials. Measured on bench/search_efficiency.py (100-item dev set, seeds 0-19, mean trials to the
    optimum; random search 67.2), with the median pruner: univariate 58.6, multivariate 38.4; with the
    paired pruner and repeats told as failed (`_repeat`): 32.0. 8 random startup trials instead of 5: 55.6.
    """
    with _quiet():
        return _SeededTPE(
            seed,
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


def compile(
    task: str | Task,
    models: Sequence[str],
    *,
    space: ArchonSpace | None = None,
    trials: int = 30,
    budget: Budget | None = None,
    objective: Objective | None = None,
    seed: int = 0,
    storage: str | None = None,
    study: str | None = None,
    run_dir: str | Path | None = None,
    lms: Mapping[str, LM] | None = None,
    api_bases: Mapping[str, str] | None = None,
    data: str | None = None,
    judge: str | None = None,
    dev_fraction: float = 0.2,
    dev_size: int | None = None,
    heldout_size: int | None = None,
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
    prior: bool | None = None,
    concurrency: int = 16,
    retry: RetryPolicy | None = None,
    progress: Callable[[TrialEvent], None] | None = None,
) -> CompileResult:
    """Search ARCHON architectures over `models` for `task`; return the best one, frozen, with a report.

    `task` is a registered name (`data` replaces its download) or a Task; `lms` maps model strings to LM
    instances (scripted pools); `api_bases` maps model strings to endpoints (vLLM, llama.cpp, Ollama
    servers), recorded in the artifact. Rerunning the same call resumes the study; several processes given the
    same `storage` and `study` share the work. `prior` enqueues the paper-informed architectures of
    `ArchonSpace.prior` as the first trials (each counts as a trial); by default (None) only with the
    default sampler: a sampler passed as `sampler=` gets every proposal unless `prior=True`.
    """
    if trials < 1:
        raise CompileError(f"trials must be at least 1, got {trials}")
    models = list(dict.fromkeys(models))
    if not models:
        raise CompileError("give at least one model (--models M1,M2,...)")
    task_obj = _resolve_task(task, data)
    name = study or task_obj.name
    folder = Path(run_dir) if run_dir is not None else Path("runs") / name
    folder.mkdir(parents=True, exist_ok=True)
    search = _Search(
        task=task_obj,
        models=models,
        space=space or ArchonSpace.for_task(task_obj),
        trials=trials,
        budget=budget or Budget(),
        objective=objective or Objective(),
        seed=seed,
        lms=lms,
        api_bases=dict(api_bases or {}),
        concurrency=concurrency,
        retry=retry,
        cache=Cache(folder / "lm-cache.sqlite"),
        progress=progress,
    )
    search.split(dev_fraction, dev_size, heldout_size)
    search.judge = _make_judge(task_obj, judge, search)
    url = storage or f"sqlite:///{(folder / 'study.sqlite3').resolve()}"
    use_prior = sampler is None if prior is None else prior
    search.open(url, name, sampler or default_sampler(seed, trials), pruner, use_prior)
    search.run()
    return search.finish(url)


def _resolve_task(task: str | Task, data: str | None) -> Task:
    if isinstance(task, Task):
        return task
    from archon_compile.tasks import registry

    try:
        return registry.get(task, data)
    except KeyError as exc:
        raise CompileError(str(exc.args[0])) from None


def _make_judge(task: Task, model: str | None, search: _Search) -> Judge | None:
    """The evaluation engine's judge, on the search's endpoints, injected LMs, cache and retry policy."""
    try:
        return make_judge(
            task,
            model,
            api_bases=search.api_bases,
            lms=search.lms,
            cache=search.cache,
            retry=search.retry,
            concurrency=search.concurrency,
        )
    except JudgeRequired as exc:
        raise CompileError(str(exc)) from None


@dataclass
class _Search:
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
    judge: Judge | None = None
    dev: list[Item] = field(default_factory=list)
    heldout: list[Item] = field(default_factory=list)
    study: optuna.Study = field(init=False)
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
        storage = _open_storage(url)
        self.study = optuna.create_study(
            storage=storage,
            study_name=name,
            load_if_exists=True,
            directions=self.objective.directions,
            sampler=sampler,
            pruner=pruner or default_pruner(len(self.dev)),
        )
        self._check_config()
        self.ranking, _ = load_or_rank(self.study, self._rank)
        if prior:
            self._enqueue_prior()

    def _enqueue_prior(self) -> None:
        """Queue the prior architectures once per study: an architecture already tried or queued (by an
        earlier run or another worker) is not queued again."""
        with _quiet():
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
        skips = 0
        while True:
            _reap_dead_workers(self.study)
            with _quiet():
                optuna.storages.fail_stale_trials(self.study)
                trial = self.study.ask()
            trial.set_user_attr("worker", _WORKER)
            others = [t for t in self.study.get_trials(deepcopy=False) if t.number != trial.number]
            self.before = self.spent(others)
            self.stop_reason = self.budget.exhausted(self.before)
            if self.stop_reason or not _slot_free(others, trial.number, self.trials):
                trial.set_user_attr("surplus", True)
                self.study.tell(trial, state=TrialState.FAIL)
                return
            with _heartbeat(self.study, trial._trial_id):
                state, values = self._run_trial(trial, others)
            self.study.tell(trial, values, state=state)
            skips = skips + 1 if "skipped" in trial.user_attrs else 0
            self._report(trial, others)
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
        try:
            spec = self.space.build(choice, self.ranking.order, name=f"{self.task.name}-trial-{trial.number}")
        except SpecError as exc:
            return _skip(trial, f"invalid architecture: {str(exc).splitlines()[-1].strip(' -')}")
        tokens = estimate_tokens(spec, self._query_tokens())
        over = self.budget.excludes(spec, tokens)
        if over:
            return _skip(trial, over)
        digest = _spec_hash(spec)
        same = _evaluated_twin(others, digest)
        if same is not None:
            return _repeat(trial, same)
        arch = ArchAttrs(
            spec=spec.model_dump(mode="json"),
            spec_hash=digest,
            cost=self.objective.cost_of(spec, tokens),
            calls_per_query=spec.calls_per_query(),
            tokens=tokens,
        )
        trial.set_user_attr("arch", arch.model_dump(mode="json"))
        return self._evaluate(trial, spec, arch.cost, others)

    def _evaluate(
        self, trial: optuna.Trial, spec: ArchitectureSpec, cost: float, others: list[FrozenTrial]
    ) -> tuple[TrialState, list[float] | None]:
        def after_batch(ev: Evaluation) -> str | None:
            self._record(trial, spec, ev)
            if self.objective.mode == "pareto" and pareto_should_prune(
                len(ev.scores), ev.quality, cost, _finished_curves(others)
            ):
                return (
                    f"stopped after {len(ev.scores)} of {len(self.dev)} dev items: below the median quality "
                    "at no lower cost"
                )
            now = self.before.model_copy(update={"wall_time_s": time.monotonic() - self.started})
            self.stop_reason = self.budget.exhausted(now.plus(ev.usage))
            return self.stop_reason

        try:
            ev = evaluate_dev(
                self.task, self.program(spec), self.dev, self.judge, self.objective, cost, trial, after_batch
            )
        except StopTrial as stop:
            trial.set_user_attr("stopped", stop.reason)
            return TrialState.PRUNED, None
        return TrialState.COMPLETE, self.objective.values(ev.quality, cost)

    def _record(self, trial: optuna.Trial, spec: ArchitectureSpec, ev: Evaluation) -> None:
        """One write per minibatch: what the trial scored and sent so far (read by budgets and reports)."""
        queries = sum(len(item.turns) for item in self.dev[: len(ev.scores)])
        attrs = EvalAttrs(
            dev_quality=ev.quality,
            dev_items=len(ev.scores),
            dev_curve=ev.curve,
            calls=ev.usage.calls,
            cache_hits=ev.usage.cache_hits,
            usd=ev.usage.cost_usd,
            naive_calls=spec.calls_per_query() * queries,
            scores=ev.scores,
        )
        trial.set_user_attr("eval", attrs.model_dump())

    def _query_tokens(self) -> int:
        """Mean tokens of a dev conversation (about 4 characters a token)."""
        chars = [sum(len(t) for t in item.turns) + len(self.task.system_prompt or "") for item in self.dev]
        return max(1, sum(chars) // (4 * len(chars)))

    def spent(self, trials: Sequence[FrozenTrial]) -> Spent:
        calls, usd = self.ranking.calls, self.ranking.usd
        for t in trials:
            ev = _eval(t)
            calls += ev.calls
            usd += ev.usd
        return Spent(calls=calls, usd=usd, wall_time_s=time.monotonic() - self.started)

    def _report(self, trial: optuna.Trial, others: Sequence[FrozenTrial]) -> None:
        if self.progress is None:
            return
        t = self.study._storage.get_trial(trial._trial_id)
        done = [x for x in [*others, t] if x.state in _DONE and "skipped" not in x.user_attrs]
        self.progress(
            TrialEvent(
                number=t.number,
                state=t.state.name,
                dev_quality=_eval(t).dev_quality if "eval" in t.user_attrs else None,
                note=_note(t),
                finished=len(done),
                total=self.trials,
            )
        )

    # -- the result ------------------------------------------------------------------------------
    def finish(self, url: str) -> CompileResult:
        rows = _rows(self.study, self.objective)
        complete = [r for r in rows if r.state == "COMPLETE" and not _is_skip(r)]
        if not complete:
            notes = sorted({r.note or r.state for r in rows})[:5]
            raise CompileError(
                f"no trial of study {self.study.study_name!r} completed ({len(rows)} tried: "
                f"{'; '.join(notes)}); raise --trials or widen the space or the budget"
            )
        best = _best(complete, self.objective)
        best_spec = ArchitectureSpec.model_validate(self.study.trials[best.number].user_attrs["arch"]["spec"])
        best_spec = best_spec.model_copy(update={"name": self.task.name})
        single = single_model_spec(self.ranking.order[0], self.space.temperature, self.space.max_tokens)
        winner_h, winner_calls = self._heldout("winner", best_spec)
        single_h, single_calls = self._heldout(f"best single model ({self.ranking.order[0]})", single)
        counts = Counts(
            ranking_calls=self.ranking.calls,
            search_calls=sum(r.calls for r in rows),
            heldout_calls=winner_calls + single_calls,
            naive_search_calls=sum(r.naive_calls for r in rows),
            trials_evaluated=sum(r.state in ("COMPLETE", "PRUNED") and not _is_skip(r) for r in rows),
            trials_pruned=sum(r.state == "PRUNED" and not _is_skip(r) for r in rows),
            trials_skipped=sum(_is_skip(r) for r in rows),
        )
        report = Report(
            task=self.task.name,
            models=self.models,
            study=self.study.study_name,
            storage=redact(url),
            seed=self.seed,
            objective=self.objective.model_dump(mode="json"),
            budget=self.budget.model_dump(mode="json", exclude_none=True),
            space=self.space.model_dump(mode="json"),
            space_size=self.space.size(len(self.models)).model_dump(exclude={"pool_size"}),
            dev_items=len(self.dev),
            heldout_items=len(self.heldout),
            power_ranking=self.ranking,
            best_trial=best,
            best_spec=best_spec.model_dump(mode="json"),
            winner=winner_h,
            best_single=single_h,
            trials=rows,
            stop_reason=self.stop_reason,
            counts=counts,
        )
        search = _provenance(report, self.study.trials[best.number].params)
        return CompileResult(self.program(best_spec, provenance={"search": search}), report, search)

    def _heldout(self, name: str, spec: ArchitectureSpec) -> tuple[HeldOut | None, int]:
        if not self.heldout:
            return None, 0
        ev = evaluate(self.task, self.program(spec), self.heldout, self.judge)
        summary = ev.summary(seed=self.seed)
        lo, hi = summary.ci_low, summary.ci_high
        sent = ev.usage.calls
        usd = ev.usage.cost_usd / sent * spec.calls_per_query() if sent and ev.usage.cost_known else None
        return HeldOut(
            name=name,
            quality=ev.quality,
            ci_low=lo or 0.0,
            ci_high=hi or 0.0,
            items=len(ev.scores),
            calls_per_query=spec.calls_per_query(),
            usd_per_query=usd,
        ), sent


# -- storage and study bookkeeping -----------------------------------------------------------------
def _open_storage(url: str, attempts: int = 5) -> optuna.storages.RDBStorage:
    """The RDB storage; workers starting together on an empty database race to create its tables, and
    the losers retry once the winner has."""
    for attempt in range(attempts):
        try:
            with _quiet():
                return optuna.storages.RDBStorage(
                    url,
                    engine_kwargs=_engine_kwargs(url),
                    heartbeat_interval=HEARTBEAT_S,
                    grace_period=GRACE_S,
                    heartbeat_stale_trial_callback=_retry,
                )
        except (
            sqlalchemy.exc.IntegrityError,
            sqlalchemy.exc.ProgrammingError,
            sqlalchemy.exc.OperationalError,
        ):
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def _engine_kwargs(url: str) -> dict[str, Any]:
    """SQLite: WAL with synchronous=NORMAL (durable when a worker is killed, no fsync per write, readers
    never block the writer) and a long lock timeout for several workers; servers: reconnect if dropped."""
    if not url.startswith("sqlite"):
        return {"pool_pre_ping": True}
    path = make_url(url).database or ""

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(path, timeout=60, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    return {"creator": connect}


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence Optuna's notices about the heartbeat API (experimental; meant for `optimize`, which this
    driver replaces with its own loop so that it can count trials across workers exactly)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
        yield


def _skip(trial: optuna.Trial, reason: str) -> tuple[TrialState, None]:
    trial.set_user_attr("skipped", reason)
    return TrialState.PRUNED, None


def _repeat(trial: optuna.Trial, same: FrozenTrial) -> tuple[TrialState, list[float] | None]:
    """A proposal of an architecture already evaluated costs no LM call and brings no new information,
    so it is not counted as a trial (like a skipped one) and is told to the sampler as failed: told as a
    second observation, it would weigh that architecture twice and pull the sampler back to it. It
    carries no `arch` and no `eval`, so it is neither a candidate for the best nor in any count."""
    trial.set_user_attr("skipped", f"same architecture as trial {same.number}")
    trial.set_user_attr("duplicate_of", same.number)
    return TrialState.FAIL, None


def _spec_hash(spec: ArchitectureSpec) -> str:
    layers = spec.model_dump(mode="json")["layers"]
    return hashlib.sha256(json.dumps(layers, sort_keys=True).encode()).hexdigest()[:16]


def _evaluated_twin(trials: Sequence[FrozenTrial], digest: str) -> FrozenTrial | None:
    for t in trials:
        arch = _arch(t)
        if t.state in _DONE and arch is not None and arch.spec_hash == digest:
            return t
    return None


def _finished_curves(trials: Sequence[FrozenTrial]) -> list[tuple[dict[int, float], float]]:
    """(dev curve, cost) of every finished, evaluated trial: what the Pareto early-stopping rule compares."""
    out = []
    for t in trials:
        arch = _arch(t)
        if t.state in _DONE and arch is not None and "duplicate_of" not in t.user_attrs:
            out.append((dict(_eval(t).dev_curve), arch.cost))
    return out


def _slot_free(trials: Sequence[FrozenTrial], number: int, n_trials: int) -> bool:
    """Whether fewer than `n_trials` counted trials (running, waiting or finished, not skipped) precede
    trial `number`; numbers are unique across workers, so at most `n_trials` trials are counted."""
    before = [
        t for t in trials if t.number < number and t.state in _COUNTED and "skipped" not in t.user_attrs
    ]
    return len(before) < n_trials


def _retry(study: optuna.Study, trial: FrozenTrial) -> None:
    """Re-enqueue a dead worker's trial with its parameters (its finished calls are in the cache)."""
    study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})


def _reap_dead_workers(study: optuna.Study) -> None:
    """Fail and re-enqueue running trials whose worker process on this host has died (e.g. SIGKILL)."""
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = t.user_attrs.get("worker") or {}
        if worker.get("host") != _WORKER["host"] or worker.get("pid") in (None, _WORKER["pid"]):
            continue
        if _alive(int(worker["pid"])):
            continue
        try:
            failed = study._storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another worker reaped it first
        if failed:
            _retry(study, t)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def _heartbeat(study: optuna.Study, trial_id: int) -> Iterator[None]:
    """Record the trial's heartbeat while it runs, so workers on other hosts can tell it is alive."""
    storage = study._storage
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_S):
            with contextlib.suppress(sqlalchemy.exc.SQLAlchemyError):
                storage.record_heartbeat(trial_id)  # type: ignore[attr-defined]

    storage.record_heartbeat(trial_id)  # type: ignore[attr-defined]
    thread = threading.Thread(target=beat, name="archon-compile-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


# -- rows, the best trial, provenance ---------------------------------------------------------------
def _note(t: FrozenTrial) -> str | None:
    a = t.user_attrs
    if "skipped" in a:
        return f"skipped: {a['skipped']}"
    if "stopped" in a:
        return str(a["stopped"])
    if "retry_of" in a:
        return f"rerun of trial {a['retry_of']} (its worker died)"
    return None


def _is_skip(row: TrialRow) -> bool:
    return (row.note or "").startswith("skipped")


def _rows(study: optuna.Study, objective: Objective) -> list[TrialRow]:
    rows = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        if "duplicate_of" in t.user_attrs:
            continue  # a repeat ran nothing: its architecture's row is the earlier trial's
        arch, ev = _arch(t), _eval(t)
        rows.append(
            TrialRow(
                number=t.number,
                state=t.state.name,
                params=t.params,
                value=t.values[0] if t.values and objective.mode == "weighted" else None,
                dev_quality=ev.dev_quality if "eval" in t.user_attrs else None,
                dev_items=ev.dev_items,
                cost=arch.cost if arch else None,
                calls_per_query=arch.calls_per_query if arch else None,
                tokens=arch.tokens.model_dump() if arch else None,
                calls=ev.calls,
                cache_hits=ev.cache_hits,
                usd=ev.usd,
                naive_calls=ev.naive_calls,
                note=_note(t),
            )
        )
    front = pareto_front([r for r in rows if r.state == "COMPLETE" and not _is_skip(r)])
    return [r.model_copy(update={"on_front": r.number in front}) for r in rows]


def pareto_front(rows: Sequence[TrialRow]) -> set[int]:
    """Trials no other trial beats on dev quality without costing more (or costs less at equal quality)."""
    front = set()
    for r in rows:
        q, c = r.dev_quality or 0.0, r.cost or 0.0
        if not any(
            (o.dev_quality or 0.0) >= q
            and (o.cost or 0.0) <= c
            and ((o.dev_quality or 0.0) > q or (o.cost or 0.0) < c)
            for o in rows
        ):
            front.add(r.number)
    return front


def _best(complete: Sequence[TrialRow], objective: Objective) -> TrialRow:
    """Weighted: the highest value. Pareto: the highest quality on the front. Ties: cheaper, then earlier."""
    if objective.mode == "weighted":
        return min(complete, key=lambda r: (-(r.value or 0.0), r.cost or 0.0, r.number))
    return min(
        (r for r in complete if r.on_front), key=lambda r: (-(r.dev_quality or 0.0), r.cost or 0.0, r.number)
    )


def redact(url: str) -> str:
    """A storage URL without its password (it goes into reports and artifacts)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sqlalchemy.exc.ArgumentError:
        return "<unparseable storage URL>"


def _provenance(report: Report, params: dict[str, Any]) -> dict[str, Any]:
    """The artifact's `search` record: enough to know what was searched and how well the winner did."""
    best = report.best_trial
    return {
        "task": report.task,
        "models": report.models,
        "study": report.study,
        "storage": report.storage,
        "split_seed": report.seed,
        "dev_items": report.dev_items,
        "heldout_items": report.heldout_items,
        "space": report.space,
        "objective": report.objective,
        "budget": report.budget,
        "trials_run": report.counts.trials_evaluated,
        "best_trial": best.number,
        "best_params": params,
        "dev_score": best.dev_quality,
        "heldout": report.winner.model_dump() if report.winner else None,
        "best_single_heldout": report.best_single.model_dump() if report.best_single else None,
        "cost_per_query": {
            "calls": best.calls_per_query,
            "tokens_upper_bound": best.tokens,
            "usd": report.winner.usd_per_query if report.winner else None,
        },
        "power_ranking": report.power_ranking.model_dump()["scores"],
        "stop_reason": report.stop_reason,
    }
