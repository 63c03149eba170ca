"""Winner's-curse benchmark: held-out quality of the program each selection rule of
`compiler.verdict.select` emits from the same search, on the simulated pool of bench/pools.py.

Rules: "lcb-rank" (the default: the highest 95% lower bound of the paired dev gain over the best single
model, emitted if its mean gain is positive), "lcb" (emitted only if that bound is positive) and "mean"
(the highest dev mean, emitted if its gain is positive). For each seed one 30-trial `compile()` runs with
the default search on a 20-item dev set and a 200-item held-out set (scripted, no network); each rule's
choice is evaluated on the same held-out items through the same engine. Printed per rule: mean held-out
quality, mean paired difference with the best single model, the dev-to-held-out drop (the winner's
curse), how often it emitted the single model and how often it fell below it; per seed, the verdict the
compile itself printed (default rule).

    python bench/winner_selection.py              # seeds 0-4
    python bench/winner_selection.py --seeds 10
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import optuna
from pools import SimPool
from pydantic import BaseModel

import archon_compile as ac
from archon_compile.compiler.marks import arch_of
from archon_compile.compiler.objective import Objective, evaluate
from archon_compile.compiler.power import single_model_spec
from archon_compile.compiler.verdict import Rule, select
from archon_compile.spec import ArchitectureSpec

RULES: tuple[Rule, ...] = ("lcb-rank", "lcb", "mean")


class SeedResult(BaseModel):
    seed: int
    single: float
    heldout: dict[str, float]
    dev: dict[str, float]
    chose_single: dict[str, bool]
    verdict: str


def run(seed: int, dev: int = 20, heldout: int = 200, trials: int = 30) -> SeedResult:
    pool = SimPool()
    lms = pool.lms()
    task = pool.task(dev + heldout)
    with tempfile.TemporaryDirectory(prefix="archon-winner-") as tmp:
        result = ac.compile(
            task,
            pool.names,
            trials=trials,
            seed=seed,
            run_dir=Path(tmp),
            lms=lms,
            dev_size=dev,
            heldout_size=heldout,
            progress=False,
        )
        report = result.report
        study = optuna.load_study(study_name=report.study, storage=f"sqlite:///{Path(tmp) / 'study.sqlite3'}")
        _, held = task.split(seed, dev_size=dev, heldout_size=heldout)
        leader = report.power_ranking.best
        space = ac.ArchonSpace.for_task(task)
        single = single_model_spec(leader.model, space.temperature, space.max_tokens)
        candidates = [r for r in report.trials if r.candidate]
        scores: dict[str, float] = {}
        devs: dict[str, float] = {}
        singles: dict[str, bool] = {}
        for rule in RULES:
            sel = select(candidates, report.best_trial, leader.scores, 1.0, Objective(), seed, rule)
            if sel.chosen_trial is None:
                spec, devs[rule] = single, leader.quality
            else:
                arch = arch_of(study.trials[sel.chosen_trial])
                assert arch is not None
                spec = ArchitectureSpec.model_validate(arch.spec)
                devs[rule] = next(r.dev_quality or 0.0 for r in candidates if r.number == sel.chosen_trial)
            scores[rule] = evaluate(task, ac.Program(spec, lms=lms, seed=seed), held, None).quality
            singles[rule] = sel.chosen_trial is None
        base = evaluate(task, ac.Program(single, lms=lms, seed=seed), held, None).quality
    outcome = report.verdict.outcome if report.verdict else "none"
    return SeedResult(seed=seed, single=base, heldout=scores, dev=devs, chose_single=singles, verdict=outcome)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args(argv)
    results = [run(seed) for seed in range(args.seeds)]
    for r in results:
        rules = ", ".join(
            f"{k} {v:.3f}{' (single)' if r.chose_single[k] else f' (dev {r.dev[k]:.3f})'}"
            for k, v in r.heldout.items()
        )
        print(f"seed {r.seed}: held-out single {r.single:.3f}; {rules}; the compile's verdict: {r.verdict}")
    for rule in RULES:
        held = [r.heldout[rule] for r in results]
        print(
            f"{rule:>8}: mean held-out {statistics.fmean(held):.3f}, paired vs single "
            f"{statistics.fmean(h - r.single for h, r in zip(held, results, strict=True)):+.3f}, "
            "dev - held-out "
            f"{statistics.fmean(r.dev[rule] - r.heldout[rule] for r in results):+.3f}, single emitted "
            f"{sum(r.chose_single[rule] for r in results)}/{len(results)}, below single on held-out "
            f"{sum(r.heldout[rule] < r.single for r in results)}/{len(results)}"
        )


if __name__ == "__main__":
    main()
