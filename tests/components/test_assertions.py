"""Unit tests for code: the generator asks for assertions, the parser takes executable ones out of the
forms small models write (numbering, backticks, prose, code blocks), and the sandbox runs them."""

from __future__ import annotations

import pytest
from archon_compile.signatures.assertions import compiles_to_assertion, extract_assertions
from hypothesis import given, settings
from hypothesis import strategies as st

import archon_compile as ac
from archon_compile.lm.base import LMRequest
from archon_compile.spec import ArchitectureSpec


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "1. `assert longest([]) == None`\n2. `assert longest(['a']) == 'a'`",
            ["assert longest([]) == None", "assert longest(['a']) == 'a'"],
        ),
        ("```python\nassert f(1) == 2\nassert f(2) == 4\n```", ["assert f(1) == 2", "assert f(2) == 4"]),
        (
            "Test case 1: assert add(2, 3) == 5\n- assert add(0, 0) == 0",
            ["assert add(2, 3) == 5", "assert add(0, 0) == 0"],
        ),
        (
            "Here are tests:\n```\nassert g(\n    [1, 2]\n) == 3\nprint('x')\n```",
            ["assert g(\n    [1, 2]\n) == 3"],
        ),
        ("Test case 1: Input: [1, 2] Expected output: 3", []),
        ("1. assert f(1 == 2\n2. assert f(1) == 2", ["assert f(1) == 2"]),
        ("assert f(1) == 2\nassert f(1) == 2", ["assert f(1) == 2"]),
        (  # a test function never runs its asserts: they are taken out of it
            "```python\ndef test_f():\n    assert f(1) == 2\n    assert f(2) == 4\n```",
            ["assert f(1) == 2", "assert f(2) == 4"],
        ),
        (  # what Qwen wrote: the function under test redefined around the tests, and a __main__ guard
            "```python\ndef f(x):\n    assert f(0) == 0\n"
            "if __name__ == '__main__':\n    assert f(3) == 6\n```",
            ["assert f(0) == 0", "assert f(3) == 6"],
        ),
    ],
)
def test_assertions_are_taken_out_of_what_small_models_write(text: str, expected: list[str]) -> None:
    assert extract_assertions(text, 10) == expected


def test_at_most_the_asked_number_and_only_compiling_asserts() -> None:
    text = "\n".join(f"{i}. assert f({i}) == {i}" for i in range(1, 9))
    assert len(extract_assertions(text, 5)) == 5
    assert not compiles_to_assertion("x = 1")  # compiles, but asserts nothing
    assert not compiles_to_assertion("assert f(\x00)")


@settings(max_examples=200, deadline=None)
@given(
    noise=st.lists(st.text(max_size=40).filter(lambda t: "assert" not in t), max_size=4),
    wrap=st.sampled_from(["{}", "`{}`", "1. {}", "- `{}`", "Test 3: {}", "```python\n{}\n```"]),
    arg=st.integers(-1000, 1000),
)
def test_a_wrapped_assertion_is_found_among_noise(noise: list[str], wrap: str, arg: int) -> None:
    test = f"assert double({arg}) == {2 * arg}"
    text = "\n".join([*noise, wrap.format(test), *noise])
    assert test in extract_assertions(text, 5)


def run_code_pipeline(tests_text: str) -> ac.Prediction:
    def answer(r: LMRequest) -> str:
        last = r.messages[-1].content
        if "Write 2 unit tests" in last:
            assert "assert statement" in last  # the code prompt, not the criteria one
            return tests_text
        return [
            "```python\ndef double(x):\n    return x + 2\n```",
            "```python\ndef double(x):\n    return 2 * x\n```",
        ][r.sample_index]

    spec = ArchitectureSpec.model_validate(
        {
            "layers": [
                [{"type": "generator", "model": "m", "samples": 2}],
                [{"type": "unit_test_generator", "model": "m", "num_tests": 2}],
                [{"type": "unit_test_evaluator", "mode": "sandbox", "top_k": 1}],
            ]
        }
    )
    query = "Write double(x).\n```python\ndef double(x):\n    ...\n```"
    return ac.Program(spec, lms={"*": ac.ScriptedLM(answer)}, cache=False)(query)


def test_backticked_numbered_tests_now_run_and_select_the_right_candidate() -> None:
    pred = run_code_pipeline("1. `assert double(3) == 6`\n2. `assert double(0) == 0`")
    assert "2 * x" in pred.response and pred.candidates[0].tests_passed == 2


def test_prose_tests_count_as_no_tests_and_keep_the_order() -> None:
    pred = run_code_pipeline("Test case 1: Input: 3, Expected output: 6")
    assert "x + 2" in pred.response and pred.candidates[0].test_results == ()
    assert any(r.fallback and "no unit tests" in r.fallback for r in pred.trace)


def test_criteria_are_asked_for_when_the_query_is_not_code() -> None:
    from archon_compile.components.unit_tests import wants_assertions
    from archon_compile.spec import UnitTestGeneratorSpec
    from archon_compile.state import LayerState

    def state(q: str) -> LayerState:
        return LayerState(conversation=(ac.Message(role="user", content=q),))

    auto = UnitTestGeneratorSpec(model="m")
    assert not wants_assertions(auto, state("Why is the sky blue?"))
    assert wants_assertions(auto, state("Fix:\n```python\nx = 1\n```"))
    assert wants_assertions(UnitTestGeneratorSpec(model="m", tests="assertions"), state("Why?"))
    assert not wants_assertions(UnitTestGeneratorSpec(model="m", tests="criteria"), state("```python\n```"))
