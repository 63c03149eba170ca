"""The one evaluation engine: its rules (program errors 0, judge errors apart, failed usage counted,
unexpected exceptions contained), the judge built in one place, and the compiler scoring exactly as
`ac.evaluate` does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archon_compile as ac
from archon_compile.compiler import objective
from archon_compile.evaluation import JudgeRequired, make_judge, read_records, summarise
from archon_compile.evaluation.log import repair
from archon_compile.lm.base import LMError, LMRequest
from archon_compile.lm.scripted import last_user_text
from archon_compile.program import Query
from archon_compile.runtime.calls import RetryPolicy
from archon_compile.runtime.trace import Usage
from archon_compile.spec import ArchitectureSpec
from archon_compile.tasks import judged
from archon_compile.tasks.base import Item, Task
from archon_compile.testing import FakeOpenAIServer

SPEC = ArchitectureSpec.model_validate({"name": "one", "layers": [[{"type": "generator", "model": "m"}]]})
NO_RETRY = RetryPolicy(max_retries=0, base_delay_s=0, parse_retries=0)


def _number(request: LMRequest) -> int:
    return int(last_user_text(request).split()[1])


def program_answer(request: LMRequest) -> str | LMError:
    """Item 0 fails for good; item 1 makes the backend itself crash; the rest answer."""
    i = _number(request)
    if i == 0:
        return LMError("model refused", retryable=False, status=400)
    if i == 1:
        raise RuntimeError("backend bug")
    return f"answer {i}"


def judge_answer(request: LMRequest) -> str | LMError:
    """Item 2's verdict cannot be parsed, item 3's judge call fails; the others rate 8."""
    text = request.messages[-1].content
    if "question 2" in text:
        return "I will not rate this."
    if "question 3" in text:
        return LMError("judge down", retryable=False, status=400)
    return "Fine. [[8]]"


def rated_task(n: int = 8) -> Task:
    items = [Item(id=f"q{i}", turns=[f"question {i} here"]) for i in range(n)]
    return Task("rated", items, judged.Rating(), needs_judge=True)


def _program(lm: ac.ScriptedLM, **kw: Any) -> ac.Program:
    return ac.Program(SPEC, lms={"*": lm}, cache=False, retry=NO_RETRY, **kw)


def _judge(lm: ac.ScriptedLM, task: Task) -> Any:
    return make_judge(task, "judge", lms={"judge": lm}, retry=NO_RETRY)


def test_program_errors_count_zero_judge_errors_leave_the_mean_and_both_are_counted() -> None:
    task = rated_task()
    judge_lm = ac.ScriptedLM(judge_answer, price_per_token=0.01)
    report = ac.evaluate(
        _program(ac.ScriptedLM(program_answer)), task, judge=_judge(judge_lm, task), progress=False
    )
    assert (report.n, report.n_program_errors, report.n_judge_errors, report.n_scored) == (8, 2, 2, 6)
    assert report.mean == pytest.approx((0 + 0 + 4 * 0.8) / 6)  # 2 program errors at 0, 4 items at 0.8
    assert judge_lm.calls == 6  # the judge never sees an item the program failed on
    kinds = [(e.item_id, e.kind) for e in report.first_errors]
    assert kinds == [("q0", "program"), ("q1", "program"), ("q2", "judge"), ("q3", "judge")]
    messages = {e.item_id: e.message for e in report.first_errors}
    assert "model refused" in messages["q0"] and messages["q1"] == "RuntimeError: backend bug"
    assert "unparseable judge verdict" in messages["q2"] and "judge down" in messages["q3"]
    assert report.judge_usage.failed_calls == 1 and report.judge_usage.calls == 5
    assert not report.all_failed


def test_a_metric_that_crashes_is_a_judge_error_not_a_zero() -> None:
    def metric(item: Item, answer: str) -> bool:
        if item.id == "q4":
            raise ValueError("cannot read this answer")
        return True

    task = Task("t", [Item(id=f"q{i}", turns=[f"question {i}"]) for i in range(2, 6)], metric)
    report = ac.evaluate(_program(ac.ScriptedLM(program_answer)), task, progress=False)
    assert (report.n, report.n_judge_errors, report.mean) == (4, 1, 1.0)
    assert report.first_errors[0].message == "the metric failed: ValueError: cannot read this answer"


class PaidThenFailed(ac.Program):
    """A program whose every query pays 3 calls and then fails, reporting what it paid on the exception
    (`QueryFailed.usage`, as `Program.acall` fills it)."""

    async def acall(self, query: Query) -> ac.Prediction:
        usage = Usage(calls=3, prompt_tokens=30, completion_tokens=6, cost_usd=0.25)
        raise ac.QueryFailed("the fuser produced no usable answer", usage=usage)


def test_what_failed_queries_paid_is_counted_in_records_reports_and_the_compilers_usage() -> None:
    task = Task("t", [Item(id=f"q{i}", turns=[f"question {i}"]) for i in range(4)], lambda i, a: True)
    program = PaidThenFailed(SPEC, cache=False)
    report = ac.evaluate(program, task, progress=False)
    assert report.all_failed and report.mean == 0.0
    assert (report.program_usage.calls, report.program_usage.prompt_tokens) == (12, 120)
    assert report.program_usage.cost_usd == pytest.approx(1.0)
    assert report.program_usage.calls_per_query == 3
    ev = objective.evaluate(task, program, task.items(), None)
    assert ev.usage.calls == 12 and ev.errors == 4 and ev.quality == 0.0


def test_the_compiler_scores_exactly_as_evaluate_does() -> None:
    task = rated_task(12)
    program = _program(ac.ScriptedLM(program_answer))
    judge = _judge(ac.ScriptedLM(judge_answer), task)
    items = task.items()
    ev = objective.evaluate(task, program, items, judge)
    report = ac.evaluate(program, task, items=items, judge=judge, seed=5, progress=False)
    assert ev.summary(seed=5) == summarise(ev.records, 5)
    fields = set(ev.summary(5).model_dump()) - {"first_errors"}
    assert ev.summary(5).model_dump(include=fields) == report.model_dump(include=fields)
    assert ev.quality == report.mean and ev.errors == 2 and ev.judge_errors == 2
    assert ev.scores[:4] == [0.0, 0.0, None, None]  # judge errors stay None: never a 0


def test_dev_minibatches_report_the_running_quality_after_each() -> None:
    task = Task("t", [Item(id=f"q{i}", turns=[f"question {i}"]) for i in range(2, 10)], lambda i, a: True)
    program = _program(ac.ScriptedLM(program_answer))
    ev = objective.Evaluation()
    for start in range(0, 8, 3):
        ev = ev.extend(objective.run_items(task, program, task.items()[start : start + 3], None))
    assert ev.curve == [(3, 1.0), (6, 1.0), (8, 1.0)]
    assert [r.item_id for r in ev.records] == [f"q{i}" for i in range(2, 10)]


def test_the_judge_is_built_in_one_place_from_endpoints_and_injected_lms() -> None:
    task = rated_task(1)
    with pytest.raises(JudgeRequired, match="needs a judge model"):
        make_judge(task, None)
    assert make_judge(Task("plain", [], lambda i, a: True), None) is None
    scripted = ac.ScriptedLM([(".", "[[9]]")])
    by_lms = make_judge(task, "j", lms={"j": scripted})
    assert by_lms is not None
    report = ac.evaluate(_program(ac.ScriptedLM([(".", "hi")])), task, judge=by_lms, progress=False)
    assert scripted.calls == 1 and report.mean == pytest.approx(0.9)
    with FakeOpenAIServer(lambda body: "[[6]]") as server:
        judge = make_judge(task, "openai/j", api_bases={"openai/j": server.url, "openai/x": "http://nowhere"})
        assert judge is not None and judge.api_base == server.url
        report = ac.evaluate(_program(ac.ScriptedLM([(".", "hi")])), task, judge=judge, progress=False)
        assert len(server.requests) == 1 and report.mean == pytest.approx(0.6)
    explicit = make_judge(task, "openai/j", api_base="http://a/v1", api_bases={"openai/j": "http://b/v1"})
    assert explicit is not None and explicit.api_base == "http://a/v1"


def _judged_pool_answer(request: LMRequest) -> str:
    return f"my answer to {request.messages[-1].content}"


def test_compile_sends_the_judge_to_its_api_base_and_its_heldout_mean_is_evaluates(tmp_path: Path) -> None:
    """`ac.compile(api_bases=...)` reaches the judge; the report's held-out numbers are `ac.evaluate`'s
    on the compiled program (the compile's own split), judge errors left out in both."""

    def respond(body: dict[str, Any]) -> str:
        text = body["messages"][-1]["content"]
        return "No verdict from me." if "question 3 " in text or "question 7 " in text else "Good. [[7]]"

    task = rated_task(20)
    with FakeOpenAIServer(respond) as server:
        result = ac.compile(
            task,
            ["m"],
            lms={"m": ac.ScriptedLM(_judged_pool_answer)},
            judge="openai/judge",
            api_bases={"openai/judge": server.url},
            trials=1,
            seed=3,
            run_dir=tmp_path / "run",
        )
        assert server.requests, "the judge's api_base was not used"
        winner = result.report.winner
        assert winner is not None
        report = ac.evaluate(
            result.program,
            task,
            split="heldout",
            judge="openai/judge",
            judge_api_base=server.url,
            progress=False,
        )
    assert report.seed == 3 and report.n == winner.items == 16
    assert report.n_judge_errors >= 1
    assert report.mean == winner.quality
    assert (report.ci_low, report.ci_high) == (winner.ci_low, winner.ci_high)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.text(), st.binary().map(lambda b: b.decode("latin-1"))), max_size=6))
