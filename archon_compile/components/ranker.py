"""Ranker: keeps the top_k candidates, best first, by one listwise LM call."""

from __future__ import annotations

from archon_compile.components.base import Component, RunContext, keep
from archon_compile.runtime.calls import CallFailed
from archon_compile.signatures.rank import Rank
from archon_compile.spec import RankerSpec
from archon_compile.state import LayerState


class Ranker(Component[RankerSpec]):
    signatures = (Rank,)

    async def run(self, state: LayerState, ctx: RunContext) -> LayerState:
        n = len(state.candidates)
        if n <= 1:
            return state
        inputs = Rank.Inputs(
            conversation=list(state.conversation),
            candidates=[c.text for c in state.candidates],
            critiques=[c.critique for c in state.candidates] if self.spec.use_critiques else None,
        )
        try:
            out = await self.ask(Rank, inputs, ctx, fallback="kept the input order")
        except CallFailed:
            self.note(ctx, "ranker call failed; kept the input order")
            return keep(state, range(n), self.spec.top_k)
        return keep(state, out.value.order, self.spec.top_k)
