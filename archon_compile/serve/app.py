"""The OpenAI-compatible server: one compiled architecture behind `/v1/chat/completions`.

Any OpenAI client pointed at it gets a normal ChatCompletion whose message is the architecture's final
answer and whose `usage` sums every LM call the architecture made. Streaming sends the role, then the
final answer's tokens as the last component writes them (`Program.astream`), then the stop reason, the
usage when asked (`stream_options.include_usage`) and `[DONE]`. The response starts with the first token,
so a failure before it still gets a proper status code; a failure after it ends the stream with an error
event.

A client that goes away (while its query runs, or while its body arrives) cancels the query and its
pending LM calls: nobody pays for an answer nobody reads.

Every failure is an OpenAI-style error (`{"error": {"message", "type", "param", "code"}}`): 4xx for bad
requests (checked before the body is read where possible), 502 when the LMs fail, 504 when a request
outlives its timeout, so a client never waits on a hung connection.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from archon_compile.components import QueryFailed
from archon_compile.program import Prediction, Program
from archon_compile.serve import openapi
from archon_compile.serve.body import parse_request, read_body
from archon_compile.serve.errors import (
    ApiError,
    ClientGone,
    api_error,
    client_gone,
    http_error,
    unexpected_error,
)
from archon_compile.serve.models import ChatCompletionRequest, ModelCard, ModelList
from archon_compile.serve.replies import DONE, Chunks, completion, error_event

__all__ = ["ApiError", "ServeOptions", "create_app", "parse_request"]

logger = logging.getLogger("archon_compile.serve")
T = TypeVar("T")
Handler = Callable[[Request], Awaitable[Response]]
_STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class ServeOptions(BaseModel):
    """How the server guards itself. The key is a SecretStr so no repr or log line can show it."""

    model_config = ConfigDict(frozen=True)

    api_key: SecretStr | None = Field(None, description="required as `Authorization: Bearer <key>` when set")
    concurrency: int = Field(16, ge=1, description="queries answered at once; later ones wait their turn")
    timeout_s: float = Field(300.0, gt=0, description="per request, waiting included; then 504")
    max_body_bytes: int = Field(1_048_576, ge=1, description="larger request bodies get 413")


def create_app(program: Program, options: ServeOptions | None = None) -> Starlette:
    """An ASGI app serving `program` under the model id `program.name`, with its OpenAPI document at
    `/openapi.json`. Plain Starlette: the handlers parse and validate bodies themselves, so a framework
    on top would add only import time (seconds of `serve` start-up) and CPU per request."""
    options = options or ServeOptions()
    h = _Handlers(program, options)
    routes = [
        Route("/health", h.health, methods=["GET"]),
        Route("/openapi.json", h.openapi, methods=["GET"]),
        Route("/v1/models", h.authorized(h.models), methods=["GET"]),
        Route("/v1/models/{model_id:path}", h.authorized(h.model), methods=["GET"]),
        Route("/v1/chat/completions", h.authorized(h.chat), methods=["POST"]),
    ]
    handlers = {
        ApiError: api_error,
        ClientGone: client_gone,
        StarletteHTTPException: http_error,
        Exception: unexpected_error,
    }
    return Starlette(routes=routes, exception_handlers=handlers)  # type: ignore[arg-type]


class _Handlers:
    def __init__(self, program: Program, options: ServeOptions) -> None:
        self.program = program
        self.options = options
        self.created = int(time.time())
        self._limit = asyncio.Semaphore(options.concurrency)
        self._openapi: dict[str, Any] | None = None

    def authorized(self, handler: Handler) -> Handler:
        """`handler` behind a constant-time check of the bearer token (never echoed or logged)."""
        if self.options.api_key is None:
            return handler
        expected = self.options.api_key.get_secret_value().encode()

        async def checked(request: Request) -> Response:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
                raise ApiError(
                    401,
                    "missing or incorrect API key: send 'Authorization: Bearer <key>'",
                    code="invalid_api_key",
                )
            return await handler(request)

        return checked

    async def health(self, request: Request) -> Response:
        """The pid header tells which process answered when several serve one port (`--workers`)."""
        headers = {"X-Worker-Pid": str(os.getpid())}
        return JSONResponse({"status": "ok", "model": self.program.name}, headers=headers)

    async def openapi(self, request: Request) -> Response:
        if self._openapi is None:
            secured = self.options.api_key is not None
            self._openapi = openapi.document(
                f"archon-compile: {self.program.name}", self.program.name, secured=secured
            )
        return JSONResponse(self._openapi)

    async def models(self, request: Request) -> Response:
        return JSONResponse(ModelList(data=[self._card()]).model_dump(mode="json"))

    async def model(self, request: Request) -> Response:
        self._check_model(request.path_params["model_id"], param=None)
        return JSONResponse(self._card().model_dump(mode="json"))

    async def chat(self, request: Request) -> Response:
        start = time.perf_counter()
        req = parse_request(await read_body(request, self.options.max_body_bytes))
        self._check_model(req.model, param="model")
        deadline = asyncio.get_running_loop().time() + self.options.timeout_s
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        if req.stream:
            return await self._stream(request, req, Chunks(completion_id, int(time.time()), req.model), start)
        async with self._guard(deadline), self._limit:
            pred = await until_disconnected(request, self.program.acall(req.conversation()))
        self._log(req, pred, start)
        return JSONResponse(
            completion(completion_id, int(time.time()), self.program.name, pred).model_dump(mode="json")
        )

    async def _stream(
        self, request: Request, req: ChatCompletionRequest, chunks: Chunks, start: float
    ) -> StreamingResponse:
        """Waits for the first token (so a failure before it is a status code), then streams the rest."""
        deadline = asyncio.get_running_loop().time() + self.options.timeout_s
        async with self._guard(deadline):
            await until_disconnected(request, self._limit.acquire())
        items = self.program.astream(req.conversation())
        try:
            async with self._guard(deadline):
                first = await until_disconnected(request, anext(items))
        except BaseException:
            await items.aclose()
            self._limit.release()
            raise
        events = self._events(req, chunks, first, items, deadline, start)
        return StreamingResponse(events, media_type="text/event-stream", headers=_STREAM_HEADERS)

    async def _events(
        self,
        req: ChatCompletionRequest,
        chunks: Chunks,
        item: str | Prediction,
        items: AsyncGenerator[str | Prediction, None],
        deadline: float,
        start: float,
    ) -> AsyncIterator[str]:
        """Role, content as it arrives, stop, usage when asked, [DONE]. Leaving (the client went away)
        closes `items`, which cancels the query."""
        try:
            yield chunks.role()
            while isinstance(item, str):
                yield chunks.content(item)
                async with self._guard(deadline):
                    item = await anext(items)
            yield chunks.stop()
            if req.stream_options and req.stream_options.include_usage:
                yield chunks.usage(item)
            yield DONE
            self._log(req, item, start)
        except ApiError as exc:
            logger.warning("stream of %s ended by an error: %s", chunks.completion_id, exc)
            yield error_event(exc.body)
        finally:
            await items.aclose()
            self._limit.release()

    @asynccontextmanager
    async def _guard(self, deadline: float) -> AsyncIterator[None]:
        """The request's deadline (504) and the architecture's failures (502) as API errors."""
        try:
            async with asyncio.timeout_at(deadline):
                yield
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

    def _log(self, req: ChatCompletionRequest, pred: Prediction, start: float) -> None:
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


async def until_disconnected(request: Request, work: Awaitable[T]) -> T:
    """`work`'s result, unless the client disconnects first: then `work` is cancelled (a query's
    pending LM calls with it) and ClientGone raised. Uvicorn reports the disconnect to `receive()` once
    the body has been read."""
    task = asyncio.ensure_future(work)
    watch = asyncio.ensure_future(_disconnect(request))
    try:
        await asyncio.wait((task, watch), return_when=asyncio.FIRST_COMPLETED)
    finally:
        watch.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    if watch.done() and not watch.cancelled() and task.cancelled():
        raise ClientGone("the client disconnected while its query ran; the query was cancelled")
    return task.result()


async def _disconnect(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass
