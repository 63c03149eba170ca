"""The reference-based metrics: extraction, matching, and each task's metric (right 1, wrong 0, garbage never
raises), with property tests over arbitrary text."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import archon_compile as ac
from archon_compile.answers import (
    extract_boxed,
    extract_math_answer,
    extract_number,
    normalise_math,
    normalise_text,
)
from archon_compile.lm.base import LMRequest
from archon_compile.lm.resolve import Backends
from archon_compile.runtime.calls import RetryPolicy, Runtime
from archon_compile.tasks.base import Item, Judge, Score
from archon_compile.tasks.builtin import parse_correctness
from archon_compile.tasks.metrics import (
    choice_index,
    choice_match,
    exact_match,
    math_match,
    number_match,
)

FIXTURES = Path(__file__).parent / "fixtures" / "tasks"

# Text that looks like model output: LaTeX, numbers, option letters, answer phrases, unicode.
_PIECES = st.sampled_from(
    [
        "\\boxed{",
        "\\boxed ",
        "\\fbox{",
        "{",
        "}",
        "$",
        "####",
        "The answer is",
        "Answer:",
        "(B)",
        "A.",
        "1,234",
        "-3.5",
        ".",
        "\\frac{1}{2}",
        "\\left(",
        "\\right)",
        "x=",
        "\n",
        " ",
        "the",
        "Paris",
        "ñ",
        "\u0301",
        "%",
        "^\\circ",
    ]
)
TEXT = st.one_of(st.text(), st.lists(st.one_of(_PIECES, st.text(max_size=5)), max_size=25).map("".join))


def score(task: ac.tasks.Task, item: Item, answer: str, judge: Judge | None = None) -> Score:
    return asyncio.run(task.metric.score(item, [answer], judge))


# ---------------------------------------------------------------------------------------------------
# Extraction


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("so \\boxed{\\frac{1}{2}}.", "\\frac{1}{2}"),
        ("\\boxed{a} then \\boxed{\\sqrt{x^{2}}}", "\\sqrt{x^{2}}"),
        ("\\fbox{7}", "7"),
        ("hence \\boxed 5.", "5"),
        ("unclosed \\boxed{1 + {2}", None),
        ("\\boxed{3} and an unclosed \\boxed{4", "3"),
        ("no box", None),
        ("\\boxedx{2}", None),
    ],
)
def test_extract_boxed(text: str, expected: str | None) -> None:
    assert extract_boxed(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Adding them, the answer is $\\frac{3}{4}$. Done.", "\\frac{3}{4}"),
        ("The final answer is: 12\nbecause", "12"),
        ("Final answer: x = 3", "x = 3"),
        ("The answer is 3.5.", "3.5"),
        ("The answer is 1. Then \\boxed{2}", "2"),
        ("I am not sure.", None),
    ],
)
def test_extract_math_answer(text: str, expected: str | None) -> None:
    assert extract_math_answer(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("She pays $1,234.50 in total.", 1234.5),
        ("12 * 8 = <<12*8=96>>96 loaves.\n#### 96", 96.0),
        ("#### 13,750", 13750.0),
        ("The answer is 18. Next year she has 20.", 18.0),
        ("It drops to -4 degrees.", -4.0),
        ("about .5 of them", 0.5),
        ("1, 2, 3", 3.0),
        ("none at all", None),
    ],
)
def test_extract_number(text: str, expected: float | None) -> None:
    assert extract_number(text) == expected


def test_normalisation() -> None:
    assert normalise_text("  The  Bogotá, D.C.! ") == "bogota d c"
    assert normalise_text("An apple a day") == "apple day"
    assert normalise_math("$\\dfrac{1}{2}$.") == "\\frac{1}{2}"
    assert normalise_math("\\text{(C)}") == "(c)"
    assert normalise_math("x = 90^\\circ") == "90"


# ---------------------------------------------------------------------------------------------------
# Matching


@pytest.mark.parametrize(
    ("answer", "reference", "correct"),
    [
        ("Therefore \\boxed{\\frac{1}{2}}", "\\frac12", True),
        ("The answer is 0.5.", "\\frac{1}{2}", True),
        ("\\boxed{x^2+2x}", "x(x+2)", True),
        ("\\boxed{\\text{(C)}}", "\\text{(C)}", True),
        ("\\boxed{3}", "4", False),
        ("I think it is 4", "4", False),  # no stated final answer
    ],
)
def test_math_match(answer: str, reference: str, correct: bool) -> None:
    assert math_match(answer, reference).correct is correct


def test_math_match_records_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    import math_verify

    def broken(*args: object, **kwargs: object) -> list[object]:
        raise RuntimeError("parser down")

    monkeypatch.setattr(math_verify, "parse", broken)
    match = math_match("\\boxed{\\dfrac{1}{2}}", "\\frac{1}{2}")
    assert (
        match.correct and "math-verify unavailable (RuntimeError); normalised string comparison" in match.note
    )
    assert not math_match("\\boxed{2}", "\\frac{1}{2}").correct


def test_math_match_off_the_main_thread() -> None:
    """math-verify's timeout needs SIGALRM (main thread only); elsewhere it runs without one."""
    with ThreadPoolExecutor(1) as pool:
        match = pool.submit(math_match, "\\boxed{0.75}", "\\frac{3}{4}").result()
    assert match.correct and match.note == "math-verify: equivalent"


