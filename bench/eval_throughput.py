"""Evaluation throughput: how much does running items concurrently buy?

A local OpenAI-compatible server answers every call after `--latency` seconds (200 ms by default). A
4-layer program (3 generators -> critic -> ranker(top 2, with critiques) -> fuser: 6 calls, 4 layers on
the critical path) is evaluated on an exact-match arithmetic task, once at concurrency 1 and once at
concurrency 32. The sequential run takes `--sequential-items` items (default 10) and its time is
extrapolated linearly to `--items` (default 100): one after another, every item costs the same.

    python bench/eval_throughput.py
    python bench/eval_throughput.py --items 100 --sequential-items 100   # no extrapolation (~90 s)
"""

from __future__ import annotations

import argparse
import re
import time

import archon_compile as ac
from archon_compile.spec import ArchitectureSpec
from archon_compile.tasks import Item, Task
from archon_compile.testing import FakeOpenAIServer, well_formed

DEPTH = 4
SPEC = ArchitectureSpec.model_validate(
    {
        "name": "bench-4-layers",
        "layers": [
            [{"type": "generator", "model": "openai/fake"} for _ in range(3)],
            [{"type": "critic", "model": "openai/fake"}],
            [{"type": "ranker", "model": "openai/fake", "top_k": 2, "use_critiques": True}],
            [{"type": "fuser", "model": "openai/fake", "use_critiques": True}],
        ],
    }
)
_SUM = re.compile(r"What is (\d+) \+ (\d+)\?")


def _sum(text: str) -> str:
    """Generators and the fuser do the arithmetic of the question."""
    m = _SUM.search(text)
    return f"{int(m.group(1)) + int(m.group(2))}" if m else "I do not know."


def normalised_exact_match(item: Item, answer: str) -> bool:
    return " ".join(answer.lower().split()).rstrip(".") == item.reference


def make_task(n: int) -> Task:
    questions = [(f"What is {i} + {2 * i + 1}?", str(3 * i + 1)) for i in range(n)]
    items = [Item(id=str(i), turns=[q], reference=a) for i, (q, a) in enumerate(questions)]
    return Task("arithmetic", items, normalised_exact_match, description="a + b, normalised exact match")


def timed(url: str, task: Task, concurrency: int) -> tuple[float, ac.EvalReport]:
    program = ac.Program(SPEC, api_base=url, cache=False, concurrency=256)
    start = time.perf_counter()
    report = ac.evaluate(program, task, concurrency=concurrency, progress=False)
    return time.perf_counter() - start, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--sequential-items", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    with FakeOpenAIServer(well_formed(_sum), latency_s=args.latency) as server:
        timed(server.url, make_task(2), 2)  # warm-up: imports, connection pool
        seq_s, seq = timed(server.url, make_task(args.sequential_items), 1)
        par_s, par = timed(server.url, make_task(args.items), args.concurrency)
    seq_total = seq_s * args.items / args.sequential_items
    ideal = DEPTH * args.latency
    per_item = seq_s / args.sequential_items
    print(f"program: {SPEC.name}, {SPEC.calls_per_query()} calls / query, critical path {ideal:.2f} s")
    print(
        f"concurrency 1: {args.sequential_items} items in {seq_s:.2f} s ({per_item:.3f} s / item; "
        f"{seq_total:.1f} s for {args.items} items, extrapolated), accuracy {seq.mean:.2f}"
    )
    print(
        f"concurrency {args.concurrency}: {args.items} items in {par_s:.2f} s, accuracy {par.mean:.2f}, "
        f"errors {par.n_program_errors}"
    )
    print(f"speed-up: {seq_total / par_s:.1f}x (ideal {min(args.concurrency, args.items)}x)")


if __name__ == "__main__":
    main()
