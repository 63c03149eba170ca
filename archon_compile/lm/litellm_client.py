"""Any LiteLLM model string (OpenAI, Anthropic, Together, Groq, Gemini, Bedrock, servers via `api_base`).

LiteLLM reads the standard provider environment variables for keys, so no key is part of a request, the
cache, a trace or an artifact (an `api_base` userinfo password is passed as that endpoint's key), and
error messages are redacted. Retries
belong to the runtime, so LiteLLM's (`num_retries`) and the provider SDK's (`max_retries`) are both off:
no call is paid twice. Its callbacks and logging are off too (per-call overhead).

The cost map is read from the installed package (`LITELLM_LOCAL_MODEL_COST_MAP`, set before import):
otherwise importing LiteLLM offline retries a download for seconds.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator
from typing import Any

from archon_compile.lm.base import LMError, LMRequest, LMResponse
from archon_compile.lm.redact import public_url, redact, url_key
from archon_compile.lm.wire import chat_body, retry_after, retryable_status

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")  # no other fetch of its own (catalogs, tokenizers)

_litellm: Any = None
_import_lock = threading.Lock()
_RETRYABLE_NAMES = frozenset(
    {
        "Timeout",
        "APIConnectionError",
        "RateLimitError",
        "ServiceUnavailableError",
        "InternalServerError",
        "APIError",
        "BadGatewayError",
        "APIResponseValidationError",
    }
)


def _module() -> Any:
    """Import LiteLLM on first use: it takes seconds to import and most programs need it only at call time."""
    global _litellm
    with _import_lock:
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
    """An LM for one LiteLLM model string (and optional `api_base`)."""

    def __init__(self, model: str, api_base: str | None = None) -> None:
        self.model = model
        self.api_base = api_base

    def __repr__(self) -> str:
        return f"LiteLLMClient(model={self.model!r})"

    def kwargs(self, request: LMRequest) -> dict[str, Any]:
        """The `litellm.acompletion` arguments of a request. The only key ever passed is one the api_base
        itself carries; provider keys LiteLLM reads from the environment."""
        kwargs = chat_body(request.model, request) | {"num_retries": 0, "max_retries": 0}
        api_base = request.api_base or self.api_base
        if api_base:
            # A key in the URL's userinfo is that endpoint's key; LiteLLM's transports reject userinfo.
            kwargs["api_base"] = public_url(api_base)
            if key := url_key(api_base):
                kwargs["api_key"] = key
            elif request.model.startswith("openai/") and not os.environ.get("OPENAI_API_KEY"):
                kwargs["api_key"] = "not-needed"  # local OpenAI-compatible servers ignore it
        return kwargs

    async def prepare(self) -> None:
        """Import LiteLLM (seconds) off the event loop, so other calls keep flowing."""
        if _litellm is None:
            await asyncio.to_thread(_module)

    async def complete(self, request: LMRequest) -> LMResponse:
        litellm = _litellm or await asyncio.to_thread(_module)
        api_base = request.api_base or self.api_base
        try:
            resp = await litellm.acompletion(**self.kwargs(request))
        except Exception as exc:  # LiteLLM maps every provider's errors onto its own classes
            raise to_lm_error(exc, api_base) from None
        try:
            choice = resp.choices[0]
            text = choice.message.content or ""
            usage = getattr(resp, "usage", None)
        except (AttributeError, IndexError, TypeError) as exc:
            message = redact(f"malformed response: {exc}", api_base)
            raise LMError(message, retryable=True) from None
        return LMResponse(
            text=text,
            prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
            completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
            cost_usd=_cost(resp),
            finish_reason=getattr(choice, "finish_reason", None),
        )

    async def stream(self, request: LMRequest) -> AsyncIterator[str | LMResponse]:
        """The answer as LiteLLM streams it; usage from the provider's last chunk, priced by the cost map."""
        litellm = _litellm or await asyncio.to_thread(_module)
        api_base = request.api_base or self.api_base
        kwargs = self.kwargs(request) | {"stream": True, "stream_options": {"include_usage": True}}
        parts: list[str] = []
        usage, finish = None, None
        try:
            chunks = await litellm.acompletion(**kwargs)
            async for chunk in chunks:
                usage = getattr(chunk, "usage", None) or usage
                for choice in (getattr(chunk, "choices", None) or [])[:1]:
                    finish = getattr(choice, "finish_reason", None) or finish
                    text = getattr(getattr(choice, "delta", None), "content", None)
                    if isinstance(text, str) and text:
                        parts.append(text)
                        yield text
        except Exception as exc:  # LiteLLM maps every provider's errors onto its own classes
            raise to_lm_error(exc, api_base) from None
        prompt = getattr(usage, "prompt_tokens", 0) or 0
        completion = getattr(usage, "completion_tokens", 0) or 0
        yield LMResponse(
            text="".join(parts),
            prompt_tokens=prompt,
            completion_tokens=completion,
            cost_usd=_token_cost(litellm, request.model, prompt, completion),
            finish_reason=finish,
        )


def _token_cost(litellm: Any, model: str, prompt: int, completion: int) -> float | None:
    """A streamed call's price from LiteLLM's cost map; None for a model it does not price."""
    try:
        costs = litellm.cost_per_token(model=model, prompt_tokens=prompt, completion_tokens=completion)
        return float(sum(costs))
    except Exception:  # LiteLLM raises several kinds for an unpriced model
        return None


def _cost(resp: Any) -> float | None:
    """The price LiteLLM already computed from its cost map (computing it again costs ~2 ms a call);
    None for an unpriced model (a local server, a new model): unknown, not zero."""
    cost = (getattr(resp, "_hidden_params", None) or {}).get("response_cost")
    return float(cost) if isinstance(cost, int | float) else None


def to_lm_error(exc: Exception, api_base: str | None) -> LMError:
    """A LiteLLM exception as an LMError: status, retryability, Retry-After, and a redacted message
    (the runtime prefixes the model)."""
    status = getattr(exc, "status_code", None)
    status = status if isinstance(status, int) else None
    headers = getattr(getattr(exc, "response", None), "headers", None) or getattr(
        exc, "litellm_response_headers", None
    )
    wait = retry_after(headers.get("retry-after")) if headers is not None else None
    name = type(exc).__name__
    retryable = retryable_status(status) if status is not None and status >= 400 else name in _RETRYABLE_NAMES
    prefix = f"HTTP {status}: " if status is not None else ""
    message = redact(f"{prefix}{name}: {exc}", api_base)
    return LMError(message[:600], retryable=retryable, retry_after=wait, status=status)
