"""Latency benchmark: how close does a query get to its critical path, on each route a user can take?

A local OpenAI-compatible server answers every call after `--latency` seconds. The reference program
`archon-critic-ranker` (10 generators -> critic -> ranker(top 5) -> fuser: 13 calls in 4 layers) is
retargeted to it and run on several queries one after another. Every layer's calls run concurrently, so
the ideal is 4 x latency per query; the ratio to it is the runtime's (and the LM client's) overhead.

Routes (`--route a,b,...`; all share one server and take turns query by query, so drift hits all alike):
- `self-hosted`: `openai/fake` with an `api_base` (vLLM, llama.cpp, Ollama servers);
- a hosted provider (`openai`, `together_ai`, `groq`, `fireworks_ai`, `deepseek`, `openrouter`, `mistral`,
  `xai`, `cerebras`, `deepinfra`): that provider's model string with no `api_base`, its endpoint pointed
  at the local server through the provider's base override variable (e.g. `GROQ_API_BASE`) and a dummy
  key, exactly as a user's call travels (priced from the cost map);
- `litellm`: `openai/fake` at the server, forced through LiteLLM (the route of Anthropic, Gemini, ...);
- `raw-httpx`: the floor on this machine: the same 13 POSTs in the same 4 concurrent waves from one bare
  `httpx.AsyncClient`, with no runtime, parsing or prompts at all.

    python bench/latency.py                                  # self-hosted
    python bench/latency.py --route self-hosted,openai,groq,litellm
    python bench/latency.py --route all                      # every route, and the raw-httpx floor
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Sequence

import httpx

import archon_compile as ac
from archon_compile.lm.base import LM
from archon_compile.lm.providers import PROVIDERS
from archon_compile.program import run_sync
from archon_compile.testing import FakeOpenAIServer, well_formed

PROGRAM = "archon-critic-ranker"
DEPTH = 4  # layers on the critical path
CALLS = 13  # LM calls per query

# A real model of each provider; all but OpenRouter's are in LiteLLM's cost map, so pricing runs.
HOSTED_MODELS = {
    "openai": "openai/gpt-4o-mini",
    "together_ai": "together_ai/Qwen/Qwen2.5-72B-Instruct-Turbo",
    "groq": "groq/openai/gpt-oss-120b",
    "fireworks_ai": "fireworks_ai/accounts/fireworks/models/llama-v3p1-8b-instruct",
    "deepseek": "deepseek/deepseek-chat",
    "openrouter": "openrouter/openai/gpt-4o-mini",
    "mistral": "mistral/mistral-small-latest",
    "xai": "xai/grok-4.3",
    "cerebras": "cerebras/llama3.1-8b",
    "deepinfra": "deepinfra/meta-llama/Meta-Llama-3.1-8B-Instruct",
}
ROUTES = ("self-hosted", *HOSTED_MODELS, "litellm", "raw-httpx")
WAVES = (10, 1, 1, 1)  # the program's layers: concurrent calls per layer

RESPOND = well_formed(lambda text: "The answer is 42, because the question asks for it.")


class RawHttpx:
    """The floor: a query is 4 waves of bare POSTs (10, then 1, 1, 1), on the programs' own event loop."""

    def __init__(self, url: str) -> None:
        self.url = url + "/chat/completions"
        self.client: httpx.AsyncClient | None = None

    async def _post(self, text: str) -> str:
        if self.client is None:
            self.client = httpx.AsyncClient(timeout=60)
        body = {"model": "fake", "messages": [{"role": "user", "content": text}], "max_tokens": 64}
        resp = await self.client.post(self.url, json=body)
        return str(resp.json()["choices"][0]["message"]["content"])

    async def _query(self, text: str) -> ac.Prediction:
        for n in WAVES:
            await asyncio.gather(*(self._post(text) for _ in range(n)))
        return ac.Prediction(response="", usage=ac.Usage(calls=CALLS))

    def __call__(self, text: str) -> ac.Prediction:
        return run_sync(self._query(text))


def make_program(route: str, url: str) -> ac.Program | RawHttpx:
    """The benchmark program on one route, every call ending at the local server at `url`."""
    lms: dict[str, LM] | None = None
    if route in HOSTED_MODELS:
        provider = PROVIDERS[route]
        os.environ[provider.base_env[0]] = url  # this process only: the provider's documented override
        os.environ[provider.key_env[0]] = "bench-dummy-key"  # never a real key, even to 127.0.0.1
        return ac.load(PROGRAM, lm=HOSTED_MODELS[route], cache=False)
    if route == "raw-httpx":
        return RawHttpx(url)
    if route == "litellm":
        from archon_compile.lm.litellm_client import LiteLLMClient

        lms = {"*": LiteLLMClient("openai/fake", url)}
    elif route != "self-hosted":
        raise ValueError(f"unknown route {route!r}: choose from {', '.join(ROUTES)}")
    return ac.load(PROGRAM, lm="openai/fake", api_base=url, cache=False, lms=lms)


def run(queries: int, latency_s: float, routes: Sequence[str] = ("self-hosted",)) -> dict[str, list[float]]:
    """Seconds per query of each route for `queries` sequential queries (after one untimed warm-up query
    per route), the routes taking turns query by query."""
    times: dict[str, list[float]] = {r: [] for r in routes}
    with FakeOpenAIServer(RESPOND, latency_s=latency_s) as server:
        programs = {r: make_program(r, server.url) for r in routes}
        for program in programs.values():
            program("Warm-up: what is 6 x 7?")  # imports, connection pool, first-call set-up
        for i in range(queries):
            for route, program in programs.items():
                start = time.perf_counter()
                pred = program(f"Query {i}: what is 6 x 7?")
                times[route].append(time.perf_counter() - start)
                if pred.usage.calls != CALLS or pred.usage.failed_calls:
                    sys.exit(f"{route}, query {i}: expected {CALLS} successful calls, got {pred.usage}")
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--queries", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.2, help="server latency per call, seconds")
    parser.add_argument(
        "--route", default="self-hosted", help=f"comma-separated routes, or 'all': {', '.join(ROUTES)}"
    )
    args = parser.parse_args(argv)
    routes = list(ROUTES) if args.route == "all" else [r.strip() for r in args.route.split(",") if r.strip()]
    unknown = [r for r in routes if r not in ROUTES]
    if unknown:
        parser.error(f"unknown route(s) {', '.join(unknown)}: choose from {', '.join(ROUTES)}")
    times = run(args.queries, args.latency, routes)
    ideal = DEPTH * args.latency
    print(
        f"queries={args.queries} calls/query={CALLS} latency={args.latency * 1000:.0f} ms; "
        f"ideal {ideal:.3f} s"
    )
    floor = statistics.mean(times["raw-httpx"]) if "raw-httpx" in times else None
    print(f"{'route':14} {'mean s/query':>12} {'min':>7} {'max':>7} {'ratio':>7} {'vs raw-httpx':>13}")
    for route, ts in times.items():
        mean = statistics.mean(ts)
        vs_floor = f"{mean / floor:12.3f}x" if floor else f"{'-':>13}"
        print(f"{route:14} {mean:12.3f} {min(ts):7.3f} {max(ts):7.3f} {mean / ideal:6.3f}x {vs_floor}")


if __name__ == "__main__":
    main()
