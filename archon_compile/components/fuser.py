"""Fuser: one synthesised answer (per sample) from all current candidates."""

from __future__ import annotations

from archon_compile.components.base import AnswerWriter, RunContext, with_candidates
from archon_compile.signatures.fuse import Fuse
from archon_compile.spec import FuserSpec
from archon_compile.state import LayerState


class Fuser(AnswerWriter[FuserSpec]):
    signatures = (Fuse,)

    async def run(self, state: LayerState, ctx: RunContext) -> LayerState:
        pool = state.candidates[: self.spec.max_inputs]
        inputs = Fuse.Inputs(
            conversation=list(state.conversation),
            candidates=[c.text for c in pool],
            critiques=[c.critique for c in pool] if self.spec.use_critiques else None,
            length_control=self.spec.length_control,
        )
        written = await self.write_answers(
            Fuse,
            inputs,
            ctx,
            fallback="dropped the empty fusion",
            none="the fuser produced no usable answer",
        )
        return with_candidates(state, written)
