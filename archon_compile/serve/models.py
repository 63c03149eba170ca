"""The wire types of the OpenAI-compatible server: requests, completions, stream chunks, errors.

Sampling parameters (`temperature`, `top_p`, `max_tokens`, `stop`, penalties, `seed`...) are accepted so
that ordinary clients work unchanged, and ignored: the compiled architecture fixes every component's own
parameters, and a request cannot retune them. Options that would change what the answer *is* (`n > 1`,
tools, JSON response formats, logprobs, images) are rejected with a 400 instead of silently dropped.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer

from archon_compile.lm.base import Message


class ChatMessageIn(BaseModel):
    """One incoming message. `developer` (OpenAI's newer name for system) is read as `system`; text
    content parts are joined with newlines."""

    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant"]
    content: str
    name: str | None = None

    @field_validator("content", mode="before")
    @classmethod
    def _text_only(cls, value: Any) -> Any:
        if isinstance(value, list):
            if all(
                isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
                for p in value
            ):
                return "\n".join(p["text"] for p in value)
            raise ValueError("only text content parts are supported (images, audio and files are not)")
        if value is None:
            raise ValueError("content is required (tool calls are not supported)")
        return value

    @field_validator("content")
    @classmethod
    def _encodable(cls, value: str) -> str:
        """JSON can carry a lone UTF-16 surrogate (`"\\ud800"`) that no UTF-8 request upstream can."""
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(
                f"character {exc.start} is a lone UTF-16 surrogate (an escape like \\ud800 without its "
                "pair); send valid Unicode text"
            ) from None
        return value

    def to_message(self) -> Message:
        return Message(role="system" if self.role == "developer" else self.role, content=self.content)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """`POST /v1/chat/completions`. Unknown fields are ignored, as new client versions add some; known
    ones are strict (`"stream": 1` or `"seed": 1.5` are 400s), as the OpenAPI document says."""

    model_config = ConfigDict(extra="ignore", strict=True)

    model: str
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = 1
    # Accepted and ignored: the architecture fixes its own sampling parameters.
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    stop: str | list[str] | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    seed: int | None = None
    user: str | None = None
    # Rejected when used: they would change the kind of answer, which the architecture cannot give.
    tools: list[Any] | None = None
    functions: list[Any] | None = None
    logprobs: bool | None = None
    response_format: dict[str, Any] | None = None

    @field_validator("n")
    @classmethod
    def _one_choice(cls, n: int) -> int:
        if n != 1:
            raise ValueError("only n=1 is supported: the architecture returns one answer per request")
        return n

    @field_validator("tools", "functions")
    @classmethod
    def _no_tools(cls, value: list[Any] | None) -> list[Any] | None:
        if value:
            raise ValueError("tools and function calling are not supported by an ARCHON architecture")
        return value

    @field_validator("logprobs")
    @classmethod
    def _no_logprobs(cls, value: bool | None) -> bool | None:
        if value:
            raise ValueError("logprobs are not available: the answer is synthesised from several calls")
        return value

    @field_validator("response_format")
    @classmethod
    def _text_format(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value and value.get("type", "text") != "text":
            raise ValueError("only response_format type 'text' is supported")
        return value

    @field_validator("messages")
    @classmethod
    def _ends_with_user(cls, messages: list[ChatMessageIn]) -> list[ChatMessageIn]:
        if messages[-1].role != "user":
            raise ValueError("the last message must have role 'user' (the question to answer)")
        return messages

    def conversation(self) -> list[Message]:
        return [m.to_message() for m in self.messages]


class UsageOut(BaseModel):
    """Token usage summed over every LM call the architecture made for this request."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ArchonUsage(BaseModel):
    """An extension field: what the OpenAI usage block cannot say about a multi-call architecture."""

    calls: int
    cache_hits: int
    failed_calls: int
    cost_usd: float | None = Field(description="None when some model's price is unknown")


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop"] = "stop"


class ChatCompletionOut(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: UsageOut
    archon: ArchonUsage


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None

    @model_serializer(mode="wrap")
    def _only_set(self, handler: Any) -> dict[str, Any]:
        """OpenAI's deltas carry only what changed: the role once, then content."""
        return {k: v for k, v in handler(self).items() if v is not None}


class ChunkChoice(BaseModel):
    index: int = 0
    delta: Delta
    finish_reason: Literal["stop"] | None = None


class ChatCompletionChunkOut(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: UsageOut | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "archon-compile"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class ErrorBody(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody
