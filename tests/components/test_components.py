"""Components: alignment of critiques, voter, verifier, unit tests, fallbacks recorded."""

from __future__ import annotations

import re

import pytest

import archon_compile as ac
from archon_compile.components.voter import NORMALISERS, vote_order
from archon_compile.lm.base import LMRequest
from archon_compile.spec import ArchitectureSpec
from archon_compile.tasks.metrics import exact_match, math_match, number_match


def run(layers: list[list[dict]], lm: ac.ScriptedLM, query: str = "q") -> ac.Prediction:
    spec = ArchitectureSpec.model_validate({"layers": layers})
    return ac.Program(spec, lms={"*": lm}, cache=False)(query)


def test_critiques_stay_aligned_after_ranking_and_never_carry_into_new_candidates():
    """The original ARCHON kept critiques in a list beside the candidates; after a ranker reordered the
    candidates (or a fuser replaced them) the critiques no longer matched. Here each critique must stay with
    the response it was written about."""

    def answer(r: LMRequest) -> str:
        text = r.messages[-1].content
        if "strengths and its weaknesses" in text:
            return "\n".join(f"[{i}]\nStrengths: good {i}\nWeaknesses: bad {i}" for i in range(1, 5))
        if "Rank the numbered" in text:
            return "[3] > [1] > [4] > [2]"
        if r.messages[0].role == "system":  # fuser: echo the critiques it was shown
            return " | ".join(
                re.findall(
                    r"\[(\d)\]\n(\S+ \S+)\nCritique of \[\d\]:\nStrengths: (good \d)", r.messages[0].content
                )
                .__str__()
                .split("\n")
            )
        return f"answer {r.sample_index + 1}"

    lm = ac.ScriptedLM(answer)
    pred = run(
        [
            [{"type": "generator", "model": "m", "samples": 4}],
            [{"type": "critic", "model": "m"}],
            [{"type": "ranker", "model": "m", "top_k": 2, "use_critiques": True}],
            [{"type": "fuser", "model": "m", "use_critiques": True}],
        ],
        lm,
    )
    assert pred.response == "[('1', 'answer 3', 'good 3'), ('2', 'answer 1', 'good 1')]"
    assert pred.candidates[0].critique is None, "a fused candidate starts without a critique"


def test_critic_fallback_never_borrows_another_candidates_critique():
    lm = ac.ScriptedLM(
        [
            (r"strengths and its weaknesses", "[2]\nStrengths: s2\nWeaknesses: w2"),
            (r"Rank", "[1] > [2] > [3]"),
            (r".", lambda r: f"a{r.sample_index}"),
        ]
    )
    pred = run(
        [
            [{"type": "generator", "model": "m", "samples": 3}],
            [{"type": "critic", "model": "m"}],
            [{"type": "ranker", "model": "m", "top_k": 3, "use_critiques": True}],
            [{"type": "voter", "top_k": 1}],
        ],
        lm,
    )
    critic_calls = [r for r in pred.trace if "Critique" in r.component]
    assert critic_calls[-1].fallback and "2 of 3" in critic_calls[-1].fallback


def test_voter_picks_the_majority_and_normalisers():
    assert vote_order(["Paris.", "paris", "Lyon", "PARIS!"], NORMALISERS["text"])[:3] == [0, 1, 3]
    assert NORMALISERS["number"]("so the total is $1,200.50") == "1200.5"
    assert NORMALISERS["boxed"](r"thus \boxed{\frac{1}{2}} done") == r"\frac{1}{2}"
    assert NORMALISERS["choice"]("The answer is (C)") == "C"
    lm = ac.ScriptedLM(lambda r: ["Lyon", "Paris", "paris.", "Nice", "PARIS"][r.sample_index])
    assert (
        run([[{"type": "generator", "model": "m", "samples": 5}], [{"type": "voter"}]], lm).response
        == "Paris"
    )


