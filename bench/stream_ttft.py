"""Time to first token of a streamed answer against the final layer's own time to first token.

A FakeOpenAIServer answers every call after `--latency` seconds (its time to first token) and streams
the final fuser's answer word by word, `--token-latency` apart. The program (3 samples -> fuser) runs
over the direct HTTP route. For each query a wrapper at the LM boundary notes when the fuser's call was
sent and when its first token arrived: the final layer's own time to first token. The consumer's time to
first token is measured from the same moment (the fuser's call being sent), through `Program.astream`
and through `serve` (an SSE client over HTTP). A ratio of 1.00 means nothing between the model's first
token and the consumer waits for the rest of the answer; without streaming the consumer's first token is
the whole answer.

    python bench/stream_ttft.py                 # 20 queries, 200 ms to first token, 40 words 20 ms apart
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

import archon_compile as ac
from archon_compile.lm.base import LMRequest, LMResponse
from archon_compile.lm.openai_compat import OpenAICompatClient
from archon_compile.serve import ServerThread, create_app
from archon_compile.testing import FakeOpenAIServer

SPEC: dict[str, Any] = {
    "name": "ttft-moa",
    "layers": [
        [{"type": "generator", "model": "openai/fake", "samples": 3, "temperature": 0.7}],
        [{"type": "fuser", "model": "openai/fake", "temperature": 0.7}],
    ],
}


@dataclass
class FinalCall:
    sent: float = 0.0
    first_token: float = 0.0


class Timed:
    """The direct client, noting when the streamed (final) call was sent and its first token arrived."""

    def __init__(self, inner: OpenAICompatClient) -> None:
        self.inner = inner
        self.final = FinalCall()

    async def complete(self, request: LMRequest) -> LMResponse:
        return await self.inner.complete(request)

    async def stream(self, request: LMRequest) -> AsyncIterator[str | LMResponse]:
        self.final = FinalCall(sent=time.perf_counter())
        async for item in self.inner.stream(request):
            if isinstance(item, str) and not self.final.first_token:
                self.final.first_token = time.perf_counter()
            yield item


def respond(words: int) -> Any:
    def answer(body: dict[str, Any]) -> str:
        system = body["messages"][0]
        if system["role"] == "system" and "Responses:" in system["content"]:
            return " ".join(f"w{i}" for i in range(words))
        return "draft"

    return answer


@dataclass
class Sample:
    own: float  # the final layer's own time to first token
    consumer: float  # the consumer's, from the same moment
    whole: float  # the whole answer, from the query's start (= first token without streaming)


async def via_program(program: ac.Program, lm: Timed, question: str) -> Sample:
    start = time.perf_counter()
    first = 0.0
    async for item in program.astream(question):
        if isinstance(item, str) and not first:
            first = time.perf_counter()
    final = lm.final
    return Sample(final.first_token - final.sent, first - final.sent, time.perf_counter() - start)


def via_serve(url: str, lm: Timed, question: str) -> Sample:
    start = time.perf_counter()
    first = 0.0
    body = {"model": SPEC["name"], "messages": [{"role": "user", "content": question}], "stream": True}
    with httpx.stream("POST", f"{url}/chat/completions", json=body, timeout=60) as resp:
        for line in resp.iter_lines():
            if '"content":"w' in line and not first:
                first = time.perf_counter()
    final = lm.final
    return Sample(final.first_token - final.sent, first - final.sent, time.perf_counter() - start)


def summary(name: str, samples: list[Sample]) -> float:
    ratio = statistics.median(s.consumer / s.own for s in samples)
    print(
        f"{name}: time to first token / final layer's own = {ratio:.3f} (median of {len(samples)}); "
        f"own {statistics.median(s.own for s in samples) * 1e3:.0f} ms, consumer "
        f"{statistics.median(s.consumer for s in samples) * 1e3:.0f} ms; whole answer "
        f"{statistics.median(s.whole for s in samples):.2f} s (the first token without streaming)"
    )
    return ratio


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds to each call's first token")
    parser.add_argument("--token-latency", type=float, default=0.02, help="seconds between streamed words")
    parser.add_argument("--words", type=int, default=40, help="words in the final answer")
    args = parser.parse_args(argv)

    with FakeOpenAIServer(
        respond(args.words), latency_s=args.latency, token_latency_s=args.token_latency
    ) as up:
        lm = Timed(OpenAICompatClient("openai/fake", up.url))
        spec = ac.ArchitectureSpec.model_validate(SPEC)
        program = ac.Program(spec, lms={"*": lm}, cache=False)
        direct = [
            asyncio.run(via_program(program, lm, f"q{i}: what is {i} squared?")) for i in range(args.queries)
        ]
        with ServerThread(create_app(program)) as server:
            served = [via_serve(server.base_url, lm, f"s{i}: {i} cubed?") for i in range(args.queries)]
    print(
        f"program {SPEC['name']}: 3 samples -> fuser; {args.latency * 1e3:.0f} ms to first token, "
        f"{args.words} words {args.token_latency * 1e3:.0f} ms apart"
    )
    ratios = [summary("Program.astream", direct), summary("serve stream=True", served)]
    return 0 if max(ratios) < 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
