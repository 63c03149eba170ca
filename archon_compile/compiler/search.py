"""`compile()`: search ARCHON architectures with Optuna and freeze the best one with its provenance.

The pieces, one concept each: `driver` (the ask/tell loop and one trial), `sampling` (the default sampler
and pruner), `storage` (resumable RDB storage, workers, dead-worker reruns), `marks` (what a trial
records), `trials` (report rows, the Pareto front, the best trial), `outcome` (held-out and the report).

The default search (`default_sampler`, `prior`): a few paper-informed architectures first
(`ArchonSpace.prior`), then Bayesian optimisation over the conditional space (`GuidedSampler`: a
Gaussian process and expected improvement, seeded TPE for the first trials), with a paired pruner
(`PairedPruner`: a trial stops when it is significantly worse than the best on the same dev items).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import optuna

from archon_compile.compiler.budget import Budget
from archon_compile.compiler.driver import MAX_ERROR_RATE, CompileError, Search
from archon_compile.compiler.events import TrialEvent
from archon_compile.compiler.objective import Objective
from archon_compile.compiler.outcome import finish
from archon_compile.compiler.progress import ProgressBar
from archon_compile.compiler.report import Timings
from archon_compile.compiler.result import CompileResult
from archon_compile.compiler.sampling import default_sampler
from archon_compile.compiler.space import ArchonSpace
from archon_compile.evaluation.judge import JudgeRequired, make_judge
from archon_compile.lm.base import LM
from archon_compile.probe import Endpoint, probe_endpoints
from archon_compile.runtime.cache import Cache
from archon_compile.runtime.calls import RetryPolicy
from archon_compile.tasks.base import Judge, Task

__all__ = ["CompileError", "TrialEvent", "compile"]


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
    judge_api_base: str | None = None,
    dev_fraction: float = 0.2,
    dev_size: int | None = None,
    heldout_size: int | None = None,
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
    prior: bool | None = None,
    concurrency: int = 16,
    retry: RetryPolicy | None = None,
    progress: bool | Callable[[TrialEvent], None] = True,
    max_error_rate: float = MAX_ERROR_RATE,
    cache: bool = True,
) -> CompileResult:
    """Search ARCHON architectures over `models` for `task`; return the best one, frozen, with a report.

    `task` is a registered name (`data` replaces its download) or a Task; `lms` maps model strings to LM
    instances (scripted pools); `api_bases` maps model strings to endpoints (vLLM, llama.cpp, Ollama
    servers), recorded in the artifact. Rerunning the same call resumes the study; several processes given the
    same `storage` and `study` share the work. `prior` enqueues the paper-informed architectures of
    `ArchonSpace.prior` as the first trials (each counts as a trial); by default (None) only with the
    default sampler: a sampler passed as `sampler=` gets every proposal unless `prior=True`.

    The judge's endpoint is `judge_api_base`, else `api_bases[judge]`; `lms` can serve it too. Every
    endpoint is probed first (EndpointError in seconds when one is down). A trial whose failed dev items
    exceed `max_error_rate` fails (never a winner); three failed in a row stop the compile (CompileError).
    `progress`: a live display (True, the default; rich, terminal or notebook), False, or a callable
    given each TrialEvent. `cache=False`: LM answers are cached in memory only (nothing on disk).
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
    if not 0.0 <= max_error_rate < 1.0:
        raise CompileError(f"max_error_rate must be in [0, 1), got {max_error_rate}")
    search = Search(
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
        cache=Cache(folder / "lm-cache.sqlite" if cache else None),
        progress=None,
        max_error_rate=max_error_rate,
    )
    search.split(dev_fraction, dev_size, heldout_size)
    search.judge = _make_judge(task_obj, judge, judge_api_base, search)
    clock = _Clock()
    _probe(search)
    probe_s = clock.lap()
    url = storage or f"sqlite:///{(folder / 'study.sqlite3').resolve()}"
    use_prior = sampler is None if prior is None else prior
    with _display(progress, trials) as search.progress:
        search.open(url, name, sampler or default_sampler(seed, trials), pruner, use_prior)
        ranking_s = clock.lap()
        search.run()
        timings = Timings(probe_s=probe_s, power_ranking_s=ranking_s, search_s=clock.lap())
    return finish(search, url, timings)


class _Clock:
    def __init__(self) -> None:
        self.last = time.monotonic()

    def lap(self) -> float:
        now = time.monotonic()
        spent, self.last = now - self.last, now
        return spent


@contextlib.contextmanager
def _display(
    progress: bool | Callable[[TrialEvent], None], trials: int
) -> Iterator[Callable[[TrialEvent], None] | None]:
    """The live progress display for `progress=True`, the caller's callable, or none."""
    if progress is True:
        with ProgressBar(trials) as bar:
            yield bar
    else:
        yield progress or None


def _resolve_task(task: str | Task, data: str | None) -> Task:
    if isinstance(task, Task):
        return task
    from archon_compile.tasks import registry

    try:
        return registry.get(task, data)
    except registry.TaskError as exc:
        raise CompileError(str(exc)) from None


def _probe(search: Search) -> None:
    """One cheap call per distinct (model, endpoint) and to the judge before any real work: a dead
    endpoint, a refused key or an unknown model stops the compile in seconds (EndpointError)."""
    endpoints = [Endpoint(model=m, api_base=search.api_bases.get(m)) for m in search.models]
    if search.judge is not None:
        endpoints.append(Endpoint(model=search.judge.model, api_base=search.judge.api_base, role="judge"))
    probe_endpoints(endpoints, lms=search.lms)


def _make_judge(task: Task, model: str | None, api_base: str | None, search: Search) -> Judge | None:
    """The evaluation engine's judge, on the search's endpoints, injected LMs, cache and retry policy."""
    try:
        return make_judge(
            task,
            model,
            api_base=api_base,
            api_bases=search.api_bases,
            lms=search.lms,
            cache=search.cache,
            retry=search.retry,
            concurrency=search.concurrency,
        )
    except JudgeRequired as exc:
        raise CompileError(str(exc)) from None
