"""Fuser: one synthesised answer (per sample) from all current candidates."""

from __future__ import annotations

from functools import partial

from archon_compile.components.base import (
    Component,
    QueryFailed,
    RunContext,
    gather_surviving,
    with_candidates,
)
from archon_compile.signatures.fuse import Fuse
from archon_compile.spec import FuserSpec
from archon_compile.state import Candidate, LayerState


class Fuser(Component[FuserSpec]):
    signatures = (Fuse,)

    def writes_answer(self) -> bool:
        return self.spec.samples == 1

    async def run(self, state: LayerState, ctx: RunContext) -> LayerState:
        pool = state.candidates[: self.spec.max_inputs]
        inputs = Fuse.Inputs(
            conversation=list(state.conversation),
            candidates=[c.text for c in pool],
            critiques=[c.critique for c in pool] if self.spec.use_critiques else None,
            length_control=self.spec.length_control,
        )

        async def one(sample: int) -> Candidate | None:
            out = await self.ask(Fuse, inputs, ctx, sample=sample, fallback="dropped the empty fusion")
            if not out.ok:
                return None
            return Candidate(
                text=out.value.response, origin=f"{self.node_id}#{sample}", model=self.spec.model
            )

        made, errors = await gather_surviving([partial(one, s) for s in self.samples()])
        fused = [c for c in made if c is not None]
        if not fused:
            raise QueryFailed(
                f"{self.node_id} ({self.spec.model}): the fuser produced no usable answer"
                + (f"; last error: {errors[-1]}" if errors else "")
            )
        return with_candidates(state, fused)
