"""The OpenAI-compatible server: one compiled architecture behind `/v1/chat/completions`.

Any OpenAI client pointed at it gets a normal ChatCompletion whose message is the architecture's final
answer and whose `usage` sums every LM call the architecture made. Streaming sends the answer once the
last layer has it (role delta, content delta, finish_reason "stop", `[DONE]`), so an upstream failure
still gets a proper status code instead of a broken stream.

Every failure is an OpenAI-style error (`{"error": {"message", "type", "param", "code"}}`): 4xx for bad
requests (checked before the body is read where possible), 502 when the LMs fail, 504 when a request
outlives its timeout, so a client never waits on a hung connection.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Sequence

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from archon_compile.components import QueryFailed
from archon_compile.lm.base import Message
from archon_compile.program import Prediction, Program
from archon_compile.serve.models import (
    ArchonUsage,
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Choice,
    ChunkChoice,
    Delta,
    ErrorBody,
    ErrorResponse,
    ModelCard,
    ModelList,
    UsageOut,
)

logger = logging.getLogger("archon_compile.serve")


class ServeOptions(BaseModel):
    """How the server guards itself. The key is a SecretStr so no repr or log line can show it."""

    model_config = ConfigDict(frozen=True)

    api_key: SecretStr | None = Field(None, description="required as `Authorization: Bearer <key>` when set")
    concurrency: int = Field(16, ge=1, description="queries answered at once; later ones wait their turn")
    timeout_s: float = Field(300.0, gt=0, description="per request, waiting included; then 504")
    max_body_bytes: int = Field(1_048_576, ge=1, description="larger request bodies get 413")


class ApiError(Exception):
    """A request that ends in an OpenAI-style error response."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = ErrorResponse(error=ErrorBody(message=message, type=type, param=param, code=code))

    def response(self) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else None
        return JSONResponse(self.body.model_dump(mode="json"), status_code=self.status, headers=headers)


def create_app(program: Program, options: ServeOptions | None = None) -> FastAPI:
    """A FastAPI app serving `program` under the model id `program.name`."""
    handlers = _Handlers(program, options or ServeOptions())
    app = FastAPI(title=f"archon-compile: {program.name}", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
    auth = [Depends(handlers.authorize)]
    app.add_api_route("/health", handlers.health, methods=["GET"], response_model=None)
    app.add_api_route("/v1/models", handlers.models, methods=["GET"], dependencies=auth, response_model=None)
    app.add_api_route(
        "/v1/models/{model_id:path}", handlers.model, methods=["GET"], dependencies=auth, response_model=None
    )
    app.add_api_route(
        "/v1/chat/completions", handlers.chat, methods=["POST"], dependencies=auth, response_model=None
    )
    return app


class _Handlers:
    def __init__(self, program: Program, options: ServeOptions) -> None:
        self.program = program
        self.options = options
        self.created = int(time.time())
        self._limit = asyncio.Semaphore(options.concurrency)

    def authorize(self, request: Request) -> None:
        """Constant-time check of the bearer token; the offered token is never echoed or logged."""
        if self.options.api_key is None:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        expected = self.options.api_key.get_secret_value().encode()
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
            raise ApiError(
                401,
                "missing or incorrect API key: send 'Authorization: Bearer <key>'",
                code="invalid_api_key",
            )

    async def health(self) -> JSONResponse:
        return JSONResponse({"status": "ok", "model": self.program.name})

    async def models(self) -> JSONResponse:
        return JSONResponse(ModelList(data=[self._card()]).model_dump(mode="json"))

    async def model(self, model_id: str) -> JSONResponse:
        self._check_model(model_id, param=None)
        return JSONResponse(self._card().model_dump(mode="json"))

    async def chat(self, request: Request) -> Response:
        start = time.perf_counter()
        req = parse_request(await read_body(request, self.options.max_body_bytes))
        self._check_model(req.model, param="model")
        pred = await self._answer(req.conversation())
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        u = pred.usage
        logger.info(
            "answered %d messages: %d LM calls (%d cached), %d+%d tokens, %.2fs%s",
            len(req.messages),
            u.calls,
            u.cache_hits,
            u.prompt_tokens,
            u.completion_tokens,
            time.perf_counter() - start,
            " (stream)" if req.stream else "",
        )
        if req.stream:
            include_usage = bool(req.stream_options and req.stream_options.include_usage)
            chunks = stream_chunks(completion_id, int(time.time()), self.program.name, pred, include_usage)
            return StreamingResponse(
                _sse(chunks),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        return JSONResponse(
            completion(completion_id, int(time.time()), self.program.name, pred).model_dump(mode="json")
        )

    async def _answer(self, conversation: Sequence[Message]) -> Prediction:
        try:
            async with asyncio.timeout(self.options.timeout_s):
                async with self._limit:
                    return await self.program.acall(conversation)
        except TimeoutError:
            raise ApiError(
                504,
                f"the architecture did not answer within {self.options.timeout_s:g}s; retry "
                "later, or start the server with a larger --timeout",
                type="server_error",
                code="timeout",
            ) from None
        except QueryFailed as exc:
            raise ApiError(
                502,
                f"the architecture's LM calls failed: {exc}",
                type="upstream_error",
                code="upstream_failed",
            ) from None

    def _check_model(self, model: str, param: str | None) -> None:
        if model != self.program.name:
            raise ApiError(
                404,
                f"model {model!r} does not exist: this server serves {self.program.name!r} "
                "(see GET /v1/models)",
                param=param,
                code="model_not_found",
            )

    def _card(self) -> ModelCard:
        return ModelCard(id=self.program.name, created=self.created)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused as soon as it is known to exceed `limit`: by Content-Length before reading any
    of it, and while it arrives (chunked uploads declare no length)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, "the Content-Length header is not a number", code="invalid_request")
        if int(declared) > limit:
            raise _too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _too_large(limit)
    return bytes(body)


def parse_request(body: bytes) -> ChatCompletionRequest:
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"the request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the request body must be a JSON object", code="invalid_json")
    try:
        return ChatCompletionRequest.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False)
        detail = "; ".join(f"{_loc(e['loc'])}: {e['msg'].removeprefix('Value error, ')}" for e in errors[:5])
        raise ApiError(
            400, f"invalid request: {detail}", param=_loc(errors[0]["loc"]) or None, code="invalid_value"
        ) from None