def test_number_match() -> None:
    assert number_match("so $13,750.", "#### 13,750").correct
    assert number_match("0.30000000001", "0.3").correct
    assert not number_match("13751", "13750").correct
    assert number_match("42", 42).correct
    assert not number_match("nothing", "42").correct
    assert number_match("42", "no number").note.startswith("the reference holds no number")
    assert not number_match("1" + "0" * 400, 10**400).correct  # too large for a float: no crash


def test_exact_match() -> None:
    assert exact_match("Paris.", "Paris").correct
    assert exact_match("answer: the paris", ["Lyon", "Paris"]).correct
    assert exact_match("Paris\nQuestion: What is the capital of Peru?", "Paris").note.endswith("(first line)")
    assert not exact_match("The capital of France is Paris", "Paris").correct
    assert not exact_match("", "Paris").correct
    assert not exact_match("...", "!!!").correct  # an empty reference matches nothing


OPTIONS = ["Oxygen", "Carbon dioxide", "Nitrogen", "Helium"]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("B", 1),
        ("(B)", 1),
        ("B.", 1),
        ("[C]", 2),
        ("B. Carbon dioxide", 1),
        ("Answer: D", 3),
        ("The answer is (B) because plants breathe it in.", 1),
        ("I considered A, but the answer is C", 2),
        ("carbon dioxide", 1),
        ("Plants take in carbon dioxide.", 1),
        ("Either oxygen or nitrogen.", None),  # two options mentioned
        ("A plant needs light", None),  # the article "A" is not an option letter
        ("E", None),
        ("", None),
    ],
)
def test_choice_index(answer: str, expected: int | None) -> None:
    assert choice_index(answer, OPTIONS)[0] == expected


def test_choice_text_contained_in_another_option() -> None:
    assert choice_index("Iron oxide", ["Iron", "Iron oxide", "Copper"])[0] == 1
    assert choice_match("4", ["3", "4", "5"], [1]).correct
    assert not choice_match("anything", [], [0]).correct


# ---------------------------------------------------------------------------------------------------
# Totality: no matcher raises on any text


@given(TEXT, TEXT)
@settings(max_examples=300, deadline=None)
def test_string_matchers_are_total(answer: str, reference: str) -> None:
    extract_boxed(answer)
    extract_math_answer(answer)
    extract_number(answer)
    normalise_math(answer)
    assert isinstance(exact_match(answer, reference).correct, bool)
    assert isinstance(number_match(answer, reference).correct, bool)
    picked, _ = choice_index(answer, [reference, "other"])
    assert picked in (None, 0, 1)
    assert parse_correctness(answer).ok in (True, False)


