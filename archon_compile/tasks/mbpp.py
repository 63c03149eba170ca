"""`mbpp`: sanitized MBPP (427 hand-verified Python problems; the 257 of its test split by default), Pass@1
by executing the problem's assertions in the sandbox.

The query gives the problem statement and its first test, so the answer uses the function name and
argument order the tests expect (as MBPP's own prompt does). The answer's code (`extract_code`) runs
after the problem's `test_imports`, followed by every assertion of `test_list`; it passes when the
program exits 0.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from archon_compile.sandbox import SandboxLimits, arun_python, extract_code
from archon_compile.tasks.base import Item, Judge, Score, Task
from archon_compile.tasks.code import failure_line
from archon_compile.tasks.data import DataError, HubSource, load_records
from archon_compile.tasks.registry import register

MBPP_HUB = HubSource(path="google-research-datasets/mbpp", name="sanitized", split="test", revision="main")
MBPP_FIELDS = ("task_id", "prompt", "test_list")
MBPP_QUERY = (
    "{prompt}\nYour code should pass tests like this one:\n```python\n{example}\n```\n"
    "Answer with the Python function (and any imports it needs) in one ```python code block."
)


class MbppProblem(BaseModel):
    tests: list[str]
    test_imports: list[str] = []


def mbpp_program(problem: MbppProblem, answer: str) -> str:
    """The program that checks one answer: the test imports, the answer's code, every assertion."""
    return "\n".join([*problem.test_imports, "", extract_code(answer), "", *problem.tests, ""])


class MbppPass:
    """Pass@1 of MBPP: 1 when every assertion of the problem holds on the answer, else 0."""

    name = "pass@1"

    def __init__(self, limits: SandboxLimits | None = None) -> None:
        self.limits = limits or SandboxLimits(timeout_s=10.0, cpu_s=10)

    async def score(self, item: Item, answers: list[str], judge: Judge | None) -> Score:
        problem = MbppProblem.model_validate(item.reference)
        result = await arun_python(mbpp_program(problem, answers[-1] if answers else ""), "", self.limits)
        if result.ok:
            return Score(value=1.0, verdict="passed", explanation=f"all {len(problem.tests)} tests passed")
        return Score(value=0.0, verdict="failed", explanation=failure_line(result))


def mbpp_item(record: dict[str, Any], index: int) -> Item:
    tests = record["test_list"]
    if not isinstance(tests, list) or not tests or not all(isinstance(t, str) for t in tests):
        raise DataError(f"mbpp record {index + 1}: `test_list` must be a non-empty list of assert strings")
    imports = record.get("test_imports") or []
    if not isinstance(imports, list):
        raise DataError(f"mbpp record {index + 1}: `test_imports` must be a list of import lines")
    return Item(
        id=f"mbpp/{record['task_id']}",
        turns=[MBPP_QUERY.format(prompt=str(record["prompt"]).strip(), example=tests[0])],
        reference=MbppProblem(tests=tests, test_imports=[str(i) for i in imports]).model_dump(),
    )


@register("mbpp")
def mbpp(data: str | None = None) -> Task:
    def load() -> list[Item]:
        records = load_records("mbpp", data, MBPP_HUB, fields=MBPP_FIELDS)
        return [mbpp_item(r, i) for i, r in enumerate(records)]

    return Task(
        "mbpp",
        load,
        MbppPass(),
        size=None if data else 257,
        description="MBPP (sanitized): write a Python function; Pass@1 by running its assertions",
        source=data or f"Hub: {MBPP_HUB.describe()}",
        answers_are_code=True,
    )
