"""Sampler-efficiency benchmark: trials the default sampler of `compile()` needs to get within 1% of the
true optimum, against random search through the same driver.

The simulated pool of bench/pools.py (8 models with known per-item correctness) answers a 100-item dev
set; the task has exactly those items, so every seed's dev split holds the same items (in another
order) and one optimum serves all seeds. Why 100: on 20 items quality moves in steps of 0.05, and the
"optimum" was one lucky item shared by 60 unrelated architectures (226 more sat one item below), so
any sampler could only be lucky; on 100 items the best architectures form one family (2 models x 3
samples, voted), and the architectures near it score near it, which is what a sampler can learn.

The space is a sub-space of ARCHON's (`Setup` below: 2,763 distinct valid architectures, 2,479 of them
within the budget of 30 calls per query); the objective is dev quality (lambda 0). The optimum is
computed exactly: every distinct architecture is built from the same power ranking the driver computes
and evaluated on the dev items through `Program` (scripted, in-memory cache), as a trial would be.

Then, for each seed, `compile()` runs with its default sampler and again with
`optuna.samplers.RandomSampler(seed)` passed as `sampler=`; everything else (space, budget, pruner,
memo, dev minibatches) is the same driver. A trial counts when the driver counts it (skipped invalid or
over-budget architectures and repeats of an evaluated one are free and do not count; pruned ones do).
"Trials needed" is the count at the first completed trial whose dev quality is within 1% of the
optimum. The search is stopped there (the `progress` callback raises, after the driver has recorded
the trial; the trials up to that point are exactly those of an uninterrupted run). A search that
misses within `--max-trials` counts as `--max-trials`.

Other landscapes: `--pool-size` (models; past 8, more are drawn, see bench/pools.py), `--rho` (how much
the items' shared difficulty correlates the models' errors), `--budget-calls` (per query) and
`--dev-items`; the defaults are the landscape above. `--guided 0` measures the default sampler without
its surrogate (TPE alone). The trials of each sampler are printed as
quartiles, not only the mean.

    python bench/search_efficiency.py                   # 20 seeds, at most 150 trials each, 2 workers
    python bench/search_efficiency.py --seeds 5 --max-trials 100 --workers 1 --dev-items 20
    python bench/search_efficiency.py --seeds 40 --pool-size 5 --rho 0.2 --budget-calls 20
    python bench/search_efficiency.py --seeds 40 --first-seed 40   # seeds 40-79
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Literal, TypeVar

import optuna
from pools import RHO, SimPool, pool_models
from pydantic import BaseModel

import archon_compile as ac
from archon_compile.compiler import TrialEvent
from archon_compile.compiler.objective import evaluate
from archon_compile.compiler.power import rank_models
from archon_compile.compiler.sampling import default_sampler
from archon_compile.compiler.space import ROLES, TrialChoice, roles_used
from archon_compile.errors import SpecError
from archon_compile.runtime.cache import Cache
from archon_compile.spec import ArchitectureSpec

TOLERANCE = 0.01
TARGET = 0.25
Sampler = Literal["default", "random"]
T = TypeVar("T")
R = TypeVar("R")


class Setup(BaseModel):
    """What is searched: the space, the per-query call budget, the number of dev items, and the pool (its
    size, and the weight of shared item difficulty in its errors)."""

    space: ac.ArchonSpace = ac.ArchonSpace(
        top_k_models=(1, 8),
        samples=(1, 3),
        fusion_layers=(0, 2),
        fusers_per_layer=(2, 4, 2),
        selectors=("none", "voter", "critic_ranker"),
        final_checks=("none", "verifier"),
        role_models=("sim-2", "sim-4"),
    )
    budget_calls: int = 30
    dev_items: int = 100
    pool_size: int = 8
    rho: float = RHO
    guided: float = 1.0  # the default sampler's share of surrogate-guided proposals (`default_sampler`)

    def pool(self) -> SimPool:
        return SimPool(pool_models(self.pool_size), self.rho)


class Landscape(BaseModel):
    """The exact optimum of the space on the dev items, and how rare near-optimal trials are."""

    setup: Setup
    ranking: list[str]
    architectures: int
    optimum: float
    best: list[str]
    near_share: float
    seconds: float

    @property
    def threshold(self) -> float:
        return self.optimum - TOLERANCE * abs(self.optimum)

    def random_expected(self, cap: int) -> float:
        """Mean trials of uniform random search capped at `cap` (geometric law, misses count as cap)."""
        p = self.near_share
        return float(cap) if p == 0 else (1 - (1 - p) ** cap) / p


class SearchRun(BaseModel):
    sampler: Sampler
    seed: int
    trials: int
    reached: bool
    seconds: float


class Comparison(BaseModel):
    landscape: Landscape
    runs: list[SearchRun]
    max_trials: int
    seconds: float

    def trials(self, sampler: Sampler) -> list[int]:
        return [r.trials for r in self.runs if r.sampler == sampler]

    def misses(self, sampler: Sampler) -> int:
        return sum(not r.reached for r in self.runs if r.sampler == sampler)

    @property
    def mean_ratio(self) -> float:
        return statistics.fmean(self.trials("default")) / statistics.fmean(self.trials("random"))

    @property
    def median_ratio(self) -> float:
        return statistics.median(self.trials("default")) / statistics.median(self.trials("random"))


def other_landscape(
    pool_size: int, rho: float, budget_calls: int, dev_items: int, guided: float = 1.0
) -> Setup:
    """The default space on another pool, budget or dev set; role models missing from a smaller pool give
    way to its strongest model."""
    names = [m.name for m in pool_models(pool_size)]
    space = Setup().space
    roles = tuple(m for m in space.role_models or () if m in names) or (names[0],)
    return Setup(
        space=space.model_copy(update={"role_models": roles}),
        budget_calls=budget_calls,
        dev_items=dev_items,
        pool_size=pool_size,
        rho=rho,
        guided=guided,
    )


# -- the exact optimum -----------------------------------------------------------------------------
def _choices(space: ac.ArchonSpace, pool: Sequence[str]) -> Iterator[tuple[TrialChoice, int]]:
    """Every parameter combination that matters, with the number of sampled combinations it stands
    for (unused fuser widths and role models do not change the architecture)."""
    roles = list(space.roles_pool(pool))
    widths = space.fusers_per_layer.values()
    axes = itertools.product(
        space.top_k_models.values(cap=len(pool)),
        space.samples.values(),
        space.fusion_layers.values(),
        space.selectors,
        space.final_checks,
    )
    for k, s, depth, selector, check in axes:
        for width in widths if depth >= 2 else widths[:1]:
            base = TrialChoice(
                top_k_models=k,
                samples=s,
                fusion_layers=depth,
                fusers_per_layer=width,
                selector=selector,
                final_check=check,
                **{f"{r}_model": roles[0] for r in ROLES},
            )
            used = roles_used(base)
            weight = (1 if depth >= 2 else len(widths)) * len(roles) ** (len(ROLES) - len(used))
            for models in itertools.product(roles, repeat=len(used)):
                choice = base.model_copy(update={f"{r}_model": m for r, m in zip(used, models, strict=True)})
                yield choice, weight


def _specs(setup: Setup, ranking: Sequence[str]) -> list[tuple[ArchitectureSpec, int]]:
    """Distinct valid architectures within the budget, with their weights under uniform sampling."""
    out: dict[str, tuple[ArchitectureSpec, int]] = {}
    for choice, weight in _choices(setup.space, ranking):
        try:
            spec = setup.space.build(choice, ranking)
        except SpecError:
            continue
        if spec.calls_per_query() > setup.budget_calls:
            continue
        key = spec.model_dump_json(include={"layers"})
        prev = out.get(key)
        out[key] = (spec, weight + (prev[1] if prev else 0))
    return list(out.values())


def _qualities(job: tuple[Setup, list[ArchitectureSpec]]) -> list[float]:
    """Dev quality of each spec (run in a worker: its own pool, LMs and in-memory cache)."""
    setup, specs = job
    pool = setup.pool()
    lms, cache, task = pool.lms(), Cache(), pool.task(setup.dev_items)
    return [evaluate(task, ac.Program(s, lms=lms, cache=cache), task.items(), None).quality for s in specs]


def power_ranking(setup: Setup) -> list[str]:
    """The driver's power ranking of the pool on the dev items (same function, same single-model specs)."""
    pool = setup.pool()
    lms, cache, task = pool.lms(), Cache(), pool.task(setup.dev_items)
    ranking = rank_models(
        pool.names,
        lambda spec: evaluate(task, ac.Program(spec, lms=lms, cache=cache), task.items(), None),
        setup.space.temperature,
        setup.space.max_tokens,
    )
    return ranking.order