@given(
    st.one_of(TEXT, TEXT.map(lambda t: f"\\boxed{{{t}}}"), TEXT.map(lambda t: f"The answer is {t}")),
    st.sampled_from(["\\frac{1}{2}", "5", "x^2+2x", "\\text{(C)}", "(3, \\pi)", ""]),
)
@settings(max_examples=100, deadline=None)
def test_math_match_is_total(answer: str, reference: str) -> None:
    assert isinstance(math_match(answer, reference).correct, bool)


# ---------------------------------------------------------------------------------------------------
# Each task's metric: correct 1, wrong 0, garbage never raises


GARBAGE = ["", "\\boxed{", "}}}{{{", "#### ", "Answer: (Z)", "\x00\ufffd" * 50, "$" * 1000]


@pytest.mark.parametrize(
    ("task_name", "data", "right", "wrong"),
    [
        ("capitals", "capitals.jsonl", "paris", "Lyon"),
        ("math", "math.jsonl", "We get \\boxed{\\dfrac{3}{4}}.", "We get \\boxed{\\frac{1}{4}}."),
        ("gsm8k", "gsm8k.jsonl", "12 * 8 = 96. The answer is 96.", "The answer is 98."),
        ("mix_eval", "mix_eval.json", "Mars", "Venus"),
    ],
)
def test_task_metric_right_wrong_garbage(task_name: str, data: str, right: str, wrong: str) -> None:
    task = ac.tasks.get(task_name, data=str(FIXTURES / data))
    item = task.items()[0]
    assert score(task, item, right).value == 1.0
    wrong_score = score(task, item, wrong)
    assert wrong_score.value == 0.0 and wrong_score.verdict == "incorrect" and wrong_score.explanation
    for text in GARBAGE:
        assert score(task, item, text).value in (0.0, 1.0)


def test_mix_eval_metric_on_both_kinds() -> None:
    task = ac.tasks.get("mix_eval", data=str(FIXTURES / "mix_eval.json"))
    free, context, choice, arithmetic = task.items()
    assert score(task, context, "It flows into the Mediterranean. The answer is Mediterranean.").value == 1.0
    assert score(task, choice, "B").value == 1.0
    assert score(task, choice, "Carbon dioxide").value == 1.0
    assert score(task, choice, "A").value == 0.0
    assert score(task, arithmetic, "(B) 4").value == 1.0
    unmatched = score(task, free, "The fourth planet")
    assert unmatched.value == 0.0 and "no judge given" in (unmatched.explanation or "")


def _judge(verdict: str) -> tuple[Judge, ac.ScriptedLM]:
    lm = ac.ScriptedLM([(r"reference answers", verdict)])
    runtime = Runtime(Backends({"*": lm}), None, RetryPolicy(max_retries=0, base_delay_s=0, parse_retries=0))
    return Judge(model="judge-lm", runtime=runtime), lm


def test_mix_eval_free_form_uses_the_judge_only_when_normalised_match_fails() -> None:
    task = ac.tasks.get("mix_eval", data=str(FIXTURES / "mix_eval.json"))
    free = task.items()[0]
    judge, lm = _judge("It names the fourth planet, which is Mars.\n[[correct]]")
    assert score(task, free, "Mars", judge).value == 1.0 and lm.calls == 0
    judged = score(task, free, "The fourth planet from the Sun", judge)
    assert judged.value == 1.0 and judged.verdict == "correct" and judged.judge_usage.calls == 1
    request: LMRequest = lm.requests[0]
    assert "- Mars" in request.messages[-1].content and request.temperature == 0.0

    judge, _ = _judge("I cannot decide.")
    undecided = score(task, free, "Jupiter", judge)
    assert undecided.value == 0.0 and undecided.error and "no [[correct]] or [[incorrect]]" in undecided.error
