"""Critic: attaches a critique to every candidate (so it travels with the candidate)."""

from __future__ import annotations

from archon_compile.components.base import Component, RunContext, with_candidates
from archon_compile.runtime.calls import CallFailed
from archon_compile.signatures.critique import CritiqueSignature
from archon_compile.spec import CriticSpec
from archon_compile.state import LayerState


class Critic(Component[CriticSpec]):
    signatures = (CritiqueSignature,)

    async def run(self, state: LayerState, ctx: RunContext) -> LayerState:
        inputs = CritiqueSignature.Inputs(
            conversation=list(state.conversation), candidates=[c.text for c in state.candidates]
        )
        try:
            out = await self.ask(
                CritiqueSignature, inputs, ctx, fallback="missing critiques marked as not given"
            )
        except CallFailed:
            self.note(ctx, "critic call failed; candidates passed on without critiques")
            return state
        return with_candidates(
            state,
            [
                c.model_copy(update={"critique": crit})
                for c, crit in zip(state.candidates, out.value.critiques, strict=True)
            ],
        )
