"""Generator: `samples` independent answers to the conversation from one model."""

from __future__ import annotations

from archon_compile.components.base import AnswerWriter, RunContext, with_candidates
from archon_compile.signatures.generate import Generate
from archon_compile.spec import GeneratorSpec
from archon_compile.state import LayerState


class Generator(AnswerWriter[GeneratorSpec]):
    signatures = (Generate,)

    async def run(self, state: LayerState, ctx: RunContext) -> LayerState:
        inputs = Generate.Inputs(conversation=list(state.conversation))
        written = await self.write_answers(
            Generate, inputs, ctx, fallback="dropped the empty sample", none="no usable sample"
        )
        return with_candidates(state, written)