@pytest.mark.parametrize(
    ("normaliser", "a", "b", "scores"),
    [
        # Pairs the voter's old normalisers split (they knew no accents, articles, "Answer:" labels,
        # fbox, "The answer is", dfrac, nor that a boxed number is the answer) and the metric scores
        # alike: both right.
        ("text", "Café de Flore", "the cafe de flore", lambda x: exact_match(x, "Cafe de Flore").correct),
        ("text", "Answer: Paris", "Paris", lambda x: exact_match(x, "Paris").correct),
        ("boxed", r"so \fbox{12}", r"so \boxed{12}", lambda x: math_match(x, "12").correct),
        (
            "boxed",
            r"The answer is \dfrac{1}{2}.",
            r"\boxed{\frac{1}{2}}",
            lambda x: math_match(x, "1/2").correct,
        ),
        ("number", r"So \boxed{42} (6 rows of 7)", "42", lambda x: number_match(x, "#### 42").correct),
    ],
)
def test_the_voter_groups_answers_as_the_metric_scores_them(normaliser, a, b, scores):
    assert scores(a) and scores(b)
    assert NORMALISERS[normaliser](a) == NORMALISERS[normaliser](b)
    assert vote_order(["other", a, b], NORMALISERS[normaliser]) == [1, 2, 0]


def test_custom_normaliser_and_unknown_one():
    ac.register_normaliser("first-word", lambda s: s.split()[0].lower() if s.split() else "")
    lm = ac.ScriptedLM(lambda r: ["yes sir", "no", "Yes indeed"][r.sample_index])
    layers = [
        [{"type": "generator", "model": "m", "samples": 3}],
        [{"type": "voter", "normaliser": "first-word"}],
    ]
    assert run(layers, lm).response == "yes sir"
    try:
        run([layers[0], [{"type": "voter", "normaliser": "nope"}]], lm)
    except ValueError as exc:
        assert "unknown voter normaliser 'nope'" in str(exc) and "L1.C0" in str(exc)
    else:
        raise AssertionError("an unknown normaliser must be rejected")


def test_verifier_keeps_correct_candidates_and_all_when_none_pass():
    def answer(r: LMRequest) -> str:
        last = r.messages[-1].content
        if "End your answer with [Correct]" in last:
            return "[Correct]" if "Response:\nright" in r.messages[0].content else "[Incorrect]"
        if "Explain step by step" in last:
            return "reasoning"
        return ["wrong", "right", "wrong"][r.sample_index]

    layers = [
        [{"type": "generator", "model": "m", "samples": 3}],
        [{"type": "verifier", "model": "m"}],
        [{"type": "voter", "top_k": 1}],
    ]
    pred = run(layers, ac.ScriptedLM(answer))
    assert pred.response == "right" and pred.usage.calls == 3 + 6
    none_pass = ac.ScriptedLM(lambda r: "[Incorrect]" if "[Correct]" in r.messages[-1].content else "x")
    assert run(layers, none_pass).response == "x"


def test_unit_tests_by_lm_sort_candidates_by_tests_passed():
    def answer(r: LMRequest) -> str:
        last = r.messages[-1].content
        if "Write 3 short unit tests" in last:
            return "1. mentions the Moon\n2. mentions gravity\n3. is short"
        if "Unit tests:" in last:
            passes = 3 if "Moon gravity" in last else 1
            return "\n".join(["[Passed]"] * passes + ["[Failed]"] * (3 - passes))
        return ["tides happen", "Moon gravity pulls water", "no idea"][r.sample_index]

    pred = run(
        [
            [{"type": "generator", "model": "m", "samples": 3}],
            [{"type": "unit_test_generator", "model": "m", "num_tests": 3}],
            [{"type": "unit_test_evaluator", "model": "m", "top_k": 1}],
        ],
        ac.ScriptedLM(answer),
    )
    assert pred.response == "Moon gravity pulls water"
    assert pred.candidates[0].tests_passed == 3


def test_a_failed_critic_call_is_counted_once_and_its_fallback_noted():
    from archon_compile.lm.base import LMError

    def answer(r: LMRequest) -> str | LMError:
        if "strengths and its weaknesses" in r.messages[-1].content:
            return LMError("503 unavailable", retryable=False, status=503)
        return f"a{r.sample_index}"

    pred = run(
        [
            [{"type": "generator", "model": "m", "samples": 2}],
            [{"type": "critic", "model": "m"}],
            [{"type": "voter", "top_k": 1}],
        ],
        ac.ScriptedLM(answer),
    )
    assert pred.usage.failed_calls == 1 and pred.usage.calls == 2
    notes = [r for r in pred.trace if not r.lm_call]
    assert len(notes) == 1 and notes[0].fallback and "without critiques" in notes[0].fallback
