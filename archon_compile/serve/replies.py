"""What the server sends back: a ChatCompletion, or the chunks of a stream as server-sent events."""

from __future__ import annotations

from dataclasses import dataclass

from archon_compile.program import Prediction
from archon_compile.serve.models import (
    ArchonUsage,
    AssistantMessage,
    ChatCompletionChunkOut,
    ChatCompletionOut,
    Choice,
    ChunkChoice,
    Delta,
    ErrorResponse,
    UsageOut,
)

DONE = "data: [DONE]\n\n"


def completion(completion_id: str, created: int, model: str, pred: Prediction) -> ChatCompletionOut:
    return ChatCompletionOut(
        id=completion_id,
        created=created,
        model=model,
        choices=[Choice(message=AssistantMessage(content=pred.response))],
        usage=usage_out(pred),
        archon=archon_usage(pred),
    )


@dataclass(frozen=True)
class Chunks:
    """The chunks of one streamed completion: same id, creation time and model on each."""

    completion_id: str
    created: int
    model: str

    def _event(self, choices: list[ChunkChoice], usage: UsageOut | None = None) -> str:
        chunk = ChatCompletionChunkOut(
            id=self.completion_id, created=self.created, model=self.model, choices=choices, usage=usage
        )
        return f"data: {chunk.model_dump_json()}\n\n"

    def role(self) -> str:
        return self._event([ChunkChoice(delta=Delta(role="assistant", content=""))])

    def content(self, text: str) -> str:
        return self._event([ChunkChoice(delta=Delta(content=text))])

    def stop(self) -> str:
        return self._event([ChunkChoice(delta=Delta(), finish_reason="stop")])

    def usage(self, pred: Prediction) -> str:
        """The usage-only chunk OpenAI sends last when `stream_options.include_usage` asks for it."""
        return self._event([], usage_out(pred))


def error_event(error: ErrorResponse) -> str:
    """A failure after the stream began (the status line is gone): an error event, as OpenAI sends."""
    return f"data: {error.model_dump_json()}\n\n"


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
