"""Verifier: two calls per candidate (reasoning, then verdict); keeps those judged correct, all if none."""

from __future__ import annotations

from functools import partial

from archon_compile.components.base import Component, RunContext, gather_surviving, with_candidates
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

        judged, errors = await gather_surviving(
            [partial(judge, i, c) for i, c in enumerate(state.candidates)]
        )
        if errors:
            self.note(ctx, f"{len(errors)} verifications failed; those candidates were kept unverified")
            judged_by_origin = {c.origin: c for c in judged}
            judged = [judged_by_origin.get(c.origin, c) for c in state.candidates]
        passing = [c for c in judged if c.verified is not False]
        return with_candidates(state, passing or judged)
