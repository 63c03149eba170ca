"""Traces and usage: what every LM call cost, counted safely under concurrency."""

from __future__ import annotations

import threading
from typing import Self

from pydantic import BaseModel, Field

from archon_compile.lm.base import Message


class CallRecord(BaseModel):
    """One LM call as the runtime saw it (a cache hit is a call that cost nothing)."""

    component: str
    model: str
    sample: int = 0
    attempt: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    latency_s: float = 0.0
    cache_hit: bool = False
    retries: int = 0
    parse_ok: bool = True
    fallback: str | None = Field(None, description="what the component did when the output was unusable")
    error: str | None = None
    lm_call: bool = Field(True, description="False for a note of a fallback taken without an LM call")
    messages: tuple[Message, ...] | None = Field(
        None, description="the prompt, credentials masked: set only when text was asked for (trace_text)"
    )
    reply: str | None = Field(None, description="the answer text, credentials masked; as `messages`")


class CallCounts(BaseModel):
    """The counts every usage figure shares (a query's, an evaluation's, a search's): calls sent and paid
    for, calls the cache answered (free), calls that failed for good, and the tokens of the paid ones."""

    calls: int = 0
    cache_hits: int = 0
    failed_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Usage(CallCounts):
    """Totals over a query (or a batch, a trial, a search) and what they cost."""

    cost_usd: float = 0.0
    cost_known: bool = True

    def add(self, rec: CallRecord) -> None:
        if not rec.lm_call:  # a fallback note: the failed call behind it was already counted
            return
        if rec.error is not None:
            self.failed_calls += 1
            return
        if rec.cache_hit:
            self.cache_hits += 1
            return
        self.calls += 1
        self.prompt_tokens += rec.prompt_tokens
        self.completion_tokens += rec.completion_tokens
        if rec.cost_usd is None:
            self.cost_known = False
        else:
            self.cost_usd += rec.cost_usd

    def __add__(self, other: Usage) -> Self:
        """The sum, of this one's type (a subclass keeps its own other fields)."""
        summed: dict[str, object] = {f: getattr(self, f) + getattr(other, f) for f in _SUMMED}
        return self.model_copy(update=summed | {"cost_known": self.cost_known and other.cost_known})


_SUMMED = (*CallCounts.model_fields, "cost_usd")


class Trace:
    """An append-only, thread-safe list of CallRecords for one query."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[CallRecord] = []

    def record(self, rec: CallRecord) -> None:
        with self._lock:
            self._records.append(rec)

    @property
    def records(self) -> list[CallRecord]:
        with self._lock:
            return list(self._records)

    def usage(self) -> Usage:
        total = Usage()
        for rec in self.records:
            total.add(rec)
        return total