def _map(fn: Callable[[T], R], jobs: Sequence[T], workers: int) -> list[R]:
    """`fn` over `jobs` in `workers` spawned processes. Not forked: a forked child inherits the
    program runtime's background event loop without its thread, and its first call would hang."""
    if workers == 1:
        return [fn(job) for job in jobs]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as ex:
        return list(ex.map(fn, jobs))


def landscape(setup: Setup, workers: int = 2) -> Landscape:
    start = time.perf_counter()
    ranking = power_ranking(setup)
    specs = _specs(setup, ranking)
    chunks = [(setup, [s for s, _ in specs[w::workers]]) for w in range(workers)]
    parts = _map(_qualities, chunks, workers)
    quality = [0.0] * len(specs)
    for w, part in enumerate(parts):
        quality[w::workers] = part
    optimum = max(quality)
    threshold = optimum - TOLERANCE * abs(optimum)
    near = [i for i, q in enumerate(quality) if q >= threshold]
    total = sum(w for _, w in specs)
    return Landscape(
        setup=setup,
        ranking=ranking,
        architectures=len(specs),
        optimum=optimum,
        best=[_describe(specs[i][0]) for i in near[:3]],
        near_share=sum(specs[i][1] for i in near) / total,
        seconds=time.perf_counter() - start,
    )


