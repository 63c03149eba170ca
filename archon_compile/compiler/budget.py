"""Budgets: per-query limits that exclude an architecture before it runs, and limits on the search.

Per-query costs are computed from the spec alone: LM calls exactly (`spec.calls_per_query()`), tokens as
an upper bound (every call writes `max_tokens`; a call reads the query, its instructions and every
candidate it is shown at the producer's `max_tokens`).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from archon_compile.runtime.trace import Usage
from archon_compile.spec import ArchitectureSpec

INSTRUCTION_TOKENS = 120
"""Tokens a component's instructions add to a prompt (the longest built-in instruction is ~90 words)."""


class TokenEstimate(BaseModel):
    input: int
    output: int


class Spent(BaseModel):
    """What the search has sent so far (cache hits are free and not counted)."""

    calls: int = 0
    usd: float = 0.0
    wall_time_s: float = 0.0

    def plus(self, usage: Usage) -> Spent:
        return Spent(
            calls=self.calls + usage.calls, usd=self.usd + usage.cost_usd, wall_time_s=self.wall_time_s
        )


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
        if self.search_usd is not None and spent.usd >= self.search_usd:
            return f"search budget reached: ${spent.usd:.4f} >= ${self.search_usd:.4f}"
        if self.wall_time_s is not None and spent.wall_time_s >= self.wall_time_s:
            return f"search budget reached: {spent.wall_time_s:.0f}s of wall time >= {self.wall_time_s:.0f}s"
        return None


def estimate_tokens(spec: ArchitectureSpec, query_tokens: int) -> TokenEstimate:
    """Upper bounds of the input and output tokens of one query through `spec`."""
    prompt_in = query_tokens + INSTRUCTION_TOKENS
    n, cand_len, critique_len, tests = 0, 0, 0, 0
    total_in = total_out = 0
    counts = spec.candidate_counts()
    for layer, leaving in zip(spec.layers, counts, strict=True):
        kind = layer[0].type
        max_out = getattr(layer[0], "max_tokens", 0)
        shown = n * (cand_len + critique_len)
        if kind == "generator":
            calls, per_call_in = leaving, query_tokens
        elif kind == "fuser":
            calls, per_call_in = leaving, prompt_in + shown
        elif kind in ("critic", "ranker"):
            calls, per_call_in = 1, prompt_in + shown
        elif kind == "verifier":
            calls, per_call_in = (
                2 * n,
                prompt_in + cand_len + critique_len + max_out // 2,
            )  # 2nd call sees the 1st
        elif kind == "unit_test_generator":
            calls, per_call_in = 1, prompt_in
        elif kind == "unit_test_evaluator" and layer[0].mode == "lm":  # type: ignore[union-attr]
            calls, per_call_in = n, prompt_in + cand_len + tests
        else:  # voter, sandboxed tests: no LM call
            calls, per_call_in = 0, 0
        total_in += calls * per_call_in
        total_out += calls * max_out
        if kind in ("generator", "fuser"):
            cand_len, critique_len = max_out, 0
        elif kind == "critic":
            critique_len = max_out // max(n, 1)
        elif kind == "unit_test_generator":
            tests = max_out
        n = leaving
    return TokenEstimate(input=total_in, output=total_out)
