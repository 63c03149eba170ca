"""The example plugin passes the public kit, and runs in a program like a built-in component."""

from __future__ import annotations

from pathlib import Path

import pytest
from archon_self_refine import SelfRefineSpec
from archon_self_refine.signatures import GiveFeedback, Refine

import archon_compile as ac
from archon_compile.testing.checks import check_component, check_parser

SPEC = Path(__file__).resolve().parents[1] / "refine-spec.json"
ac.register_component(SelfRefineSpec)  # a no-op when the installed package's entry point already did it


def test_parsers_pass_the_kit():
    check_parser(GiveFeedback)
    check_parser(Refine)


def test_component_passes_the_kit():
    check_component(SelfRefineSpec(model="m", rounds=2))


def test_refines_the_ranked_answer_and_counts_its_calls():
    lm = ac.ScriptedLM(
        [
            (r"Rank the numbered", "[2] > [1]"),
            (
                r"Review the answer",
                lambda r: "[No issues]" if "Paris, France" in str(r.messages) else "Too short.",
            ),
            (r"Rewrite the answer", "Refined answer: Paris, France."),
            (r".", lambda r: ["Paris", "paris?"][r.sample_index % 2]),
        ]
    )
    program = ac.load(SPEC, lms={"*": lm}, cache=False)
    pred = program("What is the capital of France?")
    assert pred.response == "Paris, France."
    assert program.spec.calls_per_query() == 5 + 1 + 4  # 2 calls per round, 2 rounds, 1 candidate
    assert pred.usage.calls == 5 + 1 + 3  # the second round stopped at "[No issues]"


def test_runs_inside_a_dspy_program_through_the_bridge():
    """A plugin component works through the DSPy bridge like a built-in: DSPy parses its answer."""
    dspy = pytest.importorskip("dspy")
    from archon_compile.dspy import as_lm

    formatted = "[[ ## answer ## ]]\nParis, France.\n\n[[ ## completed ## ]]"
    lm = ac.ScriptedLM(
        [(r"Rank the numbered", "[1] > [2]"), (r"Review the answer", "[No issues]"), (r".", formatted)]
    )
    program = ac.load(SPEC, lms={"*": lm}, cache=False)
    with dspy.context(lm=as_lm(program, cache=False)):
        out = dspy.Predict("question -> answer")(question="What is the capital of France?")
    assert out.answer == "Paris, France."
    assert any("Review the answer" in str(r.messages) for r in program.history(20))  # the plugin ran
