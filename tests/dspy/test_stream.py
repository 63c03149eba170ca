"""Streaming a compiled architecture through DSPy (`dspy.streamify`): the final component's tokens
arrive as DSPy stream chunks, then the Prediction; the trace and usage still come along."""

from __future__ import annotations

import asyncio
import pathlib
from typing import Any

import pytest

dspy = pytest.importorskip("dspy")
pytestmark = pytest.mark.usefixtures("dspy_cache_off")

from archon_compile.dspy import as_lm, prediction_of  # noqa: E402
from archon_compile.testing import FakeOpenAIServer  # noqa: E402
from tests.dspy.test_lm import program, respond  # noqa: E402


def listen(field: str, *, async_streaming: bool) -> Any:
    cot = dspy.ChainOfThought("question -> answer")
    listener = dspy.streaming.StreamListener(signature_field_name=field)
    return dspy.streamify(cot, stream_listeners=[listener], async_streaming=async_streaming)


def test_sync_streaming_yields_the_fusers_tokens_then_the_prediction(tmp_path: pathlib.Path) -> None:
    with FakeOpenAIServer(respond, token_latency_s=0.002) as server:
        lm = as_lm(program(server, tmp_path))
        with dspy.context(lm=lm, track_usage=True):
            items = list(listen("reasoning", async_streaming=False)(question="Capital of Japan?"))
    chunks = [i.chunk for i in items if isinstance(i, dspy.streaming.StreamResponse)]
    pred = items[-1]
    assert isinstance(pred, dspy.Prediction) and pred.answer == "Tokyo"
    assert len([c for c in chunks if c]) >= 3  # "The capital is Tokyo", several deltas
    assert "".join(chunks).strip() == pred.reasoning == "The capital is Tokyo"
    assert server.requests[-1].get("stream") is True  # the fuser's call itself streamed
    arch = prediction_of(lm.history[-1]["response"])
    assert arch.usage.calls == 6 and len(arch.trace) == 6
    assert pred.get_lm_usage()[lm.model]["lm_calls"] == 6


def test_async_streaming(tmp_path: pathlib.Path) -> None:
    with FakeOpenAIServer(respond) as server:

        async def run() -> list[Any]:
            with dspy.context(lm=as_lm(program(server, tmp_path))):
                return [i async for i in listen("answer", async_streaming=True)(question="Capital of Peru?")]

        items = asyncio.run(run())
    assert [i.chunk for i in items if isinstance(i, dspy.streaming.StreamResponse) and i.chunk] == ["Lima"]
    assert items[-1].answer == "Lima"
