"""Streaming the final answer: order, one Prediction last, cache replay, cancellation, broken streams."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

import archon_compile as ac
from archon_compile.components import QueryFailed
from archon_compile.lm.base import LMError, LMRequest, LMResponse
from archon_compile.runtime.stream import AnswerStream, StreamBroken
from archon_compile.testing import FakeOpenAIServer
from tests.helpers.http import CLIENTS, lms_for

ANSWER = "The tides are caused mainly by the Moon's gravity pulling on the oceans."
MOA = {
    "name": "stream-moa",
    "layers": [
        [{"type": "generator", "model": "m", "samples": 2, "temperature": 0.7}],
        [{"type": "fuser", "model": "m", "temperature": 0.7}],
    ],
}
NO_RETRY = ac.RetryPolicy(max_retries=0, parse_retries=0)


def is_fusion(request: LMRequest) -> bool:
    return request.messages[0].role == "system" and "Responses:" in request.messages[0].content


def answer(request: LMRequest) -> str:
    return ANSWER if is_fusion(request) else "draft"


def program(spec: dict[str, Any] = MOA, **kwargs: Any) -> ac.Program:
    kwargs.setdefault("cache", False)
    kwargs.setdefault("retry", NO_RETRY)
    return ac.Program(ac.ArchitectureSpec.model_validate(spec), **kwargs)


async def timed(items: AsyncIterator[str | ac.Prediction]) -> list[tuple[float, str | ac.Prediction]]:
    start = time.perf_counter()
    return [(time.perf_counter() - start, item) async for item in items]


def check_shape(items: list[str | ac.Prediction]) -> ac.Prediction:
    """Deltas (non-empty strings) in order, then exactly one Prediction whose response joins them."""
    *deltas, pred = items
    assert isinstance(pred, ac.Prediction)
    assert all(isinstance(d, str) and d for d in deltas)
    assert "".join(deltas) == pred.response  # type: ignore[arg-type]
    return pred


def test_tokens_of_the_final_fuser_stream_as_they_arrive():
    lm = ac.ScriptedLM(answer, latency_s=0.05, token_latency_s=0.03)
    got = asyncio.run(timed(program(lms={"*": lm}).astream("What causes tides?")))
    pred = check_shape([item for _, item in got])
    assert pred.response == ANSWER and pred.usage.calls == 3
    first, last = got[0][0], got[-1][0]
    words = len(ANSWER.split())
    assert len(got) - 1 == words, "one delta per streamed word"
    # First token after two layers' latency; the rest follow one token latency apart.
    assert first < 0.05 * 2 + 0.03 * 3, first
    assert last - first > 0.03 * (words - 2), (first, last)


def test_sync_stream_gives_the_same_items():
    lm = ac.ScriptedLM(answer, token_latency_s=0.001)
    items = list(program(lms={"*": lm}).stream("q"))
    assert check_shape(items).response == ANSWER and len(items) > 2


def test_a_last_component_that_cannot_stream_sends_the_answer_in_one_delta():
    spec = {
        "name": "vote",
        "layers": [
            [{"type": "generator", "model": "m", "samples": 3}],
            [{"type": "voter", "top_k": 1, "normaliser": "text"}],
        ],
    }
    lm = ac.ScriptedLM(lambda r: "Paris", token_latency_s=0.001)
    items = list(program(spec, lms={"*": lm}).stream("Capital of France?"))
    assert items[0] == "Paris" and check_shape(items).response == "Paris" and len(items) == 2


def test_a_backend_without_stream_answers_in_one_delta():
    class Plain:
        async def complete(self, request: LMRequest) -> LMResponse:
            return LMResponse(text=f"  {answer(request)}\n")

    items = list(program(lms={"*": Plain()}).stream("q"))
    assert items == [ANSWER, items[-1]] and check_shape(items).response == ANSWER


def test_a_streamed_answer_is_cached_and_a_rerun_replays_it_for_free(tmp_path):
    lm = ac.ScriptedLM(answer, token_latency_s=0.001)
    first = list(program(lms={"*": lm}, cache=tmp_path / "c.sqlite").stream("q"))
    calls = lm.calls
    again = list(program(lms={"*": lm}, cache=tmp_path / "c.sqlite").stream("q"))
    assert lm.calls == calls == 3
    assert check_shape(again).usage.cache_hits == 3 and check_shape(again).usage.calls == 0
    assert again[0] == ANSWER and check_shape(first).response == ANSWER


class Recording:
    """A streaming LM that notes how far each stream got and whether it was cut off."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.inner = ac.ScriptedLM(answer, token_latency_s=0.02)
        self.fail_after = fail_after
        self.sent: list[int] = []
        self.closed_early = 0

    async def complete(self, request: LMRequest) -> LMResponse:
        return await self.inner.complete(request)

    async def stream(self, request: LMRequest) -> AsyncIterator[str | LMResponse]:
        self.sent.append(0)
        finished = False
        try:
            async for item in self.inner.stream(request):
                if self.fail_after is not None and self.sent[-1] == self.fail_after:
                    raise LMError("connection reset mid-stream", retryable=True)
                if isinstance(item, str):
                    self.sent[-1] += 1
                yield item
            finished = True
        finally:
            self.closed_early += not finished


