"""Direct HTTP to an OpenAI-compatible endpoint: a self-hosted server or a hosted provider.

Used for `openai/<model>` with an explicit `api_base` (vLLM, llama.cpp server, Ollama, a LiteLLM proxy),
and for the hosted providers of `lm/providers.py` (OpenAI, Together, Groq, Fireworks, DeepSeek,
OpenRouter, Mistral, ...). LiteLLM adds several milliseconds of CPU per call, which a 13-call architecture
pays on every layer, and seconds of import; one POST through the shared pool (`lm/http.py`, aiohttp:
the reason is there) is all these endpoints need. Everything else stays on LiteLLM.

- Retries are the runtime's; this client never retries. Statuses map onto `LMError`: 408/409/429/5xx,
  transport errors and malformed bodies are retryable (with the server's Retry-After), other 4xx not.
- The key is the password of the `api_base` userinfo (`http://:KEY@host/v1`, for one endpoint) or else
  the provider's key variable (`OPENAI_API_KEY` for `openai/`), sent as a bearer token; it is never part
  of a request, a URL that is logged, or a message.
- Cost: a hosted provider's calls are priced from LiteLLM's cost map (`lm/pricing.py`); a self-hosted
  server has no price list (None).
- `stream` reads the server-sent events of `"stream": true` and asks for the usage chunk
  (`stream_options.include_usage`); a server that sends none leaves the token counts at 0.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import aiohttp
import httpx
from pydantic import BaseModel, Field, ValidationError

from archon_compile.lm import pricing
from archon_compile.lm.base import BackendError, LMError, LMRequest, LMResponse
from archon_compile.lm.http import POOL
from archon_compile.lm.providers import SELF_HOSTED, Provider
from archon_compile.lm.redact import public_url, redact, url_key
from archon_compile.lm.wire import retry_after, retryable_status


class _Message(BaseModel):
    content: str | None = None


class _Choice(BaseModel):
    message: _Message
    finish_reason: str | None = None


class _Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class _Delta(BaseModel):
    content: str | None = None


class _ChunkChoice(BaseModel):
    delta: _Delta = Field(default_factory=_Delta)
    finish_reason: str | None = None


class ChatCompletionChunk(BaseModel):
    """The part of a streamed chunk this client reads (the usage chunk has no choices)."""

    choices: list[_ChunkChoice] = Field(default_factory=list)
    usage: _Usage | None = None
    error: dict[str, Any] | str | None = None  # some servers report a failure mid-stream this way


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
            raise BackendError(f"{model}: a self-hosted OpenAI-compatible model needs an api_base")
        url = httpx.URL(base).copy_with(username=None, password=None)
        self.model = model
        self.endpoint = public_url(base).rstrip("/")  # for messages: no userinfo, no query
        self._url = str(url.copy_with(path=url.path.rstrip("/") + "/chat/completions"))
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

    def body(self, request: LMRequest) -> dict[str, Any]:
        """The chat-completions JSON body of a request."""
        return self.provider.body(self._wire_model, request)

    def _headers(self) -> dict[str, str] | None:
        key = self._url_key or self.provider.key()
        if key:
            return {"Authorization": f"Bearer {key}"}
        if self.provider.needs_key:
            names = " or ".join(self.provider.key_env)
            raise self._error(f"no API key: set {names} (or put the key in the api_base)", retryable=False)
        return None

    def _post(self, body: dict[str, Any]) -> Any:
        """The POST as aiohttp's request context manager."""
        headers = {"Content-Type": "application/json"} | (self._headers() or {})
        return POOL.session().post(self._url, data=json.dumps(body), headers=headers, allow_redirects=False)

    @contextmanager
    def _transport_errors(self) -> Iterator[None]:
        try:
            yield
        except TimeoutError as exc:  # aiohttp's timeouts subclass it
            raise self._error(f"timed out ({type(exc).__name__})", retryable=True) from None
        except aiohttp.ClientError as exc:
            raise self._error(f"connection failed: {type(exc).__name__}: {exc}", retryable=True) from None
        except ValueError as exc:  # aiohttp's line reader refuses an over-long stream event
            raise self._error(f"malformed stream: {exc}", retryable=True) from None

    def _cost(self, usage: _Usage) -> float | None:
        price = self._price
        return price.cost(usage.prompt_tokens, usage.completion_tokens) if price else None

    async def complete(self, request: LMRequest) -> LMResponse:
        with self._transport_errors():
            async with self._post(self.body(request)) as resp:
                content = await resp.read()
        if resp.status != 200:
            raise self._status_error(resp.status, resp.headers, content)
        try:
            completion = ChatCompletion.model_validate_json(content)
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(p) for p in problem["loc"]) or "body"
            text = content[:200].decode("utf-8", "replace")
            raise self._error(
                f"malformed response ({where}: {problem['msg']}): {text!r}", retryable=True
            ) from None
        choice = completion.choices[0]
        usage = completion.usage or _Usage()
        return LMResponse(
            text=choice.message.content or "",
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cost_usd=self._cost(usage),
            finish_reason=choice.finish_reason,
        )

    async def stream(self, request: LMRequest) -> AsyncIterator[str | LMResponse]:
        body = self.body(request) | {"stream": True, "stream_options": {"include_usage": True}}
        parts: list[str] = []
        usage, finish = _Usage(), None
        with self._transport_errors():
            async with self._post(body) as resp:
                if resp.status != 200:
                    raise self._status_error(resp.status, resp.headers, await resp.read())
                async for line in resp.content:
                    chunk = self._event(line.decode("utf-8", "replace"))
                    if chunk is None:
                        continue
                    usage = chunk.usage or usage
                    for choice in chunk.choices[:1]:
                        finish = choice.finish_reason or finish
                        if choice.delta.content:
                            parts.append(choice.delta.content)
                            yield choice.delta.content
        yield LMResponse(
            text="".join(parts),
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cost_usd=self._cost(usage),
            finish_reason=finish,
        )

    def _event(self, line: str) -> ChatCompletionChunk | None:
        """One server-sent event line as a chunk; None for blank lines, comments and `[DONE]`."""
        if not line.startswith("data:"):
            return None
        data = line[5:].strip()
        if data == "[DONE]":
            return None
        try:
            chunk = ChatCompletionChunk.model_validate_json(data)
        except ValidationError:
            raise self._error(f"malformed stream event: {data[:200]!r}", retryable=True) from None
        if chunk.error is not None:
            raise self._error(f"the stream reported an error: {str(chunk.error)[:300]}", retryable=True)
        return chunk

    def _status_error(self, status: int, headers: Mapping[str, str], content: bytes) -> LMError:
        retryable = retryable_status(status)
        hint = "" if retryable else _hint(status, self.provider)
        return self._error(
            f"HTTP {status}: {_server_message(content)}{hint}",
            retryable=retryable,
            status=status,
            retry_after=retry_after(headers.get("retry-after")),
        )

    def _error(
        self, message: str, *, retryable: bool, status: int | None = None, retry_after: float | None = None
    ) -> LMError:
        text = redact(f"{self.endpoint}: {message}", self._api_base)
        return LMError(text[:600], retryable=retryable, status=status, retry_after=retry_after)


def _server_message(content: bytes) -> str:
    """The server's own error message when it sent the OpenAI error shape, else the start of the body."""
    try:
        data = json.loads(content)
        message = data["error"]["message"] if isinstance(data.get("error"), dict) else data.get("error")
        if message:
            return str(message)[:300]
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        pass
    return repr(content[:200].decode("utf-8", "replace"))


def _hint(status: int, provider: Provider) -> str:
    if status in (401, 403):
        return f" (check the key: the api_base userinfo password, else {' or '.join(provider.key_env)})"
    if status == 404:
        return " (check the model name, and the api_base: it should end where /chat/completions is served)"
    return ""
