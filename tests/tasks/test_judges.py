"""Judges: total verdict parsers, both-orders pairwise judging, retries and errors, the judged tasks."""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import archon_compile as ac
from archon_compile.lm.base import LMError, LMRequest
from archon_compile.lm.resolve import Backends
from archon_compile.runtime.calls import RetryPolicy, Runtime
from archon_compile.spec import ArchitectureSpec
from archon_compile.tasks import judged, judges
from archon_compile.tasks.base import Item, Judge
from archon_compile.tasks.data import DataError
from tests.helpers.shared import shared_path

GENERATOR = ArchitectureSpec.model_validate(
    {"name": "one-generator", "layers": [[{"type": "generator", "model": "program-lm"}]]}
)


def make_judge(lm: ac.ScriptedLM, parse_retries: int = 1) -> Judge:
    policy = RetryPolicy(max_retries=0, base_delay_s=0, parse_retries=parse_retries)
    return Judge(model="judge-lm", runtime=Runtime(Backends({"*": lm}), None, policy))


def user_text(request: LMRequest) -> str:
    return request.messages[-1].content


# ---------------------------------------------------------------------------------------------------
# Parsers


@given(st.text())
def test_parsers_are_total(text: str) -> None:
    rating = judges.parse_rating(text)
    assert rating.value is None or 1 <= rating.value <= 10
    assert rating.ok == (rating.value is not None)
    assert judges.parse_pair(text).value in (None, -1, 0, 1)
    assert judges.parse_five_way(text).value in (None, -2, -1, 0, 1, 2)


PROSE = st.text(alphabet=st.characters(blacklist_characters="[]"))


@given(PROSE, st.sampled_from(sorted(judges.FIVE_LABELS)))
def test_five_way_label_round_trips_through_any_prose(prose: str, advantage: int) -> None:
    text = f"{prose}\nFinal verdict: [[{judges.FIVE_LABELS[advantage]}]]"
    assert judges.parse_five_way(text).value == advantage


@given(PROSE, st.integers(1, 10))
def test_rating_round_trips_through_any_prose(prose: str, rating: int) -> None:
    assert judges.parse_rating(f"{prose} Rating: [[{rating}]]").value == rating


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Rating: [[7]]", 7.0),
        ("Use [[rating]] e.g. [[6]]. My rating: [[8.5]]", 8.5),
        ("[[9/10]]", 9.0),
        ("[[11]] and [[0]]", None),
        ("rated 7 out of 10", None),
    ],
)
def test_parse_rating(text: str, expected: float | None) -> None:
    assert judges.parse_rating(text).value == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[[A]]", 1),
        ("[[b]]", -1),
        ("[[ tie ]]", 0),
        ("[[A]] if A... my verdict: [[B]]", -1),
        ("A wins", None),
    ],
)
def test_parse_pair(text: str, expected: int | None) -> None:
    assert judges.parse_pair(text).value == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("[[A>>B]]", 2), ("[[B<A]]", 1), ("[[B=A]]", 0), ("[[A<<B]]", -2), ("[[A>A]]", None), ("A>B", None)],
)
def test_parse_five_way(text: str, expected: int | None) -> None:
    assert judges.parse_five_way(text).value == expected


# ---------------------------------------------------------------------------------------------------
# Both orders, retries, errors

PROGRAM = [("What is 2+2?", "PROGRAM says 4")]
BASELINE = [("What is 2+2?", "BASELINE says 5")]


@pytest.mark.parametrize(("five_way", "verdict"), [(False, "[[A]]"), (True, "[[A>>B]]"), (False, "[[B]]")])
def test_a_position_biased_judge_gives_exactly_half(five_way: bool, verdict: str) -> None:
    lm = ac.ScriptedLM([(".*", f"Whoever is first is best. {verdict}")])
    score = asyncio.run(judges.both_orders(make_judge(lm), PROGRAM, BASELINE, five_way=five_way))
    assert score.value == 0.5
    assert score.error is None
    assert lm.calls == 2
    assert score.judge_usage.calls == 2


def _prefers_program(five_way: bool) -> Callable[[LMRequest], str]:
    """A judge rule that picks whichever side holds the program's answer."""
    win, loss = ("[[A>B]]", "[[B>A]]") if five_way else ("[[A]]", "[[B]]")

    def answer(request: LMRequest) -> str:
        text = user_text(request)
        a_block = text.split("<|conversation with assistant B|>")[0]
        return win if "PROGRAM" in a_block.split("<|conversation with assistant A|>")[1] else loss

    return answer


@pytest.mark.parametrize("five_way", [False, True])
def test_a_judge_that_prefers_the_program_in_both_orders_gives_one(five_way: bool) -> None:
    lm = ac.ScriptedLM(_prefers_program(five_way))
    score = asyncio.run(judges.both_orders(make_judge(lm), PROGRAM, BASELINE, five_way=five_way))
    assert score.value == 1.0
    assert score.verdict is not None and "program=A" in score.verdict and "program=B" in score.verdict
    prompts = [user_text(r) for r in lm.requests]
    assert any(p.index("PROGRAM says") < p.index("BASELINE says") for p in prompts)
    assert any(p.index("BASELINE says") < p.index("PROGRAM says") for p in prompts)


