"""Sampler-efficiency benchmark: trials the default sampler of `compile()` needs to get within 1% of the
true optimum, against random search through the same driver.

The simulated pool of bench/pools.py (8 models with known per-item correctness) answers a 100-item dev
set; the task has exactly those items, so every seed's dev split holds the same items (in another
order) and one optimum serves all seeds. Why 100: on 20 items quality moves in steps of 0.05, and the
"optimum" was one lucky item shared by 60 unrelated architectures (226 more sat one item below), so
any sampler could only be lucky; on 100 items the best architectures form one family (2 models x 3
samples, voted), and the architectures near it score near it, which is what a sampler can learn.

The space is a sub-space of ARCHON's (`Setup` in bench/landscape.py: 2,763 distinct valid architectures,
2,479 of them within the budget of 30 calls per query); the objective is dev quality (lambda 0). The
optimum is computed exactly (bench/landscape.py evaluates every distinct architecture).

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
`--dev-items`; the defaults are the landscape above. `--fresh-items N` judges the optimum on N items the
search never sees instead of the dev items: "within 1% of the optimum" then reads the architecture's
quality on those items, which tells a sampler that learns the task from one that finds a fluke of a
small dev set (bench/landscape.py). `--quality-at N` runs every search N trials and compares, seed by
seed, the judged quality of each one's best trial by dev quality: a paired difference that stays
meaningful where no search reaches the optimum faster than chance (50 dev items). `--guided 0` measures
the default sampler without its surrogate (TPE alone). The trials of each sampler are printed as
quartiles, not only the mean.

    python bench/search_efficiency.py                   # 20 seeds, at most 150 trials each, 2 workers
    python bench/search_efficiency.py --seeds 5 --max-trials 100 --workers 1 --dev-items 20
    python bench/search_efficiency.py --seeds 40 --pool-size 5 --rho 0.2 --budget-calls 20
    python bench/search_efficiency.py --seeds 40 --first-seed 40   # seeds 40-79
    python bench/search_efficiency.py --seeds 20 --dev-items 50 --fresh-items 400 --quality-at 30
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Literal

import optuna
from landscape import Landscape, Setup, landscape, other_landscape, parallel_map
from pydantic import BaseModel

import archon_compile as ac
from archon_compile.compiler import TrialEvent
from archon_compile.compiler.sampling import default_sampler

TARGET = 0.25
Sampler = Literal["default", "random"]


class SearchRun(BaseModel):
    """One search. `picked`: the judged quality (`Landscape.judged`) of its best complete trial by dev
    quality when it ended (the earliest on a tie; None if no trial completed)."""

    sampler: Sampler
    seed: int
    trials: int
    reached: bool
    seconds: float
    picked: float | None = None


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

    def picked_gaps(self) -> list[float]:
        """Per seed, the default sampler's picked quality minus random search's (seeds where both
        completed a trial)."""
        by_seed = {(r.sampler, r.seed): r.picked for r in self.runs}
        seeds = sorted({r.seed for r in self.runs})
        pairs = [(by_seed[("default", s)], by_seed[("random", s)]) for s in seeds]
        return [d - r for d, r in pairs if d is not None and r is not None]


# -- the searches ------------------------------------------------------------------------------------
class _Reached(Exception):
    def __init__(self, trials: int) -> None:
        self.trials = trials


def search(land: Landscape, sampler: Sampler, seed: int, max_trials: int, stop: bool = True) -> SearchRun:
    """Trials `compile()` needs with this sampler to complete a trial that `land` counts as reached
    (with `stop`, the search ends there; otherwise it runs `max_trials`)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    setup = land.setup
    pool = setup.pool()
    best: list[tuple[float, float]] = []  # (dev quality, judged quality) of the best complete trial
    first_reach: list[int] = []

    def progress(event: TrialEvent) -> None:
        dev = event.dev_quality if event.state == "COMPLETE" else None
        if dev is not None and (not best or dev > best[0][0]):
            best[:] = [(dev, land.judged(event))]
        if land.reached(event):
            first_reach.append(event.finished)
            if stop:
                raise _Reached(event.finished)

    def run(trials: int, reached: bool) -> SearchRun:
        return SearchRun(
            sampler=sampler,
            seed=seed,
            trials=trials,
            reached=reached,
            seconds=time.perf_counter() - start,
            picked=best[0][1] if best else None,
        )

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
            return run(hit.trials, True)
    return run(first_reach[0], True) if first_reach else run(max_trials, False)


