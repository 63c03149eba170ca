"""Verifier: two calls per candidate (reasoning, then verdict); keeps those judged correct, all if none."""

from __future__ import annotations

from archon_compile.components.base import Component, RunContext, with_candidates
from archon_compile.signatures.verify import Verify, VerifyReasoning
from archon_compile.spec import VerifierSpec
from archon_compile.state import Candidate, LayerState


class Verifier(Component[VerifierSpec]):
    signatures = (VerifyReasoning, Verify)

    async def run(self, state: LayerState, ctx: RunContext) -> LayerState:
        async def judge(i: int, c: Candidate) -> Candidate:
            inputs = Verify.Inputs(
                conversation=list(state.conversation),
                candidate=c.text,
                critique=c.critique if self.spec.use_critiques else None,
            )
            reasoning = await self.ask(
                VerifyReasoning, inputs, ctx, sample=i, fallback="verdict asked without reasoning"
            )
            inputs = inputs.model_copy(update={"reasoning": reasoning.value.response})
            verdict = await self.ask(
                Verify, inputs, ctx, sample=i, fallback="verdict unknown; candidate kept"
            )
            return c.model_copy(update={"verified": verdict.value.correct})

        judged = await self.update_each(
            state, judge, ctx, "verifications failed; those candidates were kept unverified"
        )
        passing = [c for c in judged if c.verified is not False]
        return with_candidates(state, passing or judged)