def test_an_unparseable_verdict_is_retried_then_recorded_as_an_error_not_a_tie() -> None:
    lm = ac.ScriptedLM([(".*", "Both answers have merit; I cannot decide.")])
    score = asyncio.run(judges.both_orders(make_judge(lm, parse_retries=2), PROGRAM, BASELINE))
    assert lm.calls == 6  # 3 attempts per order
    assert {r.attempt for r in lm.requests} == {0, 1, 2}
    assert score.error is not None and "unparseable judge verdict after 3 attempt(s)" in score.error
    assert score.value == 0.0
    assert score.judge_usage.calls == 6


def test_a_retry_that_parses_recovers_the_verdict() -> None:
    lm = ac.ScriptedLM(lambda r: "[[7]]" if r.attempt == 1 else "seven out of ten")
    score = asyncio.run(judges.rate(make_judge(lm), PROGRAM))
    assert (score.value, score.verdict, score.error) == (0.7, "[[7]]", None)


def test_a_failed_judge_call_is_an_error_in_the_score() -> None:
    lm = ac.ScriptedLM([(".*", LMError("quota exceeded", retryable=False, status=429))])
    score = asyncio.run(judges.rate(make_judge(lm), PROGRAM))
    assert score.error is not None and "judge call failed" in score.error and "quota exceeded" in score.error


# ---------------------------------------------------------------------------------------------------
# MT-Bench on real questions


def _mt_items(question_ids: set[int], tmp_path: Path, baseline: bool = False) -> tuple[str, str | None]:
    src = shared_path("data", "mt_bench", "question.jsonl")
    lines = [line for line in src.read_text().splitlines() if json.loads(line)["question_id"] in question_ids]
    data = tmp_path / "question.jsonl"
    data.write_text("\n".join(lines) + "\n")
    if not baseline:
        return str(data), None
    answers = tmp_path / "baseline.jsonl"
    answers.write_text(
        "\n".join(
            json.dumps(
                {
                    "question_id": q,
                    "choices": [{"index": 0, "turns": [f"BASELINE one {q}", f"BASELINE two {q}"]}],
                }
            )
            for q in sorted(question_ids)
        )
    )
    return str(data), str(answers)


def _program_lm() -> ac.ScriptedLM:
    """Answers 'first answer to <turn>' / 'second answer' depending on how many user turns it sees."""

    def answer(request: LMRequest) -> str:
        users = [m for m in request.messages if m.role == "user"]
        return "PROGRAM first answer" if len(users) == 1 else "PROGRAM second answer"

    return ac.ScriptedLM(answer)


def _rating_judge(request: LMRequest) -> str:
    text = user_text(request)
    return "Good. [[6]]" if "(final message)" in text else "Fine. [[8]]"


def test_mt_bench_rates_both_turns_and_the_second_sees_the_first_answer(tmp_path: Path) -> None:
    data, _ = _mt_items({81, 101, 119}, tmp_path)
    refs = shared_path("data", "mt_bench", "reference_answer_gpt-4.jsonl")
    task = judged.mt_bench(data, references=str(refs))
    program_lm, judge_lm = _program_lm(), ac.ScriptedLM(_rating_judge)
    program = ac.Program(GENERATOR, lms={"*": program_lm}, cache=False)
    results = [asyncio.run(task.run_item(program, item, make_judge(judge_lm))) for item in task.items()]
    assert [r.item_id for r in results] == ["81", "101", "119"]
    for r in results:
        assert r.score is not None and r.score.error is None
        assert r.score.value == pytest.approx(0.7)  # (8 + 6) / 2 / 10
        assert "turn 1: [[8]]" in (r.score.verdict or "") and "turn 2: [[6]]" in (r.score.verdict or "")
        assert r.answers == ["PROGRAM first answer", "PROGRAM second answer"]
    second_turns = [r for r in program_lm.requests if sum(m.role == "user" for m in r.messages) == 2]
    assert len(second_turns) == 3
    assert all(
        r.messages[1].role == "assistant" and r.messages[1].content == "PROGRAM first answer"
        for r in second_turns
    )
    judge_prompts = [user_text(r) for r in judge_lm.requests if "(final message)" in user_text(r)]
    assert len(judge_prompts) == 3 and all("PROGRAM first answer" in p for p in judge_prompts)
    reference = json.loads(refs.read_text().splitlines()[0])["choices"][0]["turns"][0]  # question 101
    assert (
        sum(reference in user_text(r) for r in judge_lm.requests) == 1
    )  # reasoning: judged with its reference
    assert not any("reference answer" in user_text(r) for r in judge_lm.requests if "Hawaii" in user_text(r))


