"""Smoke runs of the search benchmarks (bench/search_cost.py, bench/search_efficiency.py) at tiny sizes:
their outputs are well formed and their ratios come from real counts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import landscape
import optuna
import pools
import pytest
import search_cost
import search_efficiency as eff

import archon_compile as ac
from archon_compile.compiler import TrialEvent
from archon_compile.compiler.objective import evaluate
from archon_compile.compiler.sampling import default_sampler
from archon_compile.signatures.fuse import Fuse
from archon_compile.signatures.rank import Rank
from archon_compile.state import Critique

TINY = landscape.Setup(
    space=ac.ArchonSpace(
        top_k_models=(1, 3),
        samples=(1, 2),
        fusion_layers=(0, 1),
        fusers_per_layer=(2, 2),
        selectors=("none", "voter"),
        final_checks=("none",),
        role_models=("sim-2",),
    ),
    budget_calls=5,
    dev_items=6,
)


def test_pool_follows_its_documented_rules() -> None:
    right = {m.name: sum(pools.generate(m, i, 0) == pools.right(i) for i in range(200)) for m in pools.POOL}
    assert right["sim-1"] > right["sim-4"] > right["sim-8"]  # skill orders accuracy over many items
    oracle = pools.SimPool([pools.SimModel(name="o", skill=0.5, judge=1.0, fuse=1.0)])  # always truthful
    conv = [ac.Message(role="user", content="Q3: what is the answer?")]

    def ask(messages: list[ac.Message]) -> str:
        return oracle.answer("o", ac.LMRequest(model="o", messages=messages))

    votes = ["wrong-3-a", "ans-3", "ans-3"]
    assert ask(Fuse.render(Fuse.Inputs(conversation=conv, candidates=votes))) == "ans-3"
    flagged = [None, Critique(weaknesses="probably wrong"), Critique(weaknesses="probably wrong")]
    critiqued = Fuse.Inputs(conversation=conv, candidates=votes, critiques=flagged)
    assert ask(Fuse.render(critiqued)) == "wrong-3-a"  # flagged candidates are dropped first
    assert ask(Rank.render(Rank.Inputs(conversation=conv, candidates=["wrong-3-b", "ans-3"]))) == "[2] > [1]"
    assert ask(conv) in {"ans-3", "wrong-3-a", "wrong-3-b", "wrong-3-c"}
    assert ask(conv) == ask(conv)
    assert ask([ac.Message(role="user", content="no item here")]) == pools.UNKNOWN


def test_search_cost_ratio_comes_from_calls_the_lms_received(tmp_path: Path) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    r = search_cost.measure(trials=4, dev_items=4, seed=0, run_dir=tmp_path)
    assert r.ranking_calls == 8 * 4  # each model alone on each dev item, into an empty cache
    assert r.sent == r.ranking_calls + r.trial_calls
    assert r.evaluated + r.skipped >= 4 and r.evaluated == 4
    assert r.naive >= r.evaluated * r.dev_items  # every architecture makes at least one call per query
    assert r.ratio == pytest.approx(r.sent / r.naive) and r.ratio > 0
    assert (tmp_path / "lm-cache.sqlite").exists()  # the run used the given (fresh) directory


def _replay(
    setup: landscape.Setup, run: eff.SearchRun, run_dir: Path, progress: Callable[[TrialEvent], None] | bool
) -> ac.CompileResult:
    """The search of `run` again, 12 trials without stopping, as `search_efficiency.search` runs it."""
    pool = setup.pool()
    return ac.compile(
        pool.task(setup.dev_items),
        pool.names,
        space=setup.space,
        trials=12,
        budget=ac.Budget(calls_per_query=setup.budget_calls),
        seed=run.seed,
        run_dir=run_dir,
        lms=pool.lms(),
        dev_size=setup.dev_items,
        heldout_size=0,
        sampler=(
            optuna.samplers.RandomSampler(seed=run.seed)
            if run.sampler == "random"
            else default_sampler(run.seed, 12, setup.guided)
        ),
        prior=run.sampler == "default",
        progress=progress,
    )


def test_efficiency_counts_match_an_uninterrupted_search(tmp_path: Path) -> None:
    land = landscape.landscape(TINY, workers=1)
    assert land.ranking == landscape.power_ranking(TINY) and len(land.ranking) == 8
    assert 0 < land.near_share <= 1 and 0 < land.optimum <= 1 and land.architectures > 1
    comparison = eff.compare(TINY, seeds=2, max_trials=12, workers=1)
    assert [(r.sampler, r.seed) for r in comparison.runs] == [
        ("default", 0),
        ("random", 0),
        ("default", 1),
        ("random", 1),
    ]
    assert all(1 <= r.trials <= 12 for r in comparison.runs)
    assert comparison.mean_ratio == pytest.approx(
        sum(comparison.trials("default")) / sum(comparison.trials("random"))
    )
    # replay one search without stopping: the first counted trial at the optimum is the reported one
    run = next(r for r in comparison.runs if r.reached)
    result = _replay(TINY, run, tmp_path, progress=False)
    counted = [t for t in result.report.trials if not (t.note or "").startswith("skipped")]
    assert max(t.dev_quality or 0.0 for t in counted) <= land.optimum  # nothing beats the exact optimum
    first = next(
        n
        for n, t in enumerate(counted, 1)
        if t.state == "COMPLETE" and (t.dev_quality or 0.0) >= land.threshold
    )
    assert first == run.trials


def test_fresh_items_judge_the_optimum_on_items_the_search_never_sees(tmp_path: Path) -> None:
    fresh = TINY.model_copy(update={"fresh_items": 40})
    land, on_dev = landscape.landscape(fresh, workers=1), landscape.landscape(TINY, workers=1)
    assert land.fresh is not None and on_dev.fresh is None
    assert len(land.fresh.quality) == land.architectures == on_dev.architectures
    assert land.optimum == max(land.fresh.quality.values()) and land.fresh.dev_optimum == on_dev.optimum
    items = fresh.fresh_task().items()
    assert len(items) == 40 and all(int(i.id[1:]) >= landscape.FRESH_FIRST > TINY.dev_items for i in items)
    comparison = eff.compare(fresh, seeds=2, max_trials=12, workers=1, stop=False)
    run = next(r for r in comparison.runs if r.reached)
    # replay, and score each complete trial's architecture on the fresh items here
    events: list[TrialEvent] = []
    _replay(fresh, run, tmp_path, progress=events.append)
    pool, task = fresh.pool(), fresh.fresh_task()

    def on_fresh(spec: ac.ArchitectureSpec) -> float:
        return evaluate(task, ac.Program(spec, lms=pool.lms()), task.items(), None).quality

    complete = [(e, a) for e in events if e.state == "COMPLETE" and (a := e.architecture) is not None]
    first = next(e.finished for e, spec in complete if on_fresh(spec) >= land.threshold)
    assert first == run.trials
    _, best = max(complete, key=lambda ea: (ea[0].dev_quality, -ea[0].number))  # earliest best on dev
    assert run.picked == on_fresh(best)
    picked = {(r.sampler, r.seed): r.picked for r in comparison.runs}
    assert comparison.picked_gaps() == [picked["default", s] - picked["random", s] for s in (0, 1)]  # type: ignore[operator]


def test_other_landscapes_keep_the_space_within_the_pool() -> None:
    small = landscape.other_landscape(pool_size=3, rho=0.0, budget_calls=12, dev_items=10)
    assert small.pool().names == ["sim-1", "sim-2", "sim-3"]
    assert small.space.role_models == ("sim-2",)  # sim-4 is not in a pool of 3
    assert (small.budget_calls, small.dev_items, small.pool().rho) == (12, 10, 0.0)
    large = landscape.other_landscape(pool_size=11, rho=0.5, budget_calls=30, dev_items=100)
    names = large.pool().names
    assert names[:8] == [m.name for m in pools.POOL] and len(set(names)) == 11
    # the defaults are the old landscape
    assert landscape.other_landscape(8, pools.RHO, 30, 100) == landscape.Setup()
    independent = [pools.generate(pools.POOL[0], i, 0, rho=0.0) == pools.right(i) for i in range(200)]
    shared = [pools.generate(pools.POOL[0], i, 0) == pools.right(i) for i in range(200)]
    assert independent != shared  # rho changes which items a model gets right
