"""The end of a compile: the best trial, the winner and the best single model on held-out, the report and
the artifact's provenance."""

from __future__ import annotations

from typing import Any

from archon_compile.compiler.driver import CompileError, Search
from archon_compile.compiler.marks import MarkKind
from archon_compile.compiler.objective import evaluate
from archon_compile.compiler.power import single_model_spec
from archon_compile.compiler.result import CompileResult, Counts, HeldOut, Report, TrialRow
from archon_compile.compiler.storage import redact
from archon_compile.compiler.trials import best, rows
from archon_compile.spec import ArchitectureSpec


def finish(search: Search, url: str) -> CompileResult:
    """Pick the best trial, score it and the best single model on held-out, and build the result."""
    table = rows(search.study, search.objective)
    complete = [r for r in table if r.candidate]
    if not complete:
        notes = sorted({r.note or r.state for r in table})[:5]
        raise CompileError(
            f"no trial of study {search.study.study_name!r} completed ({len(table)} tried: "
            f"{'; '.join(notes)}); raise --trials or widen the space or the budget"
        )
    top = best(complete, search.objective)
    best_spec = ArchitectureSpec.model_validate(search.study.trials[top.number].user_attrs["arch"]["spec"])
    best_spec = best_spec.model_copy(update={"name": search.task.name})
    single = single_model_spec(search.ranking.order[0], search.space.temperature, search.space.max_tokens)
    winner_h, winner_calls = _heldout(search, "winner", best_spec)
    single_h, single_calls = _heldout(search, f"best single model ({search.ranking.order[0]})", single)
    report = Report(
        task=search.task.name,
        models=search.models,
        study=search.study.study_name,
        storage=redact(url),
        seed=search.seed,
        objective=search.objective.model_dump(mode="json"),
        budget=search.budget.model_dump(mode="json", exclude_none=True),
        space=search.space.model_dump(mode="json"),
        space_size=search.space.size(len(search.models)).model_dump(exclude={"pool_size"}),
        dev_items=len(search.dev),
        heldout_items=len(search.heldout),
        power_ranking=search.ranking,
        best_trial=top,
        best_spec=best_spec.model_dump(mode="json"),
        winner=winner_h,
        best_single=single_h,
        trials=table,
        stop_reason=search.stop_reason,
        counts=_counts(search, table, winner_calls + single_calls),
    )
    provenance = _provenance(report, search.study.trials[top.number].params)
    return CompileResult(search.program(best_spec, provenance={"search": provenance}), report, provenance)


def _counts(search: Search, table: list[TrialRow], heldout_calls: int) -> Counts:
    def kind(r: TrialRow) -> MarkKind | None:
        return r.mark.kind if r.mark else None

    evaluated = [r for r in table if r.state in ("COMPLETE", "PRUNED") and kind(r) != MarkKind.SKIPPED]
    return Counts(
        ranking_calls=search.ranking.calls,
        search_calls=sum(r.calls for r in table),
        heldout_calls=heldout_calls,
        naive_search_calls=sum(r.naive_calls for r in table),
        trials_evaluated=len(evaluated),
        trials_pruned=sum(r.state == "PRUNED" for r in evaluated),
        trials_skipped=sum(kind(r) == MarkKind.SKIPPED for r in table),
    )


def _heldout(search: Search, name: str, spec: ArchitectureSpec) -> tuple[HeldOut | None, int]:
    if not search.heldout:
        return None, 0
    ev = evaluate(search.task, search.program(spec), search.heldout, search.judge)
    summary = ev.summary(seed=search.seed)
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


def _provenance(report: Report, params: dict[str, Any]) -> dict[str, Any]:
    """The artifact's `search` record: enough to know what was searched and how well the winner did."""
    top = report.best_trial
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
        "best_trial": top.number,
        "best_params": params,
        "dev_score": top.dev_quality,
        "heldout": report.winner.model_dump() if report.winner else None,
        "best_single_heldout": report.best_single.model_dump() if report.best_single else None,
        "cost_per_query": {
            "calls": top.calls_per_query,
            "tokens_upper_bound": top.tokens,
            "usd": report.winner.usd_per_query if report.winner else None,
        },
        "power_ranking": report.power_ranking.model_dump()["scores"],
        "stop_reason": report.stop_reason,
    }
