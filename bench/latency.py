"""Latency benchmark: how close does a query get to its critical path?

A local OpenAI-compatible server answers every call after `--latency` seconds. The reference program
`archon-critic-ranker` (10 generators -> critic -> ranker(top 5) -> fuser: 13 calls in 4 layers) is
retargeted to it and run on several queries one after another. Every layer's calls run concurrently, so
the ideal is 4 x latency per query; the ratio to it is the runtime's (and the LM client's) overhead.

    python bench/latency.py                      # default routing (direct HTTP for openai/ + api_base)
    python bench/latency.py --client litellm     # force LiteLLM for comparison
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import archon_compile as ac
from archon_compile.lm.base import LM
from archon_compile.testing import FakeOpenAIServer, well_formed

PROGRAM = "archon-critic-ranker"
DEPTH = 4  # layers on the critical path
CALLS = 13  # LM calls per query


RESPOND = well_formed(lambda text: "The answer is 42, because the question asks for it.")


def make_lms(client: str, url: str) -> dict[str, LM] | None:
    """None keeps the default routing; 'litellm' forces every call through LiteLLM."""
    if client == "litellm":
        from archon_compile.lm.litellm_client import LiteLLMClient

        return {"*": LiteLLMClient("openai/fake", url)}
    return None


def run(queries: int, latency_s: float, client: str) -> list[float]:
    """Seconds per query for `queries` sequential queries (after one untimed warm-up query)."""
    with FakeOpenAIServer(RESPOND, latency_s=latency_s) as server:
        program = ac.load(
            PROGRAM, lm="openai/fake", api_base=server.url, cache=False, lms=make_lms(client, server.url)
        )
        program("Warm-up: what is 6 x 7?")  # imports, connection pool, first-call set-up
        times = []
        for i in range(queries):
            start = time.perf_counter()
            pred = program(f"Query {i}: what is 6 x 7?")
            times.append(time.perf_counter() - start)
            if pred.usage.calls != CALLS or pred.usage.failed_calls:
                sys.exit(f"query {i}: expected {CALLS} successful calls, got {pred.usage}")
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--queries", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.2, help="server latency per call, seconds")
    parser.add_argument("--client", choices=["default", "litellm"], default="default")
    args = parser.parse_args(argv)
    times = run(args.queries, args.latency, args.client)
    ideal = DEPTH * args.latency
    mean = statistics.mean(times)
    print(
        f"client={args.client} queries={args.queries} calls/query={CALLS} "
        f"latency={args.latency * 1000:.0f} ms"
    )
    print(
        f"mean {mean:.3f} s/query (min {min(times):.3f}, max {max(times):.3f}); "
        f"critical path {ideal:.3f} s; ratio {mean / ideal:.3f}x"
    )


if __name__ == "__main__":
    main()