def _search(args: tuple[Landscape, Sampler, int, int, bool]) -> SearchRun:
    return search(*args)


def compare(
    setup: Setup,
    seeds: int = 20,
    max_trials: int = 150,
    workers: int = 2,
    first_seed: int = 0,
    stop: bool = True,
) -> Comparison:
    """Both samplers on the same seeds; with `stop`, each search ends at its first reach."""
    start = time.perf_counter()
    land = landscape(setup, workers)
    jobs: list[tuple[Landscape, Sampler, int, int, bool]] = [
        (land, sampler, seed, max_trials, stop)
        for seed in range(first_seed, first_seed + seeds)
        for sampler in ("default", "random")
    ]
    runs = parallel_map(_search, jobs, workers)
    return Comparison(landscape=land, runs=runs, max_trials=max_trials, seconds=time.perf_counter() - start)


def _print_landscape(land: Landscape) -> None:
    setup = land.setup
    judged = f"{setup.fresh_items} fresh items" if setup.fresh_items else "the dev items"
    print(
        f"space: {land.architectures} distinct architectures within {setup.budget_calls} calls/query; "
        f"power ranking {', '.join(land.ranking)}; {setup.dev_items} dev items, {setup.pool_size} models, "
        f"rho {setup.rho}; exact optimum {land.optimum:.3f} on {judged} ({land.seconds:.0f} s to enumerate)"
    )
    if land.fresh is not None:
        print(
            f"  the best architectures on the dev items ({land.fresh.dev_optimum:.3f} there) score "
            f"{land.fresh.dev_best:.3f} on the fresh items"
        )
    print(f"  within 1% (>= {land.threshold:.3f}): {land.near_share:.2%} of the counted random trials; e.g.")
    for b in land.best:
        print(f"    {b}")


def _print_picked(c: Comparison) -> None:
    """The judged quality of each search's best trial by dev quality, and the paired difference."""
    judged = f"{c.landscape.setup.fresh_items} fresh items" if c.landscape.setup.fresh_items else "dev"
    print(f"quality on {judged} of each search's best trial by dev quality after {c.max_trials} trials:")
    for sampler in ("default", "random"):
        q = [r.picked for r in c.runs if r.sampler == sampler and r.picked is not None]
        if not q:
            sys.exit(f"{sampler}: no search completed a trial in {c.max_trials} trials; nothing to compare")
        q1, q2, q3 = statistics.quantiles(q, n=4) if len(q) > 1 else (q[0],) * 3
        print(f"  {sampler:8s} mean {statistics.fmean(q):.3f}  quartiles {q1:.3f} / {q2:.3f} / {q3:.3f}")
    gaps = c.picked_gaps()
    se = statistics.stdev(gaps) / len(gaps) ** 0.5 if len(gaps) > 1 else float("nan")
    print(
        f"  paired difference default - random: {statistics.fmean(gaps):+.4f} (standard error {se:.4f}, "
        f"{len(gaps)} seeds; default ahead on {sum(g > 0 for g in gaps)}, behind on "
        f"{sum(g < 0 for g in gaps)}); the optimum is {c.landscape.optimum:.3f}"
    )


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
        "--fresh-items",
        type=int,
        default=default.fresh_items,
        help="judge the optimum on this many items the search never sees (0: on the dev items)",
    )
    parser.add_argument(
        "--quality-at",
        type=int,
        default=0,
        help="run every search for this many trials and compare the judged quality of each one's best "
        "trial by dev quality, seed by seed (0: stop each search at its first reach)",
    )
    parser.add_argument(
        "--guided",
        type=float,
        default=default.guided,
        help="the default sampler's share of surrogate-guided proposals (0: its TPE alone)",
    )
    args = parser.parse_args(argv)
    setup = other_landscape(args.pool_size, args.rho, args.budget_calls, args.dev_items, args.guided)
    setup = setup.model_copy(update={"fresh_items": args.fresh_items})
    cap = args.quality_at or args.max_trials
    c = compare(setup, args.seeds, cap, args.workers, args.first_seed, stop=not args.quality_at)
    land = c.landscape
    _print_landscape(land)
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
    if args.quality_at:
        _print_picked(c)
    verdict = "meets" if c.mean_ratio <= TARGET else "MISSES"
    print(
        f"ratio default/random: mean {c.mean_ratio:.3f} ({verdict} the target <= {TARGET}), median "
        f"{c.median_ratio:.3f}; elapsed {c.seconds:.0f} s"
    )


if __name__ == "__main__":
    main()