def test_leaving_the_stream_early_cancels_the_query():
    lm = Recording()

    async def first_delta() -> str:
        items = program(lms={"*": lm}).astream("q")
        first = await anext(items)
        await items.aclose()
        return str(first)

    assert asyncio.run(first_delta()) == "The"
    assert lm.closed_early == 1 and lm.sent == [1]


def test_breaking_off_a_sync_stream_cancels_the_query():
    lm = Recording()
    for _ in program(lms={"*": lm}).stream("q"):
        break
    deadline = time.monotonic() + 5
    while not lm.closed_early and time.monotonic() < deadline:
        time.sleep(0.01)
    assert lm.closed_early == 1 and lm.sent[0] < len(ANSWER.split())


def test_a_stream_that_breaks_after_sending_text_fails_the_query_without_a_retry():
    lm = Recording(fail_after=3)
    prog = program(lms={"*": lm}, retry=ac.RetryPolicy(max_retries=3, base_delay_s=0, parse_retries=0))

    async def consume() -> list[str | ac.Prediction]:
        return [item async for item in prog.astream("q")]

    with pytest.raises(QueryFailed, match="streamed"):
        asyncio.run(consume())
    assert lm.sent == [3], "text already sent cannot be taken back, so the call is not retried"


def test_a_stream_that_breaks_before_any_text_is_retried():
    class FailsOnce(Recording):
        async def stream(self, request: LMRequest) -> AsyncIterator[str | LMResponse]:
            if not self.sent:
                self.sent.append(0)
                raise LMError("503", retryable=True)
            async for item in super().stream(request):
                yield item

    lm = FailsOnce()
    prog = program(lms={"*": lm}, retry=ac.RetryPolicy(max_retries=2, base_delay_s=0, parse_retries=0))
    pred = check_shape(list(prog.stream("q")))
    assert pred.response == ANSWER and pred.usage.calls == 3 and pred.trace[-1].retries == 1


def test_answer_stream_drops_surrounding_blanks_and_refuses_a_contradicting_answer():
    sent: list[str] = []
    stream = AnswerStream(sent.append)
    for piece in ["\n  ", "Hello", " ", " ", "world", "\n\n"]:
        stream.write(piece)
    assert sent == ["Hello", "  world"]
    assert stream.finish("Hello  world") == ""
    assert AnswerStream(sent.append).finish("all of it") == "all of it"
    broken = AnswerStream(sent.append)
    broken.write("Hel")
    with pytest.raises(StreamBroken):
        broken.finish("Goodbye")


@pytest.mark.parametrize("client", CLIENTS)
def test_streams_over_http_from_an_openai_compatible_server(client):
    def respond(body: dict[str, Any]) -> str:
        system = body["messages"][0]
        return ANSWER if system["role"] == "system" and "Responses:" in system["content"] else "draft"

    with FakeOpenAIServer(respond, latency_s=0.05, token_latency_s=0.02) as server:
        spec = ac.ArchitectureSpec.model_validate(MOA)
        prog = ac.Program(
            spec, lm="openai/fake", api_base=server.url, lms=lms_for(client, server), cache=False
        )
        asyncio.run(timed(prog.astream("warm-up")))  # LiteLLM imports its streaming code on first use
        got = asyncio.run(timed(prog.astream("What causes tides?")))
    pred = check_shape([item for _, item in got])
    assert pred.response == ANSWER
    assert pred.usage.completion_tokens == 2 + len(ANSWER.split()) and pred.usage.prompt_tokens > 0
    assert len(got) > 5 and got[-1][0] - got[0][0] > 0.02 * 5
    assert [bool(r.get("stream")) for r in server.requests] == [False, False, True] * 2
