"""Unit tests: write short assertions a correct answer must satisfy; judge candidates against them."""

from __future__ import annotations

import re

from archon_compile.signatures.assertions import extract_assertions
from archon_compile.signatures.base import Signature, conversation_text
from pydantic import BaseModel

from archon_compile.lm.base import Message
from archon_compile.parsed import Parsed

_ITEM = re.compile(r"^\s*(?:[-*\u2022]|\(?\d{1,3}[.)]|\[\d{1,3}\])\s+(.+?)\s*$")
_RESULT = re.compile(r"\[\s*(passed|failed)\s*\]", re.IGNORECASE)


class GenerateUnitTestsInputs(BaseModel):
    conversation: list[Message]
    num_tests: int


class UnitTests(BaseModel):
    tests: list[str]


class GenerateUnitTests(Signature[GenerateUnitTestsInputs, UnitTests]):
    """Parser: bulleted or numbered lines are tests, at most `num_tests`. Fallback: no tests (the
    evaluator then keeps the candidates in their order)."""

    Inputs = GenerateUnitTestsInputs
    Outputs = UnitTests
    instructions = (
        "Write {n} short unit tests for the query: assertions that a correct, complete answer "
        "must satisfy. Answer with a numbered list, one assertion per line, nothing else."
    )

    @classmethod
    def render(cls, inputs: GenerateUnitTestsInputs) -> list[Message]:
        user = (
            f"Query:\n{conversation_text(inputs.conversation)}\n\n"
            f"{cls.instructions.replace('{n}', str(inputs.num_tests))}"
        )
        return [Message(role="user", content=user)]

    @classmethod
    def parse(cls, text: str, inputs: GenerateUnitTestsInputs) -> Parsed[UnitTests]:
        tests = [t for line in text.splitlines() if (m := _ITEM.match(line)) and (t := m.group(1).strip())]
        tests = tests[: inputs.num_tests]
        if not tests:
            return Parsed(UnitTests(tests=[]), ok=False, note="no list of tests found")
        return Parsed(UnitTests(tests=tests))


class GenerateAssertions(Signature[GenerateUnitTestsInputs, UnitTests]):
    """Unit tests for code: executable Python assertions (run in the sandbox after each candidate's code).

    Parser: `extract_assertions` (code blocks, inline backticks, numbering stripped; a test counts only
    when it compiles and asserts), at most `num_tests`. Fallback: no tests."""

    Inputs = GenerateUnitTestsInputs
    Outputs = UnitTests
    instructions = (
        "Write {n} unit tests for the code the query asks for. Each test is one line of Python: an assert "
        "statement that calls the function with concrete arguments and compares the result with the value "
        "a correct solution returns, e.g. `assert add(2, 3) == 5`. Answer with one ```python code block "
        "holding only the {n} assert lines, nothing else."
    )

    @classmethod
    def render(cls, inputs: GenerateUnitTestsInputs) -> list[Message]:
        user = (
            f"Query:\n{conversation_text(inputs.conversation)}\n\n"
            f"{cls.instructions.format(n=inputs.num_tests)}"
        )
        return [Message(role="user", content=user)]

    @classmethod
    def parse(cls, text: str, inputs: GenerateUnitTestsInputs) -> Parsed[UnitTests]:
        tests = extract_assertions(text, inputs.num_tests)
        if not tests:
            return Parsed(UnitTests(tests=[]), ok=False, note="no executable assert statement found")
        return Parsed(UnitTests(tests=tests))


class EvaluateUnitTestsInputs(BaseModel):
    conversation: list[Message]
    candidate: str
    tests: list[str]


class TestVerdicts(BaseModel):
    passed: list[bool]


class EvaluateUnitTests(Signature[EvaluateUnitTestsInputs, TestVerdicts]):
    """Parser: the i-th [Passed]/[Failed] is test i's verdict. Fallback: a test without a verdict has
    failed (an unproven test does not earn credit)."""

    Inputs = EvaluateUnitTestsInputs
    Outputs = TestVerdicts
    instructions = (
        "For each numbered unit test, decide whether the response satisfies it. Answer with "
        "one line per test, in order, each ending in [Passed] or [Failed]."
    )

    @classmethod
    def render(cls, inputs: EvaluateUnitTestsInputs) -> list[Message]:
        tests = "\n".join(f"{i}. {t}" for i, t in enumerate(inputs.tests, 1))
        user = (
            f"Query:\n{conversation_text(inputs.conversation)}\n\nResponse:\n{inputs.candidate}\n\n"
            f"Unit tests:\n{tests}\n\n{cls.instructions}"
        )
        return [Message(role="user", content=user)]

    @classmethod
    def parse(cls, text: str, inputs: EvaluateUnitTestsInputs) -> Parsed[TestVerdicts]:
        found = [v.lower() == "passed" for v in _RESULT.findall(text)][: len(inputs.tests)]
        missing = len(inputs.tests) - len(found)
        passed = found + [False] * missing
        if missing:
            return Parsed(
                TestVerdicts(passed=passed),
                ok=False,
                note=f"{missing} of {len(inputs.tests)} tests had no verdict; counted as failed",
            )
        return Parsed(TestVerdicts(passed=passed))
