"""Unit-test generator and evaluator (by LM judgement, or by executing code in the sandbox)."""

from __future__ import annotations

import re

from archon_compile.components.base import Component, RunContext, keep, with_candidates
from archon_compile.runtime.calls import CallFailed
from archon_compile.signatures.unit_tests import EvaluateUnitTests, GenerateAssertions, GenerateUnitTests
from archon_compile.spec import UnitTestEvaluatorSpec, UnitTestGeneratorSpec
from archon_compile.state import Candidate, LayerState, TestResult

_PYTHON_FENCE = re.compile(r"```[ \t]*(?:python|py)\b", re.IGNORECASE)


def wants_assertions(spec: UnitTestGeneratorSpec, state: LayerState) -> bool:
    """Executable asserts when asked for, or (`auto`) when the query shows or asks for a ```python block."""
    if spec.tests != "auto":
        return spec.tests == "assertions"
    users = [m.content for m in state.conversation if m.role == "user"]
    return bool(users) and _PYTHON_FENCE.search(users[-1]) is not None


class UnitTestGenerator(Component[UnitTestGeneratorSpec]):
    """Criteria an LM judges, or, for code, Python assertions the sandbox executes (see `tests`)."""

    signatures = (GenerateUnitTests, GenerateAssertions)

    async def run(self, state: LayerState, ctx: RunContext) -> LayerState:
        signature = GenerateAssertions if wants_assertions(self.spec, state) else GenerateUnitTests
        inputs = GenerateUnitTests.Inputs(
            conversation=list(state.conversation), num_tests=self.spec.num_tests
        )
        try:
            out = await self.ask(signature, inputs, ctx, fallback="no unit tests")
            tests = out.value.tests
        except CallFailed:
            self.note(ctx, "unit-test generation failed; no unit tests")
            tests = []
        return state.model_copy(update={"unit_tests": tuple(tests)})


class UnitTestEvaluator(Component[UnitTestEvaluatorSpec]):
    """Sorts candidates by tests passed (stable), cut to top_k. With no tests, keeps the order."""

    signatures = (EvaluateUnitTests,)

    async def run(self, state: LayerState, ctx: RunContext) -> LayerState:
        tests = list(state.unit_tests)
        if not tests:
            return keep(state, range(len(state.candidates)), self.spec.top_k)
        judge = self._execute if self.spec.mode == "sandbox" else self._ask_lm

        async def one(i: int, c: Candidate) -> Candidate:
            passed = await judge(i, c, tests, state, ctx)
            return c.model_copy(
                update={
                    "test_results": tuple(
                        TestResult(test=t, passed=p) for t, p in zip(tests, passed, strict=True)
                    )
                }
            )

        scored = await self.update_each(
            state, one, ctx, "test evaluations failed; those candidates count 0 passed"
        )
        order = sorted(range(len(scored)), key=lambda i: -scored[i].tests_passed)
        return keep(with_candidates(state, scored), order, self.spec.top_k)

    async def _ask_lm(
        self, i: int, c: Candidate, tests: list[str], state: LayerState, ctx: RunContext
    ) -> list[bool]:
        inputs = EvaluateUnitTests.Inputs(
            conversation=list(state.conversation), candidate=c.text, tests=tests
        )
        out = await self.ask(
            EvaluateUnitTests, inputs, ctx, sample=i, fallback="tests without verdict counted failed"
        )
        return out.value.passed

    async def _execute(
        self, i: int, c: Candidate, tests: list[str], state: LayerState, ctx: RunContext
    ) -> list[bool]:
        from archon_compile.sandbox import run_unit_tests

        return await run_unit_tests(c.text, tests)
