"""The study's trials read back: report rows (`TrialRow`), the Pareto front, the best trial by the
objective, an earlier trial of the same architecture, and the finished dev curves the early-stopping rule
compares."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from pydantic import BaseModel, Field

from archon_compile.compiler.marks import DONE, WORKER, Mark, MarkKind, arch_of, eval_of, mark_of, note
from archon_compile.compiler.objective import Objective
from archon_compile.compiler.storage import THIS_WORKER
from archon_compile.spec import ArchitectureSpec


class TrialRow(BaseModel):
    """One trial as the report shows it. `mark` says why it was skipped, stopped or failed; `note` is
    that reason (or a rerun's origin) in words."""

    number: int
    state: str
    params: dict[str, Any]
    value: float | None = None
    dev_quality: float | None = None
    dev_items: int = 0
    cost: float | None = None
    calls_per_query: int | None = None
    tokens: dict[str, int] | None = Field(None, description="upper bound of input/output tokens per query")
    calls: int = Field(0, description="LM calls this trial sent (cache hits excluded)")
    cache_hits: int = 0
    usd: float = 0.0
    naive_calls: int = Field(0, description="calls_per_query x queries evaluated: the cost without a cache")
    program_errors: int = Field(0, description="dev items whose program failed (scored 0)")
    judge_errors: int = Field(0, description="dev items the judge failed to score (left out of the mean)")
    scores: list[float | None] = Field(
        default_factory=list, description="per dev item, in dev order; None: the judge failed"
    )
    mark: Mark | None = None
    note: str | None = None
    on_front: bool = False

    @property
    def candidate(self) -> bool:
        """Evaluated on every dev item and not marked: a possible winner."""
        return self.state == "COMPLETE" and self.mark is None


_SHOWN = (*DONE, TrialState.FAIL)


def rows(study: optuna.Study, objective: Objective) -> list[TrialRow]:
    """Every trial that was evaluated or skipped, or failed its error budget; repeats (no call, the
    earlier trial's row stands for them), surplus and reaped trials are left out."""
    out = []
    for t in study.get_trials(deepcopy=False, states=_SHOWN):
        mark = mark_of(t)
        if mark is not None and mark.kind in (MarkKind.REPEAT, MarkKind.SURPLUS):
            continue
        if t.state == TrialState.FAIL and (mark is None or mark.kind != MarkKind.FAILED):
            continue
        out.append(_row(t, objective))
    front = pareto_front([r for r in out if r.candidate])
    return [r.model_copy(update={"on_front": r.number in front}) for r in out]


def _row(t: FrozenTrial, objective: Objective) -> TrialRow:
    arch, ev, mark = arch_of(t), eval_of(t), mark_of(t)
    return TrialRow(
        number=t.number,
        state=t.state.name,
        params=t.params,
        value=t.values[0] if t.values and objective.mode == "weighted" else None,
        dev_quality=ev.dev_quality if ev else None,
        dev_items=ev.dev_items if ev else 0,
        cost=arch.cost if arch else None,
        calls_per_query=arch.calls_per_query if arch else None,
        tokens=arch.tokens.model_dump() if arch else None,
        calls=ev.usage.calls if ev else 0,
        cache_hits=ev.usage.cache_hits if ev else 0,
        usd=ev.usage.cost_usd if ev else 0.0,
        naive_calls=ev.naive_calls if ev else 0,
        program_errors=ev.program_errors if ev else 0,
        judge_errors=ev.judge_errors if ev else 0,
        scores=ev.scores if ev else [],
        mark=mark,
        note=note(t),
    )


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


def best(complete: Sequence[TrialRow], objective: Objective) -> TrialRow:
    """Weighted: the highest value. Pareto: the highest quality on the front. Ties: cheaper, then earlier."""
    if objective.mode == "weighted":
        return min(complete, key=lambda r: (-(r.value or 0.0), r.cost or 0.0, r.number))
    return min(
        (r for r in complete if r.on_front), key=lambda r: (-(r.dev_quality or 0.0), r.cost or 0.0, r.number)
    )


def evaluated_twin(trials: Sequence[FrozenTrial], digest: str) -> FrozenTrial | None:
    """An earlier trial of the same architecture: evaluated, or failed its error budget in this process
    (a rerun of the command tries failed architectures again, once their cause may be fixed)."""
    for t in trials:
        arch = arch_of(t)
        if arch is None or arch.spec_hash != digest:
            continue
        mark = mark_of(t)
        failed_here = (
            mark is not None and mark.kind == MarkKind.FAILED and t.user_attrs.get(WORKER) == THIS_WORKER
        )
        if t.state in DONE or failed_here:
            return t
    return None


def finished_curves(trials: Sequence[FrozenTrial]) -> list[tuple[dict[int, float], float]]:
    """(dev curve, cost) of every finished, evaluated trial: what the Pareto early-stopping rule compares."""
    out = []
    for t in trials:
        arch, ev = arch_of(t), eval_of(t)
        if t.state in DONE and arch is not None and ev is not None:
            out.append((dict(ev.dev_curve), arch.cost))
    return out


def spec_hash(spec: ArchitectureSpec) -> str:
    """The architecture's identity: equal layers, equal hash, whatever the spec's name."""
    layers = spec.model_dump(mode="json")["layers"]
    return hashlib.sha256(json.dumps(layers, sort_keys=True).encode()).hexdigest()[:16]
