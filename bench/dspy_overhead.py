"""DSPy overhead benchmark: what running an architecture as a DSPy LM adds to a query.

A local OpenAI-compatible server answers every call after `--latency` seconds, in DSPy's ChatAdapter
format. The reference program `archon-critic-ranker` (13 calls in 4 layers) answers each query twice,
interleaved: called directly, and as `dspy.Predict("question -> answer")` on `archon_compile.dspy.as_lm`
(DSPy renders, the engine runs the architecture, DSPy parses). Caches are off. Printed: seconds per
query each way, and the paired ratio DSPy / direct.

    python bench/dspy_overhead.py [--queries 10] [--latency 0.2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import dspy

import archon_compile as ac
from archon_compile.dspy import as_lm
from archon_compile.testing import FakeOpenAIServer, well_formed

PROGRAM = "archon-critic-ranker"
CALLS = 13
RESPOND = well_formed(lambda text: "[[ ## answer ## ]]\n42\n\n[[ ## completed ## ]]")


def run(queries: int, latency_s: float) -> tuple[list[float], list[float]]:
    """Seconds per query, direct and through DSPy, for `queries` pairs (after one untimed warm-up)."""
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)
    with FakeOpenAIServer(RESPOND, latency_s=latency_s) as server:
        program = ac.load(PROGRAM, lm="openai/fake", api_base=server.url, cache=False)
        predict = dspy.Predict("question -> answer")
        direct, through = [], []
        with dspy.context(lm=as_lm(program)):
            program("Warm-up: what is 6 x 7?")
            predict(question="Warm-up: what is 6 x 7?")
            for i in range(queries):
                start = time.perf_counter()
                pred = program(f"Query {i}: what is 6 x 7?")
                direct.append(time.perf_counter() - start)
                start = time.perf_counter()
                answer = predict(question=f"Query {i}: what is 6 x 7?").answer
                through.append(time.perf_counter() - start)
                if pred.usage.calls != CALLS or answer != "42":
                    sys.exit(f"query {i}: expected {CALLS} calls and '42', got {pred.usage} and {answer!r}")
    return direct, through


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--queries", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.2, help="server latency per call, seconds")
    args = parser.parse_args(argv)
    direct, through = run(args.queries, args.latency)
    ratios = [t / d for d, t in zip(direct, through, strict=True)]
    print(f"queries={args.queries} calls/query={CALLS} latency={args.latency * 1000:.0f} ms")
    print(
        f"direct {statistics.mean(direct):.3f} s/query; through DSPy {statistics.mean(through):.3f} s/query; "
        f"paired ratio {statistics.mean(ratios):.3f}x (median {statistics.median(ratios):.3f}x)"
    )


if __name__ == "__main__":
    main()
