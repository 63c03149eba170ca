"""Any LiteLLM model string (OpenAI, Anthropic, Together, Groq, Gemini, Bedrock, vLLM/llama.cpp servers).

LiteLLM reads the standard provider environment variables for keys; this client never handles a key, so
none can reach a request, the cache, a trace or an artifact. Retries belong to the runtime, so LiteLLM's
own are off, as are its callbacks and logging (per-call overhead is most of the latency gap).
"""

from __future__ import annotations

import os
from typing import Any

from archon_compile.lm.base import LMError, LMRequest, LMResponse

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

_litellm: Any = None


def _module() -> Any:
    """Import LiteLLM on first use: it is slow to import and most programs need it only at call time."""
    global _litellm
    if _litellm is None:
        import litellm

        litellm.telemetry = False
        litellm.suppress_debug_info = True
        litellm.turn_off_message_logging = True
        litellm.drop_params = True
        litellm.num_retries = 0
        litellm.callbacks = []
        litellm.success_callback = []
        litellm.failure_callback = []
        _litellm = litellm
    return _litellm


class LiteLLMClient:
    def __init__(self, model: str, api_base: str | None = None) -> None:
        self.model = model
        self.api_base = api_base

    async def complete(self, request: LMRequest) -> LMResponse:
        litellm = _module()
        kwargs: dict[str, Any] = {
            "model": request.model,
            "messages": [m.model_dump() for m in request.messages],
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
        }
        if request.stop:
            kwargs["stop"] = list(request.stop)
        if request.seed is not None:
            kwargs["seed"] = request.seed
        if request.api_base or self.api_base:
            kwargs["api_base"] = request.api_base or self.api_base
            if request.model.startswith("openai/") and not os.environ.get("OPENAI_API_KEY"):
                kwargs["api_key"] = "not-needed"  # local OpenAI-compatible servers ignore it
        try:
            resp = await litellm.acompletion(**kwargs)
        except Exception as exc:  # LiteLLM maps every provider's errors onto its own classes
            raise _to_lm_error(exc) from None
        try:
            choice = resp.choices[0]
            text = choice.message.content or ""
            usage = getattr(resp, "usage", None)
        except (AttributeError, IndexError, TypeError) as exc:
            raise LMError(f"malformed response from {request.model}: {exc}", retryable=True) from None
        return LMResponse(text=text, prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
                          completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
                          cost_usd=_cost(litellm, resp), finish_reason=getattr(choice, "finish_reason", None))


def _cost(litellm: Any, resp: Any) -> float | None:
    try:
        return float(litellm.completion_cost(completion_response=resp))
    except Exception:  # unpriced model (local servers, new models): cost unknown, not zero
        return None


def _to_lm_error(exc: Exception) -> LMError:
    status = getattr(exc, "status_code", None)
    retry_after = None
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    try:
        if "retry-after" in headers:
            retry_after = float(headers["retry-after"])
    except (TypeError, ValueError):
        retry_after = None
    name = type(exc).__name__
    retryable = status in (408, 409, 429) or (isinstance(status, int) and status >= 500) or name in {
        "Timeout", "APIConnectionError", "RateLimitError", "ServiceUnavailableError", "InternalServerError",
        "APIError"}
    message = _scrub(f"{name}: {exc}")
    return LMError(message[:500], retryable=retryable, retry_after=retry_after, status=status)


def _scrub(text: str) -> str:
    """Remove any provider key that an upstream error message might echo."""
    for key, value in os.environ.items():
        if value and len(value) >= 8 and ("KEY" in key or "TOKEN" in key or "SECRET" in key):
            text = text.replace(value, "***")
    return text
