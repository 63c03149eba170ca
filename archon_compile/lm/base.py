"""The LM boundary: one request type, one response type, one async protocol.

Everything above this module (components, runtime, judges) speaks only these types, so a backend
(LiteLLM, the embedded llama.cpp model, the scripted test LM) is a single small class.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from archon_compile.errors import ArchonError


class Message(BaseModel):
    """One chat message."""

    model_config = ConfigDict(frozen=True)

    role: Literal["system", "user", "assistant"]
    content: str


class LMRequest(BaseModel):
    """Everything that determines an LM's answer; the cache key is a pure function of it.

    `sample_index` gives each of k samples its own identity, so k samples at temperature > 0 stay k
    distinct calls (DSPy's cache collapses them). `attempt` does the same for parse retries.
    """

    model_config = ConfigDict(frozen=True)

    model: str
    messages: tuple[Message, ...]
    temperature: float = 0.7
    max_tokens: int = 1024
    stop: tuple[str, ...] = ()
    api_base: str | None = None
    sample_index: int = 0
    attempt: int = 0
    seed: int | None = None

    def sample_seed(self, default: int | None = None) -> int | None:
        """The seed to send a backend: derived from `seed` (or `default`), `sample_index` and `attempt`,
        so k seeded samples differ (one shared seed would make them identical) while reruns repeat them."""
        base = self.seed if self.seed is not None else default
        if base is None:
            return None
        digest = hashlib.sha256(f"{base}:{self.sample_index}:{self.attempt}".encode()).digest()
        return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


class LMResponse(BaseModel):
    """One completion with the usage the provider reported."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    finish_reason: str | None = None


class BackendError(ArchonError, ValueError):
    """No LM backend can be made for a model string: an unknown embedded model, or a self-hosted model
    without an api_base."""


class LMError(ArchonError):
    """A failed LM call. `retryable` and `retry_after` drive the runtime's retry policy."""

    def __init__(
        self, message: str, *, retryable: bool, retry_after: float | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status


@runtime_checkable
class LM(Protocol):
    """An LM backend: turns a request into a response or raises LMError. A backend with a true
    `in_process` attribute (the embedded models) gets no network timeout from the runtime."""

    async def complete(self, request: LMRequest) -> LMResponse: ...


@runtime_checkable
class StreamingLM(LM, Protocol):
    """An LM that can also stream: `stream` yields text deltas as they arrive, then exactly one LMResponse
    (the whole text and its usage). Optional: the runtime streams only the final answer, and only from
    backends that have it; others answer in one piece."""

    def stream(self, request: LMRequest) -> AsyncIterator[str | LMResponse]: ...


@runtime_checkable
class NeedsSetUp(Protocol):
    """An LM with one-time set-up (an import, a TLS context, a price lookup) that the runtime awaits
    before timing a call, so trace latencies measure calls, not set-up. `prepare` must be idempotent."""

    async def prepare(self) -> None: ...
