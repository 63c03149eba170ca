"""The server's OpenAPI document (`/openapi.json`), kept true to what the handlers do.

The chat handler reads its body itself (size limits before parsing, OpenAI-shaped 400s), so FastAPI
cannot see the request model: the document adds it by hand, with `model` restricted to the one model
served, and lists every status a route can answer with.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from archon_compile.serve.models import (
    ChatCompletion,
    ChatCompletionRequest,
    ErrorResponse,
    ModelCard,
    ModelList,
)


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    why = {
        400: "malformed body or unsupported option (the error's `param` names the field)",
        401: "missing or wrong bearer key (only when the server was started with --api-key-env)",
        404: "no such model: this server serves one",
        413: "body larger than --max-body-bytes",
        500: "a bug in the server (details in its log)",
        502: "the architecture's LM calls failed",
        504: "no answer within --timeout",
    }
    return {s: {"model": ErrorResponse, "description": why[s]} for s in statuses}


_AUTH = (401,)
HEALTH: dict[str, Any] = {
    "response_model": None,
    "summary": "Liveness and the model served",
    "responses": {
        200: {
            "description": "the server is up",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {"status": {"const": "ok"}, "model": {"type": "string"}},
                        "required": ["status", "model"],
                    }
                }
            },
        },
        **_errors(500),
    },
}
MODELS: dict[str, Any] = {
    "response_model": None,
    "summary": "The one model served (the architecture's name)",
    "responses": {200: {"model": ModelList, "description": "the model list"}, **_errors(*_AUTH, 500)},
}
MODEL: dict[str, Any] = {
    "response_model": None,
    "summary": "One model card",
    "responses": {200: {"model": ModelCard, "description": "the model"}, **_errors(*_AUTH, 404, 500)},
}
CHAT: dict[str, Any] = {
    "response_model": None,
    "summary": "The architecture's answer as a chat completion (or a stream of chunks)",
    "responses": {
        200: {
            "model": ChatCompletion,
            "description": "the answer; with `stream: true`, server-sent `chat.completion.chunk` events",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **_errors(400, *_AUTH, 404, 413, 500, 502, 504),
    },
    "openapi_extra": {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ChatCompletionRequest"}}
            },
        }
    },
}


def install(app: FastAPI, model: str, *, secured: bool) -> None:
    """Build the document once, on first request, with the request model and its auth scheme."""

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, routes=app.routes)
            schemas = doc.setdefault("components", {}).setdefault("schemas", {})
            request = ChatCompletionRequest.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(request.pop("$defs", {}))
            request["properties"]["model"] = {"type": "string", "enum": [model], "title": "Model"}
            schemas["ChatCompletionRequest"] = request
            if secured:
                doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
                for path, ops in doc["paths"].items():
                    if path != "/health":
                        for op in ops.values():
                            op["security"] = [{"bearer": []}]
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]
