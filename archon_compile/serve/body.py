"""Reading and parsing request bodies: every malformed body is a 400 naming what is wrong, never a 500."""

from __future__ import annotations

import json

from pydantic import ValidationError
from starlette.requests import ClientDisconnect, Request

from archon_compile.serve.errors import ApiError, ClientGone
from archon_compile.serve.models import ChatCompletionRequest


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused as soon as it is known to exceed `limit`: by Content-Length before reading any
    of it, and while it arrives (chunked uploads declare no length)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, "the Content-Length header is not a number", code="invalid_request")
        if int(declared) > limit:
            raise too_large(limit)
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise too_large(limit)
    except ClientDisconnect:
        raise ClientGone(f"the client disconnected after sending {len(body)} bytes of its body") from None
    return bytes(body)


def parse_request(body: bytes) -> ChatCompletionRequest:
    """A chat request, or a 400. Python's JSON parser raises ValueError for numbers beyond its digit
    limit and RecursionError for deep nesting: both are malformed bodies too."""
    try:
        data = json.loads(body)
    except RecursionError:
        raise ApiError(400, "the request body is nested too deeply", code="invalid_json") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, int digit limit
        raise ApiError(400, f"the request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the request body must be a JSON object", code="invalid_json")
    try:
        return ChatCompletionRequest.model_validate(data)
    except RecursionError:
        raise ApiError(400, "the request body is nested too deeply", code="invalid_json") from None
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False)
        detail = "; ".join(f"{_loc(e['loc'])}: {e['msg'].removeprefix('Value error, ')}" for e in errors[:5])
        raise ApiError(
            400, f"invalid request: {detail}", param=_loc(errors[0]["loc"]) or None, code="invalid_value"
        ) from None


def _loc(loc: tuple[int | str, ...]) -> str:
    """('messages', 0, 'role') -> 'messages[0].role', the way OpenAI names a parameter."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        f"the request body is larger than {limit} bytes; send a shorter conversation or "
        "start the server with a larger --max-body-bytes",
        code="request_too_large",
    )
