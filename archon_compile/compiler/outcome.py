"""The end of a compile: the honest winner (`verdict.select`), the winner and the best single model on
held-out with the verdict, the report and the artifact's provenance."""

from __future__ import annotations

import time
from typing import Any

from archon_compile.compiler.budget import estimate_tokens
from archon_compile.compiler.driver import CompileError, Search
from archon_compile.compiler.marks import MarkKind, arch_of
from archon_compile.compiler.objective import Evaluation, evaluate
from archon_compile.compiler.power import single_model_spec
from archon_compile.compiler.report import Counts, HeldOut, Report, Timings
from archon_compile.compiler.result import CompileResult
from archon_compile.compiler.storage import hide_password
from archon_compile.compiler.trials import TrialRow, best, rows
from archon_compile.compiler.verdict import Selection, select, verdict
from archon_compile.spec import ArchitectureSpec


def finish(search: Search, url: str, timings: Timings) -> CompileResult:
    """Pick the winner, score it and the best single model on held-out, and build the result."""
    table = rows(search.study, search.objective)
    complete = [r for r in table if r.candidate]
    if not complete:
        notes = sorted({r.note or r.state for r in table})[:5]
        raise CompileError(
            f"no trial of study {search.study.study_name!r} completed ({len(table)} tried: "
            f"{'; '.join(notes)}); nothing was measured, so no artifact is written: raise --trials, widen "
            "the space or the budget, or fix the errors shown"
        )
    top = best(complete, search.objective)
    leader = search.ranking.best
    single = single_model_spec(leader.model, search.space.temperature, search.space.max_tokens)
    single_cost = search.objective.cost_of(single, estimate_tokens(single, search.query_tokens()))
    selection = select(complete, top, leader.scores, single_cost, search.objective, search.seed)
    chosen = _chosen_spec(search, selection, single)
    started = time.monotonic()
    winner_ev = _heldout_eval(search, chosen)
    single_ev = winner_ev if chosen == single else _heldout_eval(search, single)
    timings = timings.model_copy(update={"heldout_s": time.monotonic() - started})
    single_name = f"best single model ({leader.model})"
    winner_name = single_name if chosen == single else f"winner (trial #{selection.chosen_trial})"
    report = Report(
        task=search.task.name,
        models=search.models,
        study=search.study.study_name,
        storage=hide_password(url),
        seed=search.seed,
        objective=search.objective.model_dump(mode="json"),
        budget=search.budget.model_dump(mode="json", exclude_none=True),
        space=search.space.model_dump(mode="json"),
        space_size=search.space.size(len(search.models)).model_dump(exclude={"pool_size"}),
        dev_items=len(search.dev),
        heldout_items=len(search.heldout),
        power_ranking=search.ranking,
        best_trial=top,
        selection=selection,
        best_spec=chosen.model_copy(update={"name": search.task.name}).model_dump(mode="json"),
        winner=_heldout(search, winner_name, chosen, winner_ev),
        best_single=_heldout(search, single_name, single, single_ev),
        verdict=verdict(
            winner_name,
            single_name,
            winner_ev.scores if winner_ev else [],
            single_ev.scores if single_ev else [],
            search.seed,
        ),
        trials=table,
        stop_reason=search.stop_reason,
        counts=_counts(search, table, winner_ev, single_ev if single_ev is not winner_ev else None),
        timings=timings,
    )
    params = search.study.trials[selection.chosen_trial].params if selection.chosen_trial is not None else {}
    provenance = _provenance(report, params)
    spec = chosen.model_copy(update={"name": search.task.name})
    return CompileResult(search.program(spec, provenance={"search": provenance}), report, provenance)


def _chosen_spec(search: Search, selection: Selection, single: ArchitectureSpec) -> ArchitectureSpec:
    if selection.chosen_trial is None:
        return single
    arch = arch_of(search.study.trials[selection.chosen_trial])
    if arch is None:
        raise AssertionError(f"trial {selection.chosen_trial} is complete but has no architecture")
    return ArchitectureSpec.from_data(arch.spec, source=f"trial {selection.chosen_trial} of the study")


def _counts(
    search: Search, table: list[TrialRow], winner: Evaluation | None, single: Evaluation | None
) -> Counts:
    def kind(r: TrialRow) -> MarkKind | None:
        return r.mark.kind if r.mark else None

    evaluated = [r for r in table if r.state in ("COMPLETE", "PRUNED") and kind(r) != MarkKind.SKIPPED]
    return Counts(
        ranking_calls=search.ranking.calls,
        search_calls=sum(r.calls for r in table),
        heldout_calls=sum(e.usage.calls for e in (winner, single) if e is not None),
        naive_search_calls=sum(r.naive_calls for r in table),
        trials_evaluated=len(evaluated),
        trials_pruned=sum(r.state == "PRUNED" for r in evaluated),
        trials_skipped=sum(kind(r) == MarkKind.SKIPPED for r in table),
        trials_failed=sum(kind(r) == MarkKind.FAILED for r in table),
        program_errors=sum(r.program_errors for r in table),
        judge_errors=sum(r.judge_errors for r in table),
    )


def _heldout_eval(search: Search, spec: ArchitectureSpec) -> Evaluation | None:
    return (
        evaluate(search.task, search.program(spec), search.heldout, search.judge) if search.heldout else None
    )


def _heldout(search: Search, name: str, spec: ArchitectureSpec, ev: Evaluation | None) -> HeldOut | None:
    if ev is None:
        return None
    summary = ev.summary(seed=search.seed)
    sent = ev.usage.calls
    usd = ev.usage.cost_usd / sent * spec.calls_per_query() if sent and ev.usage.cost_known else None
    return HeldOut(
        name=name,
        quality=ev.quality,
        ci_low=summary.ci_low or 0.0,
        ci_high=summary.ci_high or 0.0,
        items=summary.n,
        calls_per_query=spec.calls_per_query(),
        usd_per_query=usd,
        program_errors=summary.n_program_errors,
        judge_errors=summary.n_judge_errors,
    )


def _provenance(report: Report, params: dict[str, Any]) -> dict[str, Any]:
    """The artifact's `search` record: enough to know what was searched and how well the winner did."""
    top = report.best_trial
    chosen = report.chosen_trial
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
        "best_trial": chosen,
        "best_params": params,
        "dev_score": top.dev_quality if chosen == top.number else _single_dev(report, chosen),
        "selection": report.selection.model_dump() if report.selection else None,
        "heldout": report.winner.model_dump() if report.winner else None,
        "best_single_heldout": report.best_single.model_dump() if report.best_single else None,
        "verdict": report.verdict.model_dump() if report.verdict else None,
        "cost_per_query": {
            "calls": report.winner.calls_per_query if report.winner else top.calls_per_query,
            "tokens_upper_bound": top.tokens if chosen == top.number else None,
            "usd": report.winner.usd_per_query if report.winner else None,
        },
        "power_ranking": report.power_ranking.model_dump(exclude={"scores": {"__all__": {"scores"}}})[
            "scores"
        ],
        "stop_reason": report.stop_reason,
    }


def _single_dev(report: Report, chosen: int | None) -> float | None:
    """The dev score of the emitted program when it is not the best trial."""
    if chosen is None:
        return report.power_ranking.best.quality
    return next((r.dev_quality for r in report.trials if r.number == chosen), None)
