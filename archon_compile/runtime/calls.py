"""Issuing LM calls: cache, concurrency limit, timeout, retries with backoff, parse retries, trace.

Components never talk to a backend directly; they hand a request and a parser to `Runtime.call`, which
owns every policy about calls in one place.
"""

from __future__ import annotations

import asyncio
import random
import time
import weakref
from collections.abc import Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel, Field

from archon_compile.errors import ArchonError
from archon_compile.lm.base import LM, LMError, LMRequest, LMResponse, NeedsSetUp
from archon_compile.lm.redact import redact
from archon_compile.parsed import Parsed
from archon_compile.runtime.cache import Cache, cache_key
from archon_compile.runtime.history import CallHistory, with_text
from archon_compile.runtime.stream import AnswerStream
from archon_compile.runtime.trace import CallRecord, Trace

T = TypeVar("T")


class RetryPolicy(BaseModel):
    """How hard to try one call. Delays double from `base_delay_s` up to `max_delay_s`, with jitter."""

    timeout_s: float = Field(120.0, gt=0, description="per network call; in-process models have none")
    max_retries: int = Field(3, ge=0)
    base_delay_s: float = Field(0.5, ge=0)
    max_delay_s: float = Field(30.0, ge=0)
    parse_retries: int = Field(1, ge=0, description="extra attempts when the output cannot be parsed")
    max_retry_after_s: float = Field(
        120.0,
        ge=0,
        description="a server asking to wait longer than this fails the call instead of hanging it",
    )

    def delay(self, retry: int, retry_after: float | None, rng: random.Random) -> float:
        backoff = min(self.max_delay_s, self.base_delay_s * (2**retry)) * rng.uniform(0.5, 1.5)
        return max(backoff, retry_after or 0.0)


class CallFailed(ArchonError):
    """An LM call that failed for good (non-retryable, or retries exhausted)."""


@dataclass
class Outcome(Generic[T]):
    value: T
    text: str
    ok: bool


Resolver = Callable[[str, "str | None"], LM]


