"""Errors of the server, all in OpenAI's shape (`{"error": {"message", "type", "param", "code"}}`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from archon_compile.errors import ArchonError
from archon_compile.serve.models import ErrorBody, ErrorResponse

logger = logging.getLogger("archon_compile.serve")


class ApiError(ArchonError):
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

    def response(self, headers: Mapping[str, str] | None = None) -> JSONResponse:
        extra = dict(headers or {}) | ({"WWW-Authenticate": "Bearer"} if self.status == 401 else {})
        return JSONResponse(self.body.model_dump(mode="json"), status_code=self.status, headers=extra or None)


class ClientGone(ArchonError):
    """The client disconnected before its answer was ready; nothing can be sent any more."""


async def api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    log = logger.warning if exc.status >= 500 else logger.info
    log("%s %s -> %d %s", request.method, request.url.path, exc.status, exc.body.error.message)
    return exc.response()


async def client_gone(request: Request, exc: Exception) -> Response:
    """One warning line, no traceback: a client that hangs up is not a bug of the server."""
    logger.warning("%s %s: %s", request.method, request.url.path, exc)
    return Response(status_code=499)  # nginx's "client closed request"; nobody receives it


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = "not_found" if exc.status_code == 404 else "method_not_allowed" if exc.status_code == 405 else None
    message = f"{request.method} {request.url.path}: {exc.detail}"
    return ApiError(exc.status_code, message, code=code).response(exc.headers)  # 405 keeps its Allow


async def unexpected_error(request: Request, exc: Exception) -> Response:
    """A bug, not a bad request: the client gets OpenAI's error shape, the traceback goes to uvicorn's log."""
    return ApiError(500, "internal server error (see the server log)", type="server_error").response()