def test_reading_a_results_file_never_raises_on_garbage(tmp_path: Path, lines: list[str]) -> None:
    """Whatever a results file holds (torn, edited, binary), resuming reads the records it can and runs
    the rest again; only a record of another task is refused."""
    out = tmp_path / "garbage.jsonl"
    out.write_bytes("\n".join(lines).encode("utf-8", "surrogateescape"))
    assert read_records(out, "t", "p") == {}
    repair(out)
    assert not out.read_bytes() or out.read_bytes().endswith(b"\n")


def test_a_query_that_failed_after_paying_is_counted_with_what_it_paid() -> None:
    """End to end: every sample comes back empty (parsed as unusable, retried once), so the query fails
    after 3 samples x 2 attempts = 6 paid calls; the record, the report and the compiler count them."""
    spec = ArchitectureSpec.model_validate(
        {
            "name": "three",
            "layers": [
                [{"type": "generator", "model": "m", "samples": 3}],
                [{"type": "fuser", "model": "m"}],
            ],
        }
    )
    lm = ac.ScriptedLM([(".", "")], price_per_token=0.01)
    program = ac.Program(spec, lms={"*": lm}, cache=False, retry=RetryPolicy(parse_retries=1))
    task = Task("t", [Item(id="q0", turns=["question 0 with five words"])], lambda i, a: True)
    report = ac.evaluate(program, task, progress=False)
    assert report.n_program_errors == 1 and lm.calls == 6
    assert report.program_usage.calls == 6 and report.program_usage.prompt_tokens > 0
    assert objective.evaluate(task, program, task.items(), None).usage.calls == 6
