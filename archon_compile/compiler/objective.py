"""The objective: dev quality, with cost either subtracted (quality - lambda x cost) or kept as a second
objective (a Pareto front). Dev items are scored in minibatches so that weak trials stop early, by the
same engine and rules as `ac.evaluate` (`archon_compile/evaluation/`).

Cost is a property of the architecture, not of the cache: LM calls per query (`spec.calls_per_query()`)
or its token upper bound, so a trial whose calls were all cache hits costs what it would cost in use.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from typing import Literal

import optuna
from pydantic import BaseModel, ConfigDict, Field

from archon_compile.compiler.budget import TokenEstimate
from archon_compile.evaluation.engine import run_items
from archon_compile.evaluation.records import EvalRecord, Summary, mean_value, summarise
from archon_compile.program import Program
from archon_compile.runtime.trace import Usage
from archon_compile.spec import ArchitectureSpec
from archon_compile.tasks.base import Item, Judge, Task


class Objective(BaseModel):
    """`weighted`: maximise quality - lam x cost (one objective; Optuna pruners apply).
    `pareto`: maximise quality and minimise cost (two objectives; early stopping by `pareto_should_prune`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["weighted", "pareto"] = "weighted"
    lam: float = Field(0.0, ge=0.0, description="quality points given up per unit of cost (weighted mode)")
    cost: Literal["calls", "tokens"] = "calls"
    minibatch: int | None = Field(None, ge=1, description="dev items per minibatch (default: a quarter)")

    @property
    def directions(self) -> list[Literal["maximize", "minimize"]]:
        return ["maximize"] if self.mode == "weighted" else ["maximize", "minimize"]

    def cost_of(self, spec: ArchitectureSpec, tokens: TokenEstimate) -> float:
        return float(spec.calls_per_query() if self.cost == "calls" else tokens.input + tokens.output)

    def values(self, quality: float, cost: float) -> list[float]:
        return [quality - self.lam * cost] if self.mode == "weighted" else [quality, cost]

    def batch_size(self, n_dev: int) -> int:
        return self.minibatch or max(1, math.ceil(n_dev / 4))


class Evaluation(BaseModel):
    """The items scored so far, in order, under the evaluation engine's rules (`evaluation/records.py`),
    and the running quality after each batch."""

    records: list[EvalRecord] = Field(default_factory=list)
    curve: list[tuple[int, float]] = Field(
        default_factory=list, description="(items scored, quality) per batch"
    )

    @property
    def quality(self) -> float:
        """The mean over scored items (program errors 0, judge errors left out); 0 when none was scored."""
        mean = mean_value(self.records)
        return 0.0 if mean is None else mean

    @property
    def scores(self) -> list[float | None]:
        """Per-item values in item order; None for an item the judge could not score."""
        return [r.value() for r in self.records]

    @property
    def usage(self) -> Usage:
        """Everything sent for these items: the program's calls (failed queries included) and the judge's."""
        return sum((r.usage + r.judge_usage for r in self.records), Usage())

    @property
    def errors(self) -> int:
        return sum(r.program_error is not None for r in self.records)

    @property
    def judge_errors(self) -> int:
        return sum(r.judge_error is not None for r in self.records)

    def summary(self, seed: int = 0) -> Summary:
        return summarise(self.records, seed)

    def extend(self, records: Sequence[EvalRecord]) -> Evaluation:
        done = [*self.records, *records]
        mean = mean_value(done)
        return Evaluation(records=done, curve=[*self.curve, (len(done), 0.0 if mean is None else mean)])


def evaluate(task: Task, program: Program, items: Sequence[Item], judge: Judge | None) -> Evaluation:
    """All of `items` at once, through the evaluation engine."""
    return Evaluation().extend(run_items(task, program, items, judge))


class StopTrial(Exception):
    """Raised between minibatches when the trial should end early; `reason` says why."""

    def __init__(self, reason: str, evaluation: Evaluation) -> None:
        super().__init__(reason)
        self.reason = reason
        self.evaluation = evaluation


def evaluate_dev(
    task: Task,
    program: Program,
    dev: Sequence[Item],
    judge: Judge | None,
    objective: Objective,
    cost: float,
    trial: optuna.Trial,
    after_batch: Callable[[Evaluation], str | None],
) -> Evaluation:
    """Score the dev items minibatch by minibatch. After each, `after_batch` records the evaluation and
    may give a reason to stop; in weighted mode the trial also reports to Optuna's pruner.

    Raises StopTrial (with the partial evaluation) when the trial stops before the last item.
    """
    ev = Evaluation()
    size = objective.batch_size(len(dev))
    for start in range(0, len(dev), size):
        ev = ev.extend(run_items(task, program, dev[start : start + size], judge))
        reason = after_batch(ev)
        if len(ev.scores) == len(dev):
            break
        if objective.mode == "weighted":
            trial.report(objective.values(ev.quality, cost)[0], step=len(ev.scores))
            if trial.should_prune():
                raise StopTrial(f"pruned after {len(ev.scores)} of {len(dev)} dev items", ev)
        if reason:
            raise StopTrial(reason, ev)
    return ev


def pareto_should_prune(
    step: int,
    quality: float,
    cost: float,
    finished: Sequence[tuple[dict[int, float], float]],
    min_trials: int = 4,
) -> bool:
    """A two-objective median rule: stop a trial that, at this many dev items, is below the median
    quality of the finished trials at the same point *and* costs at least their median.

    `finished` holds each finished trial's curve (items scored -> running quality) and its cost.
    """
    at_step = [(curve[step], c) for curve, c in finished if step in curve]
    if len(at_step) < min_trials:
        return False
    median_q = statistics.median(q for q, _ in at_step)
    median_c = statistics.median(c for _, c in at_step)
    return quality < median_q and cost >= median_c