def _describe(spec: ArchitectureSpec) -> str:
    layers = []
    for layer in spec.layers:
        kinds = {f"{c.type}({getattr(c, 'model', '') or ''})" for c in layer}
        layers.append(f"{len(layer)}x{'/'.join(sorted(kinds))}" if len(layer) > 1 else kinds.pop())
    return " -> ".join(layers) + f" [{spec.calls_per_query()} calls]"


# -- the searches ------------------------------------------------------------------------------------
class _Reached(Exception):
    def __init__(self, trials: int) -> None:
        self.trials = trials


def search(setup: Setup, sampler: Sampler, seed: int, max_trials: int, threshold: float) -> SearchRun:
    """Trials `compile()` needs with this sampler to complete a trial at or above `threshold`."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pool = setup.pool()

    def progress(event: TrialEvent) -> None:
        if event.state == "COMPLETE" and event.dev_quality is not None and event.dev_quality >= threshold:
            raise _Reached(event.finished)

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="archon-search-eff-") as tmp:
        try:
            ac.compile(
                pool.task(setup.dev_items),
                pool.names,
                space=setup.space,
                trials=max_trials,
                budget=ac.Budget(calls_per_query=setup.budget_calls),
                seed=seed,
                run_dir=Path(tmp),
                lms=pool.lms(),
                dev_size=setup.dev_items,
                heldout_size=0,
                sampler=(
                    optuna.samplers.RandomSampler(seed=seed)
                    if sampler == "random"
                    else default_sampler(seed, max_trials, setup.guided)
                ),
                prior=sampler == "default",
                progress=progress,
            )
        except _Reached as hit:
            return SearchRun(
                sampler=sampler,
                seed=seed,
                trials=hit.trials,
                reached=True,
                seconds=time.perf_counter() - start,
            )
    return SearchRun(
        sampler=sampler, seed=seed, trials=max_trials, reached=False, seconds=time.perf_counter() - start
    )


def _search(args: tuple[Setup, Sampler, int, int, float]) -> SearchRun:
    return search(*args)


def compare(
    setup: Setup, seeds: int = 20, max_trials: int = 150, workers: int = 2, first_seed: int = 0
) -> Comparison:
    start = time.perf_counter()
    land = landscape(setup, workers)
    jobs: list[tuple[Setup, Sampler, int, int, float]] = [
        (setup, sampler, seed, max_trials, land.threshold)
        for seed in range(first_seed, first_seed + seeds)
        for sampler in ("default", "random")
    ]
    runs = _map(_search, jobs, workers)
    return Comparison(landscape=land, runs=runs, max_trials=max_trials, seconds=time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument(
        "--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1"
    )
    parser.add_argument(
        "--max-trials", type=int, default=150, help="cap per search; a miss counts as the cap"
    )
    parser.add_argument("--workers", type=int, default=2, help="processes")
    default = Setup()
    parser.add_argument("--dev-items", type=int, default=default.dev_items, help="items of the task")
    parser.add_argument("--pool-size", type=int, default=default.pool_size, help="models in the pool")
    parser.add_argument("--rho", type=float, default=default.rho, help="weight of shared item difficulty")
    parser.add_argument("--budget-calls", type=int, default=default.budget_calls, help="LM calls per query")
    parser.add_argument(
        "--guided",
        type=float,
        default=default.guided,
        help="the default sampler's share of surrogate-guided proposals (0: its TPE alone)",
    )
    args = parser.parse_args(argv)
    setup = other_landscape(args.pool_size, args.rho, args.budget_calls, args.dev_items, args.guided)
    c = compare(setup, args.seeds, args.max_trials, args.workers, args.first_seed)
    land = c.landscape
    print(
        f"space: {land.architectures} distinct architectures within {land.setup.budget_calls} calls/query; "
        f"power ranking {', '.join(land.ranking)}; exact optimum dev quality {land.optimum:.3f} on "
        f"{land.setup.dev_items} items, {land.setup.pool_size} models, rho {land.setup.rho} "
        f"({land.seconds:.0f} s to enumerate)"
    )
    print(f"  within 1% (>= {land.threshold:.3f}): {land.near_share:.2%} of the counted random trials; e.g.")
    for b in land.best:
        print(f"    {b}")
    last = args.first_seed + args.seeds - 1
    print(
        f"trials to reach within 1% of the optimum, seeds {args.first_seed}-{last}, cap {c.max_trials} "
        "(a miss counts as the cap):"
    )
    for sampler in ("default", "random"):
        t = c.trials(sampler)  # type: ignore[arg-type]
        q1, q2, q3 = statistics.quantiles(t, n=4) if len(t) > 1 else (t[0],) * 3
        print(
            f"  {sampler:8s} mean {statistics.fmean(t):6.1f}  quartiles {q1:5.1f} / {q2:5.1f} / {q3:5.1f}  "
            f"misses {c.misses(sampler)}  all {t}"  # type: ignore[arg-type]
        )
    print(
        f"  random search expected from the landscape (geometric, capped): "
        f"{land.random_expected(c.max_trials):.1f}"
    )
    verdict = "meets" if c.mean_ratio <= TARGET else "MISSES"
    print(
        f"ratio default/random: mean {c.mean_ratio:.3f} ({verdict} the target <= {TARGET}), median "
        f"{c.median_ratio:.3f}; elapsed {c.seconds:.0f} s"
    )


if __name__ == "__main__":
    main()
