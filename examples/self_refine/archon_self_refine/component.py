"""The component that runs `self_refine`: every candidate concurrently, feedback then rewrite per round."""

from __future__ import annotations

from functools import partial

from archon_compile.plugins import (
    CallFailed,
    Candidate,
    Component,
    LayerState,
    RunContext,
    gather_surviving,
    with_candidates,
)
from archon_self_refine.signatures import GiveFeedback, Refine
from archon_self_refine.spec import SelfRefineSpec


class SelfRefine(Component[SelfRefineSpec]):
    """A failed call keeps the answer reached so far (the original candidate if nothing was refined)."""

    signatures = (GiveFeedback, Refine)

    async def run(self, state: LayerState, ctx: RunContext) -> LayerState:
        async def refine(i: int, candidate: Candidate) -> Candidate:
            answer = candidate.text
            conversation = list(state.conversation)
            for _ in range(self.spec.rounds):
                try:
                    fb = await self.ask(
                        GiveFeedback,
                        GiveFeedback.Inputs(conversation=conversation, answer=answer),
                        ctx,
                        sample=i,
                        fallback="no feedback; answer kept",
                    )
                    if fb.value.done:
                        break
                    new = await self.ask(
                        Refine,
                        Refine.Inputs(conversation=conversation, answer=answer, feedback=fb.value.feedback),
                        ctx,
                        sample=i,
                        fallback="previous answer kept",
                    )
                except CallFailed:
                    self.note(ctx, f"self-refine of candidate {i} failed; kept the answer reached so far")
                    break
                answer = new.value.response
            if answer == candidate.text:
                return candidate
            return Candidate(text=answer, origin=f"{self.node_id}#{i}", model=self.spec.model)

        refined, _ = await gather_surviving([partial(refine, i, c) for i, c in enumerate(state.candidates)])
        return with_candidates(state, refined)
