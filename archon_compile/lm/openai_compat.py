"""Direct HTTP to an OpenAI-compatible server (vLLM, llama.cpp server, Ollama, a LiteLLM proxy).

Used for `openai/<model>` with an explicit `api_base` (see `lm/resolve.py`). LiteLLM adds several
milliseconds of CPU per call, which a 13-call architecture pays on every layer; one POST through a pooled
`httpx.AsyncClient` is all such a server needs. Everything else (hosted providers, pricing) stays on
LiteLLM.

- The transport is one pooled aiohttp session per event loop (`lm/transport.py`, where the reason is).
- Retries are the runtime's; this client never retries. Statuses map onto `LMError`: 408/409/429/5xx,
  transport errors and malformed bodies are retryable (with the server's Retry-After), other 4xx not.
- The key is the password of the `api_base` userinfo (`http://:KEY@host/v1`, for one endpoint) or else
  `OPENAI_API_KEY` (as LiteLLM does for `openai/`), sent as a bearer token like every OpenAI-compatible
  server expects; it is never part of a request, a URL that is logged, or a message.
- Cost is unknown (None): a self-hosted server has no price list.
- `stream` reads the server-sent events of `"stream": true` and asks for the usage chunk
  (`stream_options.include_usage`); a server that sends none leaves the token counts at 0.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import os
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import aiohttp
import httpx
from pydantic import BaseModel, Field, ValidationError

from archon_compile.lm.base import LMError, LMRequest, LMResponse
from archon_compile.lm.redact import public_url, redact, url_key
from archon_compile.lm.transport import SESSIONS

RETRYABLE_STATUS = frozenset({408, 409, 425, 429})


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
    """An LM over one OpenAI-compatible endpoint; `model` may carry the `openai/` prefix."""

    def __init__(self, model: str, api_base: str) -> None:
        url = httpx.URL(api_base).copy_with(username=None, password=None)
        self.model = model
        self.endpoint = public_url(api_base).rstrip("/")  # for messages: no userinfo, no query
        self._url = str(url.copy_with(path=url.path.rstrip("/") + "/chat/completions"))
        self._api_base = api_base
        self._url_key = url_key(api_base)

    def __repr__(self) -> str:
        return f"OpenAICompatClient(model={self.model!r}, endpoint={self.endpoint!r})"

    def body(self, request: LMRequest) -> dict[str, Any]:
        """The chat-completions JSON body of a request."""
        body: dict[str, Any] = {
            "model": request.model.removeprefix("openai/"),
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
        }
        if request.stop:
            body["stop"] = list(request.stop)
        seed = request.sample_seed()
        if seed is not None:
            body["seed"] = seed
        return body

    def _post(self, body: dict[str, Any]) -> Any:
        """The POST as aiohttp's request context manager."""
        key = self._url_key or os.environ.get("OPENAI_API_KEY")
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return SESSIONS.get().post(self._url, data=json.dumps(body), headers=headers, allow_redirects=False)

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
            cost_usd=None,
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
            cost_usd=None,
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
        retryable = status in RETRYABLE_STATUS or status >= 500
        hint = "" if retryable else _hint(status)
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


def _hint(status: int) -> str:
    if status in (401, 403):
        return " (check the key: the api_base userinfo password, else OPENAI_API_KEY)"
    if status == 404:
        return " (check api_base: it should end where /chat/completions is served, usually /v1)"
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
