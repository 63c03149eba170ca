"""One counter model (`CallCounts`/`Usage`) behind every calls-and-cost figure, with stable JSON."""

from __future__ import annotations

from archon_compile.compiler.budget import Budget, Spent
from archon_compile.compiler.marks import EvalAttrs
from archon_compile.evaluation.records import CostSummary
from archon_compile.runtime.trace import Usage

COUNTS = ["calls", "cache_hits", "failed_calls", "prompt_tokens", "completion_tokens"]


def test_usage_and_cost_summary_keep_their_json_fields() -> None:
    assert list(Usage().model_dump()) == [*COUNTS, "cost_usd", "cost_known"]
    assert list(CostSummary().model_dump()) == [*COUNTS, "cost_usd", "calls_per_query", "cost_per_query_usd"]
    unknown = CostSummary.of([Usage(calls=2, cost_usd=0.5), Usage(calls=1, cost_known=False)])
    assert (unknown.calls, unknown.cost_usd, unknown.calls_per_query) == (3, None, 1.5)


def test_spent_adds_usage_and_keeps_its_wall_time() -> None:
    spent = Spent(calls=3, cost_usd=0.25, wall_time_s=7.0) + Usage(calls=2, cache_hits=5, cost_usd=0.5)
    assert isinstance(spent, Spent)
    assert (spent.calls, spent.cache_hits, spent.cost_usd, spent.wall_time_s) == (5, 5, 0.75, 7.0)
    assert Budget(search_usd=0.7).exhausted(spent) == "search budget reached: $0.7500 >= $0.7000"
    assert Budget(search_calls=6).exhausted(spent) is None


def test_eval_attrs_of_a_study_written_before_usage_still_read() -> None:
    legacy = {
        "dev_quality": 0.5,
        "dev_items": 4,
        "calls": 12,
        "cache_hits": 3,
        "usd": 0.02,
        "naive_calls": 20,
    }
    ev = EvalAttrs.model_validate(legacy)
    assert (ev.usage.calls, ev.usage.cache_hits, ev.usage.cost_usd, ev.naive_calls) == (12, 3, 0.02, 20)
    assert EvalAttrs.model_validate(ev.model_dump()) == ev
