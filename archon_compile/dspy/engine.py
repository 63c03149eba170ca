"""A compiled architecture as a DSPy 3.4 engine: `complete(Request) -> Response`, sync and async.

DSPy's adapter renders its messages (its system message asks for `[[ ## field ## ]]` sections or JSON);
the engine hands that whole conversation to the architecture, whose generators and fusers see it
verbatim, and returns the final answer as the completion, so DSPy parses, retries and records it as
with any LM. The architecture's usage and trace travel in `Response.provider_data["archon_compile"]`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

from dspy import lm15

from archon_compile.components import QueryFailed
from archon_compile.dspy.rollouts import Rollouts
from archon_compile.dspy.usage import report_usage
from archon_compile.lm.base import Message
from archon_compile.program import Prediction

PROVIDER_DATA_KEY = "archon_compile"

Role = Literal["system", "user", "assistant"]
_ROLES: dict[str, Role] = {
    "user": "user",
    "assistant": "assistant",
    "system": "system",
    "developer": "system",
}


def lm15_messages(request: lm15.Request) -> list[Message]:
    """The request as this project's conversation: system prompt first, then the turns, text only."""
    if request.tools:
        raise lm15.UnsupportedFeatureError(
            "an archon-compile architecture answers with text and takes no native tools; use DSPy's "
            "text adapters (ChatAdapter, JSONAdapter), through which ReAct's tools work"
        )
    conversation: list[Message] = []
    system = request.system
    if system is not None:
        text = system if isinstance(system, str) else _text_of(system, "the system prompt")
        conversation.append(Message(role="system", content=text))
    for i, message in enumerate(request.messages):
        role = _ROLES.get(message.role)
        if role is None:
            raise lm15.UnsupportedFeatureError(
                f"message {i} has role {message.role!r}; an architecture takes system, user and "
                "assistant messages"
            )
        conversation.append(Message(role=role, content=_text_of(message.parts, f"message {i}")))
    if not conversation or conversation[-1].role != "user":
        raise lm15.InvalidRequestError("the conversation must end with a user message")
    return conversation


def _text_of(parts: tuple[Any, ...], where: str) -> str:
    if not all(isinstance(p, lm15.TextPart) for p in parts):
        kinds = sorted({type(p).__name__ for p in parts if not isinstance(p, lm15.TextPart)})
        raise lm15.UnsupportedFeatureError(f"{where} holds {kinds}; an architecture takes text only")
    return "\n".join(p.text for p in parts)


def to_response(request: lm15.Request, pred: Prediction) -> lm15.Response:
    """The final answer as an lm15 Response; tokens in `usage` (what DSPy tracks), the rest of the
    architecture's accounting and its trace in `provider_data`."""
    usage = pred.usage
    return lm15.Response(
        id=None,
        model=request.model,
        message=lm15.Message.assistant(pred.response),
        finish_reason="stop",
        usage=lm15.Usage(input_tokens=usage.prompt_tokens, output_tokens=usage.completion_tokens),
        provider_data={PROVIDER_DATA_KEY: pred.model_dump(mode="json", include={"usage", "trace"})},
    )


def prediction_of(response: lm15.Response) -> Prediction:
    """The architecture's Prediction (answer, usage, trace) carried by a Response of `as_lm`'s LM, e.g.
    `prediction_of(lm.history[-1]["response"])`. Raises ValueError for another LM's Response."""
    data = (
        (response.provider_data or {}).get(PROVIDER_DATA_KEY) if isinstance(response, lm15.Response) else None
    )
    if not isinstance(data, dict):
        raise ValueError("not a Response of an archon-compile architecture (see archon_compile.dspy.as_lm)")
    return Prediction(response=response.text or "", **data)


def _delta(text: str) -> lm15.StreamDeltaEvent:
    return lm15.StreamDeltaEvent(delta=lm15.TextDelta(text=text))


def _end(request: lm15.Request, pred: Prediction) -> lm15.StreamEndEvent:
    """The stream's last event: what `to_response` carries besides the text."""
    report_usage(request.model, pred.usage, tokens=False)
    response = to_response(request, pred)
    return lm15.StreamEndEvent(
        finish_reason="stop", usage=response.usage, provider_data=response.provider_data
    )


def _event(request: lm15.Request, item: str | Prediction) -> lm15.StreamEvent | None:
    """One item of `Program.stream`/`astream` as DSPy's stream event: a text delta (none for an empty
    piece), or the end event that carries the Prediction's usage and trace."""
    if isinstance(item, str):
        return _delta(item) if item else None
    return _end(request, item)


def _failed(request: lm15.Request, exc: QueryFailed) -> lm15.ServerError:
    """A failed query as the error DSPy expects from an engine; what it paid is still reported."""
    report_usage(request.model, exc.usage, tokens=True)
    return lm15.ServerError(f"the architecture failed: {exc}", provider="archon-compile")


class ArchitectureEngine:
    """DSPy's synchronous engine contract over a Program (thread-safe, as the Program is)."""

    def __init__(self, rollouts: Rollouts) -> None:
        self.rollouts = rollouts

    def complete(self, request: lm15.Request) -> lm15.Response:
        conversation = lm15_messages(request)
        try:
            pred = self.rollouts.program_for(conversation)(conversation)
        except QueryFailed as exc:
            raise _failed(request, exc) from exc
        report_usage(request.model, pred.usage, tokens=False)
        return to_response(request, pred)

    def stream(self, request: lm15.Request) -> Iterator[lm15.StreamEvent]:
        """The final answer's text as the last component writes it (`Program.stream`)."""
        conversation = lm15_messages(request)
        items = self.rollouts.program_for(conversation).stream(conversation)
        yield lm15.StreamStartEvent(model=request.model)
        try:
            for item in items:
                if (event := _event(request, item)) is not None:
                    yield event
        except QueryFailed as exc:
            raise _failed(request, exc) from exc
        finally:
            items.close()  # stopping early cancels the query

    def close(self) -> None:
        """The Program is borrowed: nothing to release."""


class AsyncArchitectureEngine:
    """DSPy's asynchronous engine contract over a Program (runs on the caller's event loop)."""

    def __init__(self, rollouts: Rollouts) -> None:
        self.rollouts = rollouts

    async def complete(self, request: lm15.Request) -> lm15.Response:
        conversation = lm15_messages(request)
        try:
            pred = await self.rollouts.program_for(conversation).acall(conversation)
        except QueryFailed as exc:
            raise _failed(request, exc) from exc
        report_usage(request.model, pred.usage, tokens=False)
        return to_response(request, pred)

    async def stream(self, request: lm15.Request) -> AsyncIterator[lm15.StreamEvent]:
        """The final answer's text as the last component writes it (`Program.astream`)."""
        conversation = lm15_messages(request)
        items = self.rollouts.program_for(conversation).astream(conversation)
        yield lm15.StreamStartEvent(model=request.model)
        try:
            async for item in items:
                if (event := _event(request, item)) is not None:
                    yield event
        except QueryFailed as exc:
            raise _failed(request, exc) from exc
        finally:
            await items.aclose()

    async def aclose(self) -> None:
        """The Program is borrowed: nothing to release."""
