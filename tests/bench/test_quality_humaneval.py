"""bench/quality_humaneval.py: its architectures are the compile's, and its pipeline, statistics and summary
work end to end on a scripted model (the real run needs the embedded model)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import optuna
import pytest
import quality_humaneval as qh

from archon_compile.compiler.space import ArchonSpace
from archon_compile.lm.base import LMError
from archon_compile.lm.local import QWEN
from archon_compile.lm.scripted import ScriptedLM, last_user_text
from archon_compile.program import Program


def test_wilson_interval_brackets_the_rate() -> None:
    lo, hi = qh.wilson(17, 20)
    assert 0.63 < lo < 0.85 < hi < 0.96
    assert qh.wilson(0, 10)[0] == 0.0


def test_paired_difference_and_exact_mcnemar() -> None:
    a = [True] * 8 + [False] * 2
    b = [False] * 10  # 8 wins, 0 losses
    d, lo, hi, p = qh.paired(a, b)
    assert d == 0.8 and lo <= 0.8 <= hi and abs(p - 2 / 2**8) < 1e-12
    assert qh.paired(a, a)[3] == 1.0


def test_the_recipe_is_exactly_the_compiles_first_trial() -> None:
    space = ArchonSpace.for_task(qh.TASK)
    ranking = [QWEN, "local"]
    study = optuna.create_study()
    study.enqueue_trial(space.prior(ranking)[0])
    assert (
        space.build(space.suggest(study.ask(), ranking), ranking, name=qh.RECIPE)
        == qh.specs(space)[qh.RECIPE]
    )
    specs = qh.specs(space)
    assert [len(s.layers) for s in specs.values()] == [1, 3, 4, 4, 3]
    first, rest = specs["greedy+samples+tests"].layers[0]
    assert (first.temperature, first.samples, rest.temperature, rest.samples) == (0.0, 1, 0.7, 2)  # type: ignore[union-attr]
    assert first == specs["single"].layers[0][0]  # the same request: the single model's answer is reused
    assert specs["samples+tests+ranker"].layers[-1][0].type == "ranker"
    assert specs["samples+tests+fuser"].layers[-1][0].type == "fuser"


def _scripted_model() -> ScriptedLM:
    """Writes HumanEval/0's canonical solution, or a wrong one on the second sample, and three tests."""
    item = next(i for i in qh.TASK.items() if i.id == "HumanEval/0")
    right = f"```python\n{item.reference['prompt']}{qh._canonical(item)}\n```"
    wrong = "```python\ndef has_close_elements(numbers, threshold):\n    return False\n```"
    tests = (
        "1. `assert has_close_elements([1.0, 2.8, 3.0], 0.3) == True`\n"
        "```python\ndef test_it():\n    assert has_close_elements([1.0, 2.0], 0.5) == False\n```"
    )
    seen: list[str] = []

    def answer(request: object) -> str:
        text = last_user_text(request)  # type: ignore[arg-type]
        if "unit tests" in text:
            return tests
        seen.append(text)
        return wrong if len(seen) == 2 else right

    return ScriptedLM(answer)


def test_one_problem_runs_end_to_end_and_records_samples_and_tests(tmp_path: Path) -> None:
    spec = qh.specs(ArchonSpace.for_task(qh.TASK))[qh.RECIPE]
    program = Program(spec, lms={QWEN: _scripted_model()}, cache=False, seed=0, trace_text=True)
    item = next(i for i in qh.TASK.items() if i.id == "HumanEval/0")
    row = asyncio.run(qh.run_problem(program, item, analyse=True))
    assert row["passed"] is True and row["error"] is None
    assert row["calls"] == row["new_calls"] == 4  # 3 samples + the test generator; tests run in the sandbox
    assert row["samples_passed"] == [True, False, True]
    assert row["tests"] == [  # code blocks first, then the other lines
        "assert has_close_elements([1.0, 2.0], 0.5) == False",
        "assert has_close_elements([1.0, 2.8, 3.0], 0.3) == True",
    ]
    assert row["tests_on_canonical"] == [True, True]
    assert row["samples_pass_all_tests"] == [True, False, True]  # the wrong sample fails the second


def _row(i: int, passed: bool, recipe: bool = False) -> dict[str, object]:
    row: dict[str, object] = {"id": f"p{i}", "passed": passed, "calls": 4, "seconds": 2.0, "error": None}
    if recipe:
        row |= {
            "samples_passed": [i % 2 == 0, True, False],
            "tests": ["assert f() == 1"],
            "tests_on_canonical": [True],
            "samples_pass_all_tests": [True, True, False],
        }
    return row


def test_summary_compares_only_problems_every_architecture_finished() -> None:
    results = {
        "single": [_row(i, i % 2 == 0) for i in range(8)],
        qh.RECIPE: [_row(i, True, recipe=True) for i in range(6)],
    }
    text = qh.summarize(results)
    assert "finished by every architecture: 6" in text
    assert "| single | 0.500 |" in text and "| samples+tests | 1.000 |" in text and "+0.500" in text
    assert "Pass@3 1.000" in text
    assert "6 executable assertions on 6 of 6 problems; 6 (100%)" in text
    assert "agrees with the hidden tests on 15 of 18 samples" in text
    assert (
        "on 6 problems where some samples pass and some fail, 'passes every generated test' told them apart "
        "on 6; the evaluator, ranking by tests passed, returned a passing sample on 6" in text
    )


def test_a_torn_last_line_is_dropped_and_redone(tmp_path: Path) -> None:
    path = tmp_path / "single.jsonl"
    path.write_text('{"id": "p0", "passed": true}\n{"id": "p1", "pas')
    assert [r["id"] for r in qh.read_rows(path)] == ["p0"]


def test_a_program_error_is_scored_zero_and_counted_and_a_missing_model_stops_the_run() -> None:
    spec = qh.specs(ArchonSpace.for_task(qh.TASK))["single"]
    item = next(i for i in qh.TASK.items() if i.id == "HumanEval/0")
    dead = ScriptedLM(lambda request: LMError("server error", retryable=False, status=500))
    row = asyncio.run(qh.run_problem(Program(spec, lms={QWEN: dead}, cache=False), item, analyse=False))
    assert row["passed"] is False and row["error"].startswith("QueryFailed")
    results = {"single": [dict(_row(0, False), error="QueryFailed: layer L0")]}
    assert "program errors (scored 0): {'single': 1}" in qh.summarize(results)


def test_nothing_measured_or_an_unknown_architecture_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for argv in (["--summary-only"], ["--architectures", "singel", "--summary-only"]):
        monkeypatch.setattr("sys.argv", ["quality_humaneval.py", "--out", str(tmp_path), *argv])
        with pytest.raises(SystemExit) as exc:
            qh.main()
        assert exc.value.code not in (0, None)
