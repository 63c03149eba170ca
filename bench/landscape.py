"""The landscape a sampler searches in bench/search_efficiency.py: the space, the simulated pool and its
dev items (`Setup`), and the exact optimum (`Landscape`), computed by evaluating every distinct
architecture of the space, built from the power ranking the driver computes, through `Program`
(scripted, in-memory cache), as a trial would be.

By default the optimum is judged on the dev items the search sees. With `fresh_items`, it is judged on
that many other items of the same pool, which the search never sees: the architecture a search should
find is then the one that is best on the task, not on its dev sample. On 50 dev items, the best
architectures there (one generator, critiqued and ranked: 0.900) are a fluke of those items: on 400
fresh items they score 0.705, and the best there (two models, critiqued and ranked) 0.777.
"""

from __future__ import annotations

import itertools
import multiprocessing
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from pools import RHO, SimPool, pool_models
from pydantic import BaseModel

import archon_compile as ac
from archon_compile.compiler import TrialEvent
from archon_compile.compiler.objective import evaluate
from archon_compile.compiler.power import rank_models
from archon_compile.compiler.space import ROLES, TrialChoice, roles_used, structures
from archon_compile.compiler.trials import spec_hash
from archon_compile.errors import SpecError
from archon_compile.runtime.cache import Cache
from archon_compile.spec import ArchitectureSpec
from archon_compile.tasks.base import Task

TOLERANCE = 0.01
FRESH_FIRST = 10_000  # the fresh items are Q10000, Q10001, ...: never dev items
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
    fresh_items: int = 0  # > 0: the optimum is judged on this many items the search never sees

    def fresh_task(self) -> Task:
        """`fresh_items` items from FRESH_FIRST on, which no dev split holds."""
        return self.pool().task(self.fresh_items, "fresh", first=FRESH_FIRST)

    def pool(self) -> SimPool:
        return SimPool(pool_models(self.pool_size), self.rho)


class FreshItems(BaseModel):
    """Every architecture's quality on the fresh items (by `spec_hash`), and what the best
    architectures on the dev items score there (the best of those tied at the dev optimum)."""

    quality: dict[str, float]
    dev_optimum: float
    dev_best: float


class Landscape(BaseModel):
    """The exact optimum of the space on the judged items (the dev items, or `fresh`), and how rare
    near-optimal trials are."""

    setup: Setup
    ranking: list[str]
    architectures: int
    optimum: float
    best: list[str]
    near_share: float
    seconds: float
    fresh: FreshItems | None = None

    @property
    def threshold(self) -> float:
        return self.optimum - TOLERANCE * abs(self.optimum)

    def judged(self, event: TrialEvent) -> float:
        """A complete trial's quality on the judged items: its dev quality, or its architecture's on the
        fresh items."""
        if event.state != "COMPLETE" or event.dev_quality is None:
            raise ValueError(f"trial {event.number} is not complete")
        if self.fresh is None:
            return event.dev_quality
        if event.architecture is None or (key := spec_hash(event.architecture)) not in self.fresh.quality:
            raise ValueError(f"trial {event.number} ran an architecture the landscape does not hold")
        return self.fresh.quality[key]

    def reached(self, event: TrialEvent) -> bool:
        """Whether a finished trial is complete and within 1% of the optimum on the judged items."""
        complete = event.state == "COMPLETE" and event.dev_quality is not None
        return complete and self.judged(event) >= self.threshold

    def random_expected(self, cap: int) -> float:
        """Mean trials of uniform random search capped at `cap` (geometric law, misses count as cap)."""
        p = self.near_share
        return float(cap) if p == 0 else (1 - (1 - p) ** cap) / p


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
    widths = len(space.fusers_per_layer.values())
    for base in structures(space, pool):
        used = roles_used(base)
        weight = (1 if base.fusion_layers >= 2 else widths) * len(roles) ** (len(ROLES) - len(used))
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
        key = spec_hash(spec)
        prev = out.get(key)
        out[key] = (spec, weight + (prev[1] if prev else 0))
    return list(out.values())


def _qualities(job: tuple[Setup, list[ArchitectureSpec]]) -> list[tuple[float, float]]:
    """Quality of each spec on the dev items and on the judged items (the same when the judged items
    are the dev items); run in a worker: its own pool, LMs and in-memory cache."""
    setup, specs = job
    pool = setup.pool()
    lms, cache = pool.lms(), Cache()
    tasks = [pool.task(setup.dev_items), *([setup.fresh_task()] if setup.fresh_items else [])]
    out = []
    for s in specs:
        program = ac.Program(s, lms=lms, cache=cache)
        q = [evaluate(t, program, t.items(), None).quality for t in tasks]
        out.append((q[0], q[-1]))
    return out


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


def parallel_map(fn: Callable[[T], R], jobs: Sequence[T], workers: int) -> list[R]:
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
    parts = parallel_map(_qualities, chunks, workers)
    both = [(0.0, 0.0)] * len(specs)
    for w, part in enumerate(parts):
        both[w::workers] = part
    dev, quality = [d for d, _ in both], [j for _, j in both]
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
        fresh=_fresh(specs, dev, quality) if setup.fresh_items else None,
    )


def _fresh(specs: list[tuple[ArchitectureSpec, int]], dev: list[float], fresh: list[float]) -> FreshItems:
    top = max(dev)
    return FreshItems(
        quality={spec_hash(s): q for (s, _), q in zip(specs, fresh, strict=True)},
        dev_optimum=top,
        dev_best=max(q for d, q in zip(dev, fresh, strict=True) if d == top),
    )


def _describe(spec: ArchitectureSpec) -> str:
    layers = []
    for layer in spec.layers:
        kinds = {f"{c.type}({getattr(c, 'model', '') or ''})" for c in layer}
        layers.append(f"{len(layer)}x{'/'.join(sorted(kinds))}" if len(layer) > 1 else kinds.pop())
    return " -> ".join(layers) + f" [{spec.calls_per_query()} calls]"
