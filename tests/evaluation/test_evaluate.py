"""evaluate(): concurrent items, JSONL log, resume after a kill, bootstrap CI, errors, judge cost apart."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

import archon_compile as ac
from archon_compile.evaluation import EvalRecord, aevaluate, bootstrap_ci, read_records
from archon_compile.lm.base import LMError, LMRequest
from archon_compile.lm.resolve import Backends
from archon_compile.lm.scripted import last_user_text
from archon_compile.runtime.calls import RetryPolicy, Runtime
from archon_compile.spec import ArchitectureSpec
from archon_compile.tasks import judged
from archon_compile.tasks.base import Item, Judge, Task
from archon_compile.testing import FakeOpenAIServer

SPEC = ArchitectureSpec.model_validate({"name": "echo", "layers": [[{"type": "generator", "model": "m"}]]})


def _items(n: int = 10) -> list[Item]:
    return [Item(id=f"q{i}", turns=[f"What is {i} squared?"], reference=str(i * i)) for i in range(n)]


def exact(item: Item, answer: str) -> bool:
    return answer.strip() == item.reference


def _answer(request: LMRequest) -> str | LMError:
    """Right for even numbers, wrong for odd ones, a hard failure for 7."""
    i = int(last_user_text(request).split()[2])
    if i == 7:
        return LMError("model refused", retryable=False, status=400)
    return str(i * i) if i % 2 == 0 else "no idea"


def _program(lm: ac.ScriptedLM) -> ac.Program:
    return ac.Program(SPEC, lms={"*": lm}, cache=False, retry=RetryPolicy(max_retries=0, base_delay_s=0))


def _task(n: int = 10) -> Task:
    return Task("squares", _items(n), exact)


def test_report_counts_program_failures_as_zero_and_writes_one_line_per_item(tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    lm = ac.ScriptedLM(_answer, price_per_token=0.001)
    report = ac.evaluate(_program(lm), _task(), out=out, progress=False)
    assert (report.n, report.n_scored, report.n_program_errors, report.n_judge_errors) == (10, 10, 1, 0)
    assert report.mean == pytest.approx(0.5)  # q0, q2, q4, q6, q8 right
    assert report.ci_low is not None and report.ci_high is not None
    assert report.ci_low < 0.5 < report.ci_high
    assert report.program_usage.calls == 9  # the refused call failed
    assert report.program_usage.calls_per_query == pytest.approx(0.9)
    assert report.program_usage.cost_per_query_usd is not None and report.program_usage.cost_per_query_usd > 0
    assert report.judge_usage.calls == 0
    records = [EvalRecord.model_validate_json(line) for line in out.read_text().splitlines()]
    assert sorted(r.item_id for r in records) == sorted(i.id for i in _items())
    failed = next(r for r in records if r.item_id == "q7")
    assert failed.error is not None and "model refused" in failed.error and failed.value() == 0.0
    right = next(r for r in records if r.item_id == "q4")
    assert right.answers == ["16"] and right.turns == ["What is 4 squared?"] and right.value() == 1.0


def test_rerun_with_the_same_out_resumes_and_skips_recorded_items(tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    first = ac.ScriptedLM(_answer)
    ac.evaluate(_program(first), _task(), limit=4, out=out, progress=False)
    assert first.calls == 4
    second = ac.ScriptedLM(_answer)
    report = ac.evaluate(_program(second), _task(), out=out, progress=False)
    assert second.calls == 6  # only the 6 items not yet recorded
    assert report.resumed == 4 and report.n == 10
    assert report.mean == pytest.approx(0.5)
    assert len(out.read_text().splitlines()) == 10


def test_a_line_cut_short_by_a_kill_is_cut_off_and_its_item_rerun(tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    ac.evaluate(_program(ac.ScriptedLM(_answer)), _task(3), out=out, progress=False)
    full = out.read_text().splitlines()
    out.write_text("\n".join(full[:2]) + "\n" + full[2][:25])  # the kill tore the last line
    torn_id = json.loads(full[2])["item_id"]
    lm = ac.ScriptedLM(_answer)
    report = ac.evaluate(_program(lm), _task(3), out=out, progress=False)
    assert lm.calls == 1 and report.resumed == 2
    lines = out.read_text().splitlines()
    assert lines[:2] == full[:2] and len(lines) == 3
    assert EvalRecord.model_validate_json(lines[2]).item_id == torn_id
    assert set(read_records(out, "squares", "echo")) == {"q0", "q1", "q2"}


def test_a_rerun_retries_the_items_that_failed(tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    first = ac.evaluate(_program(ac.ScriptedLM(_answer)), _task(), out=out, progress=False)
    assert first.n_program_errors == 1
    fixed = ac.ScriptedLM(lambda r: str(int(r.messages[-1].content.split()[2]) ** 2))
    second = ac.evaluate(_program(fixed), _task(), out=out, progress=False)
    assert fixed.calls == 1 and second.resumed == 9  # only q7 ran again
    assert second.n_program_errors == 0 and second.mean == pytest.approx(0.6)
    assert read_records(out, "squares", "echo")["q7"].error is None


def test_an_out_file_of_another_task_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    ac.evaluate(_program(ac.ScriptedLM(_answer)), _task(2), out=out, progress=False)
    other = Task("cubes", _items(2), exact)
    with pytest.raises(ValueError, match="holds a result of task 'squares'"):
        ac.evaluate(_program(ac.ScriptedLM(_answer)), other, out=out, progress=False)


def test_splits_and_limit_select_items() -> None:
    lm = ac.ScriptedLM(_answer)
    dev = ac.evaluate(_program(lm), _task(), split="dev", seed=3, progress=False)
    heldout = ac.evaluate(_program(lm), _task(), split="heldout", seed=3, limit=5, progress=False)
    assert (dev.n, heldout.n) == (2, 5)
    assert dev.split == "dev" and heldout.split == "heldout"


def test_bootstrap_ci_is_seeded_and_brackets_the_mean() -> None:
    values = [float(i % 3 == 0) for i in range(50)]
    assert bootstrap_ci(values, seed=1) == bootstrap_ci(values, seed=1)
    low, high = bootstrap_ci(values, seed=1)
    assert low is not None and high is not None
    assert low < sum(values) / len(values) < high
    assert bootstrap_ci([0.7] * 5) == pytest.approx((0.7, 0.7))
    assert bootstrap_ci([]) == (None, None)


def _judge(lm: ac.ScriptedLM) -> Judge:
    return Judge(model="judge", runtime=Runtime(Backends({"*": lm}), None, RetryPolicy(parse_retries=0)))


def test_judge_failures_leave_the_mean_and_judge_cost_is_reported_apart() -> None:
    items = [Item(id=str(i), turns=[f"question {i}"]) for i in range(4)]
    task = Task("rated", items, judged.Rating(), needs_judge=True)
    judge_lm = ac.ScriptedLM([(r"question 3", "no verdict"), (".*", "[[9]]")], price_per_token=0.01)
    program_lm = ac.ScriptedLM([(".*", "an answer")], price_per_token=0.0)
    report = ac.evaluate(_program(program_lm), task, judge=_judge(judge_lm), progress=False)
    assert (report.n, report.n_scored, report.n_judge_errors, report.n_program_errors) == (4, 3, 1, 0)
    assert report.mean == pytest.approx(0.9)
    assert report.judge_usage.calls == 4 and report.program_usage.calls == 4
    assert report.judge_usage.cost_usd is not None and report.judge_usage.cost_usd > 0
    assert report.program_usage.cost_usd == 0


def test_a_judged_task_without_a_judge_is_refused() -> None:
    task = Task("rated", _items(1), judged.Rating(), needs_judge=True)
    with pytest.raises(ValueError, match="needs a judge model"):
        ac.evaluate(_program(ac.ScriptedLM(_answer)), task, progress=False)


def test_alpaca_summary_adds_a_length_controlled_win_rate() -> None:
    items = [Item(id=str(i), turns=[f"q{i}"], meta={"baseline": ["x" * (50 + 10 * i)]}) for i in range(12)]
    task = Task("alpaca", items, judged.AlpacaPairwise(), needs_judge=True)
    judge_lm = ac.ScriptedLM(lambda r: ["[[A]]", "[[B]]", "[[tie]]"][len(r.messages[-1].content) % 3])
    report = ac.evaluate(
        _program(ac.ScriptedLM([(".*", "y" * 90)])), task, judge=_judge(judge_lm), progress=False
    )
    assert report.judge_usage.calls == 24
    assert 0.0 < report.metrics["lc_win_rate"] < 1.0


def test_a_judge_model_string_goes_over_http(tmp_path: Path) -> None:
    task = Task("rated", [Item(id="1", turns=["Say hi."])], judged.Rating(), needs_judge=True)
    out = tmp_path / "r.jsonl"
    with FakeOpenAIServer(lambda body: "Fair enough. [[7]]") as server:
        program = _program(ac.ScriptedLM([(".*", "hi")]))
        report = ac.evaluate(
            program,
            task,
            judge="openai/judge",
            judge_api_base=server.url,
            out=tmp_path / "r.jsonl",
            progress=False,
        )
        assert len(server.requests) == 1 and server.requests[0]["temperature"] == 0.0
    assert report.mean == pytest.approx(0.7)
    record = json.loads(out.read_text())
    assert record["score"]["verdict"] == "[[7]]" and "Fair enough" in record["score"]["explanation"]


def test_aevaluate_runs_items_concurrently() -> None:
    lm = ac.ScriptedLM(lambda r: "0", latency_s=0.2)
    start = time.perf_counter()
    report = asyncio.run(aevaluate(_program(lm), _task(8), concurrency=8, progress=False))
    assert report.n == 8
    assert time.perf_counter() - start < 1.0  # one after another it would take 8 x 0.2 s
