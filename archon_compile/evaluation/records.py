"""What one scored item is, and what a set of them sums to: the engine's rules in one place.

- A program error (the architecture gave no answer) scores 0 and counts in `n_program_errors`: failing
  to answer is the program's fault.
- A judge error (judge call failed, verdict unparseable, the metric itself raised) leaves the item out of
  the mean and counts in `n_judge_errors`: it says nothing about the program, so it is never a 0.
- What failed queries paid before failing counts in the usage and cost, like any other call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field

from archon_compile.runtime.trace import CallCounts, Usage
from archon_compile.stats import bootstrap_ci
from archon_compile.tasks.base import ItemResult, Score

FIRST_ERRORS = 5
"""Errors of each kind kept in a summary as examples (the JSONL holds them all)."""


class EvalRecord(BaseModel):
    """One item: the query, the program's answers, the score and what the program and the judge paid.
    Also one line of the results JSONL."""

    task: str
    program: str
    item_id: str
    turns: list[str]
    answers: list[str]
    score: Score | None = Field(None, description="None when the program failed (no answer to score)")
    usage: Usage = Field(default_factory=Usage, description="the program's calls, failed queries included")
    error: str | None = Field(None, description="the program failed on this item (counted as 0)")
    elapsed_s: float = 0.0

    @property
    def program_error(self) -> str | None:
        return self.error

    @property
    def judge_error(self) -> str | None:
        """Why the item could not be scored although the program answered, or None."""
        if self.error is not None or self.score is None:
            return None
        return self.score.error

    @property
    def judge_usage(self) -> Usage:
        return self.score.judge_usage if self.score is not None else Usage()

    @property
    def failed(self) -> bool:
        """Either kind of error: a resumed evaluation runs such an item again."""
        return self.error is not None or self.judge_error is not None

    def value(self) -> float | None:
        """The item's value in the mean: 0 for a program error, None (left out) for a judge error."""
        if self.error is not None:
            return 0.0
        if self.score is None or self.score.error is not None:
            return None
        return self.score.value

    def result(self) -> ItemResult:
        """The record as a task metric's `summarise` reads it."""
        return ItemResult(
            item_id=self.item_id,
            query=self.turns[0],
            answers=self.answers,
            score=self.score,
            usage=self.usage,
            error=self.error,
        )


class CostSummary(CallCounts):
    """Totals over the evaluated items and the same per query; cost None when some call's cost is unknown."""

    cost_usd: float | None = 0.0
    calls_per_query: float = 0.0
    cost_per_query_usd: float | None = 0.0

    @classmethod
    def of(cls, usages: Sequence[Usage]) -> CostSummary:
        total = sum(usages, Usage())
        n = max(1, len(usages))
        cost = total.cost_usd if total.cost_known else None
        return cls(
            **total.model_dump(include=set(CallCounts.model_fields)),
            cost_usd=cost,
            calls_per_query=total.calls / n,
            cost_per_query_usd=None if cost is None else cost / n,
        )


class ItemError(BaseModel):
    """One item's error, as a summary shows it."""

    item_id: str
    kind: Literal["program", "judge"]
    message: str


class Summary(BaseModel):
    """A set of scored items under the rules of the module doc. `mean` and the CI are over `n_scored`."""

    n: int = Field(description="items evaluated")
    n_scored: int = Field(description="items in the mean: all but those with a judge error")
    n_program_errors: int = Field(description="items the program failed on (scored 0)")
    n_judge_errors: int = Field(description="items left out of the mean because they could not be scored")
    mean: float | None
    ci_low: float | None = Field(description="bootstrap 95% CI of the mean, seeded")
    ci_high: float | None
    program_usage: CostSummary
    judge_usage: CostSummary
    first_errors: list[ItemError] = Field(
        default_factory=list, description=f"the first {FIRST_ERRORS} errors of each kind, in item order"
    )

    @property
    def all_failed(self) -> bool:
        """True when items were evaluated and none of them was scored with an answer: nothing measured."""
        return self.n > 0 and self.n_program_errors + self.n_judge_errors == self.n


def mean_value(records: Sequence[EvalRecord]) -> float | None:
    """The mean under the engine's rules (cheap: no CI)."""
    values = [v for v in (r.value() for r in records) if v is not None]
    return sum(values) / len(values) if values else None


def summarise(records: Sequence[EvalRecord], seed: int = 0) -> Summary:
    """The summary of `records`, in their order (the bootstrap resamples that order, seeded)."""
    values = [v for v in (r.value() for r in records) if v is not None]
    low, high = bootstrap_ci(values, seed)
    return Summary(
        n=len(records),
        n_scored=len(values),
        n_program_errors=sum(r.error is not None for r in records),
        n_judge_errors=sum(r.judge_error is not None for r in records),
        mean=sum(values) / len(values) if values else None,
        ci_low=low,
        ci_high=high,
        program_usage=CostSummary.of([r.usage for r in records]),
        judge_usage=CostSummary.of([r.judge_usage for r in records]),
        first_errors=first_errors(records),
    )


def first_errors(records: Sequence[EvalRecord], limit: int = FIRST_ERRORS) -> list[ItemError]:
    program = [ItemError(item_id=r.item_id, kind="program", message=r.error) for r in records if r.error]
    judge = [
        ItemError(item_id=r.item_id, kind="judge", message=r.judge_error) for r in records if r.judge_error
    ]
    return program[:limit] + judge[:limit]
