"""Budgets: per-query limits that exclude an architecture before it runs, and limits on the search.

Per-query costs are computed from the spec alone: LM calls exactly (`spec.calls_per_query()`), tokens as
an upper bound (every call writes `max_tokens`; a call reads the query, its instructions and every
candidate it is shown at the producer's `max_tokens`).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from archon_compile.contract import Flow, TokenEstimate
from archon_compile.rules import flow_tokens
from archon_compile.runtime.trace import Usage
from archon_compile.spec import ArchitectureSpec

__all__ = ["INSTRUCTION_TOKENS", "Budget", "Spent", "TokenEstimate", "estimate_tokens"]

INSTRUCTION_TOKENS = 120
"""Tokens a component's instructions add to a prompt (the longest built-in instruction is ~90 words)."""


class Spent(Usage):
    """What the search has sent so far (cache hits are free: `calls` and `cost_usd` count the paid ones),
    and the wall time it took."""

    wall_time_s: float = 0.0


class Budget(BaseModel):
    """Hard limits. Per query: architectures over them are skipped unrun. Search: the search stops
    cleanly (the running trial is cut short) once one is reached and the best trial so far is emitted."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    calls_per_query: int | None = Field(None, ge=1)
    input_tokens_per_query: int | None = Field(None, ge=1)
    output_tokens_per_query: int | None = Field(None, ge=1)
    search_calls: int | None = Field(None, ge=1, description="LM calls sent by the whole search")
    search_usd: float | None = Field(None, gt=0)
    wall_time_s: float | None = Field(None, gt=0)

    def excludes(self, spec: ArchitectureSpec, tokens: TokenEstimate) -> str | None:
        """Why `spec` is over a per-query budget, or None when it fits."""
        checks = [
            ("LM calls", spec.calls_per_query(), self.calls_per_query),
            ("input tokens (upper bound)", tokens.input, self.input_tokens_per_query),
            ("output tokens (upper bound)", tokens.output, self.output_tokens_per_query),
        ]
        for what, value, limit in checks:
            if limit is not None and value > limit:
                return f"over budget: {value} {what} per query > {limit}"
        return None

    def exhausted(self, spent: Spent) -> str | None:
        """Why the search must stop, or None."""
        if self.search_calls is not None and spent.calls >= self.search_calls:
            return f"search budget reached: {spent.calls} LM calls >= {self.search_calls}"
        if self.search_usd is not None and spent.cost_usd >= self.search_usd:
            return f"search budget reached: ${spent.cost_usd:.4f} >= ${self.search_usd:.4f}"
        if self.wall_time_s is not None and spent.wall_time_s >= self.wall_time_s:
            return f"search budget reached: {spent.wall_time_s:.0f}s of wall time >= {self.wall_time_s:.0f}s"
        return None


def estimate_tokens(spec: ArchitectureSpec, query_tokens: int) -> TokenEstimate:
    """Upper bounds of the input and output tokens of one query through `spec` (each component's
    contract says what its calls read and write)."""
    return flow_tokens(spec.layers, Flow(query_tokens=query_tokens, instruction_tokens=INSTRUCTION_TOKENS))