def completion(completion_id: str, created: int, model: str, pred: Prediction) -> ChatCompletion:
    return ChatCompletion(
        id=completion_id,
        created=created,
        model=model,
        choices=[Choice(message=AssistantMessage(content=pred.response))],
        usage=usage_out(pred),
        archon=archon_usage(pred),
    )


def stream_chunks(
    completion_id: str, created: int, model: str, pred: Prediction, include_usage: bool
) -> list[ChatCompletionChunk]:
    """The role, the whole answer, the stop reason, and (when asked) a final usage-only chunk."""

    def chunk(delta: Delta, finish: bool = False) -> ChatCompletionChunk:
        choice = ChunkChoice(delta=delta, finish_reason="stop" if finish else None)
        return ChatCompletionChunk(id=completion_id, created=created, model=model, choices=[choice])

    chunks = [
        chunk(Delta(role="assistant", content="")),
        chunk(Delta(content=pred.response)),
        chunk(Delta(), finish=True),
    ]
    if include_usage:
        chunks.append(
            ChatCompletionChunk(
                id=completion_id, created=created, model=model, choices=[], usage=usage_out(pred)
            )
        )
    return chunks


def usage_out(pred: Prediction) -> UsageOut:
    u = pred.usage
    return UsageOut(
        prompt_tokens=u.prompt_tokens,
        completion_tokens=u.completion_tokens,
        total_tokens=u.prompt_tokens + u.completion_tokens,
    )


def archon_usage(pred: Prediction) -> ArchonUsage:
    u = pred.usage
    return ArchonUsage(
        calls=u.calls,
        cache_hits=u.cache_hits,
        failed_calls=u.failed_calls,
        cost_usd=u.cost_usd if u.cost_known else None,
    )


async def _sse(chunks: list[ChatCompletionChunk]) -> AsyncIterator[str]:
    for c in chunks:
        yield f"data: {c.model_dump_json()}\n\n"
    yield "data: [DONE]\n\n"


def _loc(loc: tuple[int | str, ...]) -> str:
    """('messages', 0, 'role') -> 'messages[0].role', the way OpenAI names a parameter."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        f"the request body is larger than {limit} bytes; send a shorter conversation or "
        "start the server with a larger --max-body-bytes",
        code="request_too_large",
    )


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    log = logger.warning if exc.status >= 500 else logger.info
    log("%s %s -> %d %s", request.method, request.url.path, exc.status, exc.body.error.message)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = "not_found" if exc.status_code == 404 else "method_not_allowed" if exc.status_code == 405 else None
    message = f"{request.method} {request.url.path}: {exc.detail}"
    return ApiError(exc.status_code, message, code=code).response()


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    """A bug, not a bad request: the client gets OpenAI's error shape, the traceback goes to uvicorn's log."""
    return ApiError(500, "internal server error (see the server log)", type="server_error").response()
