"""What both remote clients (the direct OpenAI-compatible one and LiteLLM's) share about a chat call:
the request body, which HTTP statuses are worth a retry, and the server's Retry-After."""

from __future__ import annotations

import datetime as dt
import email.utils
from typing import Any

from archon_compile.lm.base import LMRequest

RETRYABLE_STATUS = frozenset({408, 409, 425, 429})


def chat_body(model: str, request: LMRequest, seed_param: str | None = "seed") -> dict[str, Any]:
    """The chat-completions body of a request for `model`; the seed goes under `seed_param` (None: not
    sent), since providers name it differently."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
    }
    if request.stop:
        body["stop"] = list(request.stop)
    seed = request.sample_seed()
    if seed is not None and seed_param:
        body[seed_param] = seed
    return body


def retryable_status(status: int) -> bool:
    """Timeouts, conflicts, rate limits and server errors pass; other client errors would fail again."""
    return status in RETRYABLE_STATUS or status >= 500


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date); None when absent or bad."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())