class Runtime:
    """Shared by every component of a program: one cache, one concurrency limit, one retry policy.

    `history` keeps the last calls' text in memory (`runtime/history.py`); `trace_text` puts the text on
    the trace records too (credentials masked).
    """

    def __init__(
        self,
        resolve: Resolver,
        cache: Cache | None = None,
        policy: RetryPolicy | None = None,
        concurrency: int = 32,
        *,
        history: CallHistory | None = None,
        trace_text: bool = False,
    ) -> None:
        self.resolve = resolve
        self.cache = cache
        self.policy = policy or RetryPolicy()
        self.concurrency = concurrency
        self.history = history
        self.trace_text = trace_text
        self._limits: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )
        self._rng = random.Random()

    def _limit(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        sem = self._limits.get(loop)
        if sem is None:
            sem = self._limits[loop] = asyncio.Semaphore(self.concurrency)
        return sem

    async def call(
        self,
        request: LMRequest,
        parse: Callable[[str], Parsed[T]],
        *,
        component: str,
        trace: Trace,
        fallback: str = "fallback value",
        stream: AnswerStream | None = None,
    ) -> Outcome[T]:
        """Call, parse, and retry a bounded number of times on an unusable answer.

        Only parsed answers are cached. When every attempt is unusable the parser's fallback value is
        returned and the trace records `fallback`. With a `stream`, the text goes there as it arrives
        (a cached answer in one piece).
        """
        parsed: Parsed[T] | None = None
        text = ""
        for attempt in range(self.policy.parse_retries + 1):
            req = request.model_copy(update={"attempt": attempt}) if attempt else request
            key = cache_key(req)
            try:
                response, record = await self._fetch(req, key, component, stream)
            except CallFailed as exc:
                failed = CallRecord(
                    component=component,
                    model=req.model,
                    sample=req.sample_index,
                    attempt=attempt,
                    error=str(exc),
                )
                self._record(trace, failed, req, None)
                raise
            text = response.text
            parsed = parse(text)
            last = attempt == self.policy.parse_retries
            if parsed.ok:
                if not record.cache_hit and self.cache is not None:
                    self.cache.put(key, response)
                self._record(trace, record, req, text)
                return Outcome(parsed.value, text, True)
            record = record.model_copy(
                update={"parse_ok": False, "fallback": f"{fallback}: {parsed.note}" if last else None}
            )
            self._record(trace, record, req, text)
        assert parsed is not None
        return Outcome(parsed.value, text, False)

    def _record(self, trace: Trace, record: CallRecord, req: LMRequest, reply: str | None) -> None:
        """Trace a call (with its text when asked) and keep it in the history."""
        if self.history is not None:
            self.history.add(record, req, reply)
        trace.record(with_text(record, req, reply) if self.trace_text else record)

    async def _fetch(
        self, req: LMRequest, key: str, component: str, stream: AnswerStream | None
    ) -> tuple[LMResponse, CallRecord]:
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                if stream is not None:
                    stream.write(hit.text)
                return hit, CallRecord(
                    component=component,
                    model=req.model,
                    cache_hit=True,
                    sample=req.sample_index,
                    attempt=req.attempt,
                    prompt_tokens=hit.prompt_tokens,
                    completion_tokens=hit.completion_tokens,
                )
        lm = self.resolve(req.model, req.api_base)
        if isinstance(lm, NeedsSetUp):
            await lm.prepare()  # before the clock starts: latency is the call's, not the client's set-up
        # An in-process model (the embedded llama.cpp ones) is bounded by max_tokens; a network timeout
        # would cut a slow but progressing generation and pay for it again on the retry.
        timeout = None if getattr(lm, "in_process", False) else self.policy.timeout_s
        retries = 0
        start = time.perf_counter()
        while True:
            try:
                async with self._limit():
                    response = await asyncio.wait_for(_ask(lm, req, stream), timeout)
                break
            except (LMError, TimeoutError) as exc:
                err = (
                    exc
                    if isinstance(exc, LMError)
                    else LMError(f"timed out after {self.policy.timeout_s:g}s", retryable=True)
                )
                too_long = (err.retry_after or 0.0) > self.policy.max_retry_after_s
                streamed = stream is not None and bool(stream.sent)  # sent text cannot be taken back
                if not err.retryable or retries >= self.policy.max_retries or too_long or streamed:
                    why = f"; Retry-After {err.retry_after:g}s exceeds max_retry_after_s" if too_long else ""
                    why += "; not retried: part of the answer was already streamed" if streamed else ""
                    # Redacted here too, so no backend (a user's own LM included) can leak a key.
                    msg = redact(f"{req.model}: {err} (after {retries} retries{why})", req.api_base)
                    raise CallFailed(msg) from None
                await asyncio.sleep(self.policy.delay(retries, err.retry_after, self._rng))
                retries += 1
        record = CallRecord(
            component=component,
            model=req.model,
            sample=req.sample_index,
            attempt=req.attempt,
            prompt_tokens=response.prompt_tokens,
            completion_tokens=response.completion_tokens,
            cost_usd=response.cost_usd,
            latency_s=time.perf_counter() - start,
            retries=retries,
        )
        return response, record


async def _ask(lm: LM, req: LMRequest, stream: AnswerStream | None) -> LMResponse:
    """One call; streamed when there is somewhere to send the text and the backend can stream."""
    chunks = getattr(lm, "stream", None) if stream is not None else None
    if stream is None or chunks is None:
        response = await lm.complete(req)
        if stream is not None:
            stream.write(response.text)
        return response
    final: LMResponse | None = None
    async with aclosing(chunks(req)) as deltas:  # closed at once when the query is cancelled
        async for chunk in deltas:
            if isinstance(chunk, LMResponse):
                final = chunk
            else:
                stream.write(chunk)
    if final is None:
        raise LMError("the stream ended without its final response", retryable=True)
    return final
