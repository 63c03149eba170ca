"""Generator: `samples` independent answers to the conversation from one model."""

from __future__ import annotations

from functools import partial

from archon_compile.components.base import (
    Component,
    QueryFailed,
    RunContext,
    gather_surviving,
    with_candidates,
)
from archon_compile.signatures.generate import Generate
from archon_compile.spec import GeneratorSpec
from archon_compile.state import Candidate, LayerState


class Generator(Component[GeneratorSpec]):
    signatures = (Generate,)

    def writes_answer(self) -> bool:
        return self.spec.samples == 1

    async def run(self, state: LayerState, ctx: RunContext) -> LayerState:
        inputs = Generate.Inputs(conversation=list(state.conversation))

        async def one(sample: int) -> Candidate | None:
            out = await self.ask(Generate, inputs, ctx, sample=sample, fallback="dropped the empty sample")
            if not out.ok:
                return None
            return Candidate(
                text=out.value.response, origin=f"{self.node_id}#{sample}", model=self.spec.model
            )

        made, errors = await gather_surviving([partial(one, s) for s in self.samples()])
        candidates = [c for c in made if c is not None]
        if not candidates:
            raise QueryFailed(
                f"{self.node_id} ({self.spec.model}): no usable sample"
                + (f"; last error: {errors[-1]}" if errors else "")
            )
        return with_candidates(state, candidates)