def test_mt_bench_pairwise_against_a_baseline_file(tmp_path: Path) -> None:
    data, baseline = _mt_items({81, 82}, tmp_path, baseline=True)
    task = judged.mt_bench(data, baseline=baseline)
    judge_lm = ac.ScriptedLM(_prefers_program(five_way=False))
    program = ac.Program(GENERATOR, lms={"*": _program_lm()}, cache=False)
    result = asyncio.run(task.run_item(program, task.items()[0], make_judge(judge_lm)))
    assert result.score is not None and result.score.value == 1.0 and result.score.error is None
    assert judge_lm.calls == 4  # 2 turns x 2 orders
    turn2 = [user_text(r) for r in judge_lm.requests if "BASELINE two 81" in user_text(r)]
    assert len(turn2) == 2 and all("BASELINE one 81" in p and "PROGRAM first answer" in p for p in turn2)


def test_mt_bench_baseline_missing_a_question_is_a_clear_error(tmp_path: Path) -> None:
    data, baseline = _mt_items({81, 82}, tmp_path, baseline=True)
    assert baseline is not None
    Path(baseline).write_text(Path(baseline).read_text().splitlines()[0] + "\n")
    with pytest.raises(DataError, match=r"baseline\.jsonl: no answer .* question id\(s\) 82"):
        judged.mt_bench(data, baseline=baseline).items()


def test_arena_hard_five_way_with_baselines_in_the_data(tmp_path: Path) -> None:
    data = tmp_path / "arena.jsonl"
    rows = [
        {"question_id": "q1", "turns": [{"content": "Explain CRDTs."}], "baseline": "BASELINE says CRDT"},
        {"question_id": "q2", "prompt": "Sort a list in C.", "baseline": "BASELINE says qsort"},
    ]
    data.write_text("\n".join(json.dumps(r) for r in rows))
    task = ac.tasks.get("arena_hard", str(data))
    judge_lm = ac.ScriptedLM([(".*", "[[A>B]]")])
    program = ac.Program(GENERATOR, lms={"*": ac.ScriptedLM([(".*", "PROGRAM says hi")])}, cache=False)
    scores = [asyncio.run(task.run_item(program, i, make_judge(judge_lm))).score for i in task.items()]
    assert [s.value for s in scores if s] == [0.5, 0.5]
    assert all(s is not None and s.error is None for s in scores)
    assert "own answer" in user_text(judge_lm.requests[0])


def test_arena_hard_without_baselines_says_how_to_give_them(tmp_path: Path) -> None:
    data = tmp_path / "arena.jsonl"
    data.write_text(json.dumps({"question_id": "q1", "prompt": "Hi"}) + "\n")
    with pytest.raises(DataError, match="--baseline FILE"):
        ac.tasks.get("arena_hard", str(data)).items()


def test_alpaca_eval_reads_reference_outputs_as_the_baseline(tmp_path: Path) -> None:
    data = tmp_path / "alpaca.json"
    data.write_text(
        json.dumps([{"instruction": "Name a colour.", "output": "Blue.", "generator": "gpt4_turbo"}])
    )
    item = ac.tasks.get("alpaca_eval", str(data)).items()[0]
    assert item.turns == ["Name a colour."] and item.meta["baseline"] == ["Blue."]


def test_judged_metric_without_a_judge_is_an_error_not_a_score() -> None:
    item = Item(id="1", turns=["q"])
    score = asyncio.run(judged.Rating().score(item, ["a"], None))
    assert score.error is not None and "judge" in score.error


# ---------------------------------------------------------------------------------------------------
# Length-controlled win rate


def _rows(intercept: float, slope: float, n: int = 200) -> list[tuple[float, int, int]]:
    """Preferences that follow the length model exactly; 70% of program answers are longer."""
    rows = []
    for i in range(n):
        diff = (i % 10 - 3) * 40 + (i % 7)  # mostly positive differences
        pref = 1 / (1 + math.exp(-(intercept + slope * math.tanh(diff / 150))))
        rows.append((pref, 500 + diff, 500))
    return rows


@pytest.mark.parametrize("intercept", [0.0, 1.0, -0.5])
def test_length_controlled_win_rate_removes_the_length_effect(intercept: float) -> None:
    rows = _rows(intercept, slope=2.0)
    raw = sum(r[0] for r in rows) / len(rows)
    lc = judged.length_controlled_win_rate(rows)
    assert lc is not None
    assert raw > 1 / (1 + math.exp(-intercept)) + 0.04  # longer answers inflate the raw win rate
    assert lc == pytest.approx(1 / (1 + math.exp(-intercept)), abs=0.03)


def test_length_controlled_win_rate_needs_enough_items() -> None:
    assert judged.length_controlled_win_rate(_rows(0.0, 1.0, n=5)) is None


def test_judge_prompts_state_the_verdict_format() -> None:
    assert re.search(r"\[\[rating\]\]", judges.rating_prompt(PROGRAM)[1].content)
    assert "[[tie]]" in judges.pair_prompt(PROGRAM, BASELINE)[1].content
    assert "[[B>>A]]" in judges.pair_prompt(PROGRAM, BASELINE, five_way=True)[1].content
