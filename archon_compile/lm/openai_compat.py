"""Direct HTTP to an OpenAI-compatible endpoint: a self-hosted server or a hosted provider.

Used for `openai/<model>` with an explicit `api_base` (vLLM, llama.cpp server, Ollama, a LiteLLM proxy),
and for the hosted providers of `lm/providers.py` (OpenAI, Together, Groq, Fireworks, DeepSeek,
OpenRouter, Mistral, ...). LiteLLM adds several milliseconds of CPU per call, which a 13-call architecture
pays on every layer, and seconds of import; one POST through the shared pool (`lm/http.py`) is all these
endpoints need. Everything else stays on LiteLLM.

- Retries are the runtime's; this client never retries. Statuses map onto `LMError`: 408/409/429/5xx,
  transport errors and malformed bodies are retryable (with the server's Retry-After), other 4xx not.
- The key is the password of the `api_base` userinfo (`http://:KEY@host/v1`, for one endpoint) or else
  the provider's key variable (`OPENAI_API_KEY` for `openai/`), sent as a bearer token; it is never part
  of a request, a URL that is logged, or a message.
- Cost: a hosted provider's calls are priced from LiteLLM's cost map (`lm/pricing.py`); a self-hosted
  server has no price list (None).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
from typing import Any

import httpx
from pydantic import BaseModel, Field, ValidationError

from archon_compile.lm import pricing
from archon_compile.lm.base import LMError, LMRequest, LMResponse
from archon_compile.lm.http import POOL
from archon_compile.lm.providers import SELF_HOSTED, Provider
from archon_compile.lm.redact import public_url, redact, url_key

RETRYABLE_STATUS = frozenset({408, 409, 425, 429})


class _Message(BaseModel):
    content: str | None = None


class _Choice(BaseModel):
    message: _Message
    finish_reason: str | None = None


class _Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class ChatCompletion(BaseModel):
    """The part of an OpenAI chat completion this client reads."""

    choices: list[_Choice] = Field(min_length=1)
    usage: _Usage | None = None


class OpenAICompatClient:
    """An LM over one OpenAI-compatible endpoint. Without `provider` it is a self-hosted server at
    `api_base`; with one, `api_base` (optional) overrides the provider's endpoint."""

    def __init__(self, model: str, api_base: str | None = None, provider: Provider | None = None) -> None:
        self.provider = provider or SELF_HOSTED
        base = self.provider.base(api_base)
        if not base:
            raise ValueError(f"{model}: a self-hosted OpenAI-compatible model needs an api_base")
        url = httpx.URL(base).copy_with(username=None, password=None)
        self.model = model
        self.endpoint = public_url(base).rstrip("/")  # for messages: no userinfo, no query
        self._url = url.copy_with(path=url.path.rstrip("/") + "/chat/completions")
        self._api_base = base
        self._url_key = url_key(base)
        self._wire_model = self.provider.wire_model(model)
        self._price: pricing.Price | None = None
        self._ready = False

    def __repr__(self) -> str:
        return f"OpenAICompatClient(model={self.model!r}, endpoint={self.endpoint!r})"

    async def prepare(self) -> None:
        """Set-up before the first call (TLS context, price lookup), kept out of call latencies."""
        if self._ready:
            return
        await POOL.warm()
        if self.provider.priced:
            found = await asyncio.to_thread(pricing.price, self.provider.prefix, self._wire_model, self.model)
            self._price = found
        self._ready = True

    def _client(self) -> httpx.AsyncClient:
        return POOL.client()

    def body(self, request: LMRequest) -> dict[str, Any]:
        """The chat-completions JSON body of a request."""
        return {
            "model": self._wire_model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            **self.provider.params(request),
        }

    def _headers(self) -> dict[str, str] | None:
        key = self._url_key or self.provider.key()
        if key:
            return {"Authorization": f"Bearer {key}"}
        if self.provider.needs_key:
            names = " or ".join(self.provider.key_env)
            raise self._error(f"no API key: set {names} (or put the key in the api_base)", retryable=False)
        return None

    async def complete(self, request: LMRequest) -> LMResponse:
        headers = self._headers()
        try:
            resp = await self._client().post(self._url, json=self.body(request), headers=headers)
        except httpx.TimeoutException as exc:
            raise self._error(f"timed out ({type(exc).__name__})", retryable=True) from None
        except httpx.TransportError as exc:
            raise self._error(f"connection failed: {type(exc).__name__}: {exc}", retryable=True) from None
        if resp.status_code != 200:
            raise self._status_error(resp)
        try:
            completion = ChatCompletion.model_validate_json(resp.content)
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(p) for p in problem["loc"]) or "body"
            raise self._error(
                f"malformed response ({where}: {problem['msg']}): {resp.text[:200]!r}", retryable=True
            ) from None
        choice = completion.choices[0]
        usage = completion.usage or _Usage()
        price = self._price
        return LMResponse(
            text=choice.message.content or "",
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cost_usd=price.cost(usage.prompt_tokens, usage.completion_tokens) if price else None,
            finish_reason=choice.finish_reason,
        )

    def _status_error(self, resp: httpx.Response) -> LMError:
        status = resp.status_code
        retryable = status in RETRYABLE_STATUS or status >= 500
        hint = "" if retryable else _hint(status, self.provider)
        return self._error(
            f"HTTP {status}: {_server_message(resp)}{hint}",
            retryable=retryable,
            status=status,
            retry_after=retry_after(resp.headers.get("retry-after")),
        )

    def _error(
        self, message: str, *, retryable: bool, status: int | None = None, retry_after: float | None = None
    ) -> LMError:
        text = redact(f"{self.endpoint}: {message}", self._api_base)
        return LMError(text[:600], retryable=retryable, status=status, retry_after=retry_after)


def _server_message(resp: httpx.Response) -> str:
    """The server's own error message when it sent the OpenAI error shape, else the start of the body."""
    try:
        data = resp.json()
        message = data["error"]["message"] if isinstance(data.get("error"), dict) else data.get("error")
        if message:
            return str(message)[:300]
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    return repr(resp.text[:200])


def _hint(status: int, provider: Provider) -> str:
    if status in (401, 403):
        return f" (check the key: the api_base userinfo password, else {' or '.join(provider.key_env)})"
    if status == 404:
        return " (check the model name, and the api_base: it should end where /chat/completions is served)"
    return ""


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
