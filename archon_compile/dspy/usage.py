"""The architecture's usage in DSPy's usage tracking (`dspy.track_usage()`, `track_usage=True`).

DSPy tracks what a Response's `usage` holds: tokens. An architecture also knows how many LM calls it
made, how many its cache answered and what they cost, so those are added to the same tracker entry
(keyed by the LM's model string, merged by DSPy's own summing): after a query the entry holds
`prompt_tokens`, `completion_tokens`, `total_tokens`, `lm_calls`, `cache_hits`, `failed_calls` and,
when every call was priced, `cost_usd`.
"""

from __future__ import annotations

import dspy

from archon_compile.runtime.trace import Usage


def usage_entry(usage: Usage, *, tokens: bool) -> dict[str, int | float]:
    """A tracker entry; `tokens=False` when a Response already carries the tokens (DSPy adds those)."""
    entry: dict[str, int | float] = {
        "lm_calls": usage.calls,
        "cache_hits": usage.cache_hits,
        "failed_calls": usage.failed_calls,
    }
    if usage.cost_known:
        entry["cost_usd"] = usage.cost_usd
    if tokens:
        entry["prompt_tokens"] = usage.prompt_tokens
        entry["completion_tokens"] = usage.completion_tokens
        entry["total_tokens"] = usage.prompt_tokens + usage.completion_tokens
    return entry


def report_usage(model: str, usage: Usage, *, tokens: bool) -> None:
    """Add `usage` to the usage tracker active in this context, if any (DSPy sets one per call of a
    module when `track_usage=True`, and `dspy.track_usage()` sets one explicitly)."""
    tracker = dspy.settings.usage_tracker
    if tracker is not None:
        tracker.add_usage(model, usage_entry(usage, tokens=tokens))
