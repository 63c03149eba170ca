"""The one base class every component derives from, and the per-query context it runs in."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel

from archon_compile.errors import ArchonError
from archon_compile.lm.base import LMRequest
from archon_compile.runtime.calls import CallFailed, Outcome, Runtime
from archon_compile.runtime.stream import AnswerStream
from archon_compile.runtime.trace import CallRecord, Trace, Usage
from archon_compile.signatures.base import Signature
from archon_compile.state import Candidate, LayerState

S = TypeVar("S", bound=BaseModel)
T = TypeVar("T", bound=BaseModel)
R = TypeVar("R")


class QueryFailed(ArchonError, RuntimeError):
    """A layer was left with nothing to work with; the message names the layer and the last error.

    `usage` and `trace` hold what the query paid before it failed (`Program.acall` fills them), so a
    failed query is still counted.
    """

    def __init__(self, message: str, usage: Usage | None = None, trace: Sequence[CallRecord] = ()) -> None:
        super().__init__(message)
        self.usage = usage or Usage()
        self.trace = list(trace)


@dataclass(frozen=True)
class RunContext:
    runtime: Runtime
    trace: Trace
    seed: int | None = None
    stream: AnswerStream | None = None  # set only for a last component that writes the answer


class Component(ABC, Generic[S]):
    """A typed module: a spec (its parameters), its signatures, and `run` from state to state.

    Subclasses implement `run`; `ask` is their single way to call an LM (render, call, parse, retry,
    fallback, trace), so all seven share the same call path.
    """

    signatures: ClassVar[tuple[type[Signature[Any, Any]], ...]] = ()

    def __init__(self, spec: S, node_id: str, sample_offset: int = 0) -> None:
        self.spec = spec
        self.node_id = node_id
        self.sample_offset = sample_offset
        self._own = dict(zip(self.signatures, self.node_signatures(spec), strict=True))

    @classmethod
    def node_signatures(cls, spec: BaseModel) -> list[type[Signature[Any, Any]]]:
        """The signatures a node of this spec runs: the spec's own `instructions`, when set, replace
        those of the main (first) signature; a second one (the verifier's verdict) keeps its own."""
        own = getattr(spec, "instructions", None)
        return [s.with_instructions(own) if i == 0 else s for i, s in enumerate(cls.signatures)]

    @abstractmethod
    async def run(self, state: LayerState, ctx: RunContext) -> LayerState: ...

    def writes_answer(self) -> bool:
        """True when, as the last component, its one LM call's text is the final answer (so it can
        stream); components that choose among candidates or make several do not."""
        return False

    def samples(self) -> range:
        """This component's sample indices. Components of one layer with the same model take disjoint
        ranges, so two generators of one model make distinct samples, while the same generator in
        another architecture hits the cache for the samples they share."""
        n = getattr(self.spec, "samples", 1)
        return range(self.sample_offset, self.sample_offset + n)

    async def ask(
        self,
        signature: type[Signature[Any, T]],
        inputs: BaseModel,
        ctx: RunContext,
        *,
        sample: int = 0,
        fallback: str,
    ) -> Outcome[T]:
        spec: Any = self.spec
        signature = self._own.get(signature, signature)
        request = LMRequest(
            model=spec.model,
            api_base=spec.api_base,
            messages=tuple(signature.render(inputs)),
            temperature=spec.temperature,
            max_tokens=spec.max_tokens,
            sample_index=sample,
            seed=ctx.seed,
        )
        return await ctx.runtime.call(
            request,
            lambda text: signature.parse(text, inputs),
            component=f"{self.node_id}:{signature.__name__}",
            trace=ctx.trace,
            fallback=fallback,
            stream=ctx.stream,
        )

    async def update_each(
        self,
        state: LayerState,
        job: Callable[[int, Candidate], Awaitable[Candidate]],
        ctx: RunContext,
        failed: str,
    ) -> list[Candidate]:
        """`job` on every candidate at once, in order; a candidate whose job failed is kept unchanged and
        the trace notes how many failed (`f"{n} {failed}"`)."""
        done, errors = await gather_surviving([partial(job, i, c) for i, c in enumerate(state.candidates)])
        if not errors:
            return done
        self.note(ctx, f"{len(errors)} {failed}")
        by_origin = {c.origin: c for c in done}
        return [by_origin.get(c.origin, c) for c in state.candidates]

    def note(self, ctx: RunContext, fallback: str) -> None:
        """Record a fallback that happened without an LM call (e.g. a failed call's consequence)."""
        model = getattr(self.spec, "model", None) or "-"
        ctx.trace.record(CallRecord(component=self.node_id, model=model, fallback=fallback, lm_call=False))


class AnswerWriter(Component[S]):
    """A component whose calls each write one whole answer (a generator's samples, a fuser's fusions)."""

    def writes_answer(self) -> bool:
        return getattr(self.spec, "samples", 1) == 1

    async def write_answers(
        self,
        signature: type[Signature[Any, Any]],
        inputs: BaseModel,
        ctx: RunContext,
        *,
        fallback: str,
        none: str,
    ) -> list[Candidate]:
        """One candidate per sample of `signature`'s `response`; samples whose call failed or whose
        answer stayed unusable (`fallback`) are dropped, and none left raises QueryFailed (`none`)."""
        spec: Any = self.spec

        async def one(sample: int) -> Candidate | None:
            out = await self.ask(signature, inputs, ctx, sample=sample, fallback=fallback)
            if not out.ok:
                return None
            return Candidate(text=out.value.response, origin=f"{self.node_id}#{sample}", model=spec.model)

        made, errors = await gather_surviving([partial(one, s) for s in self.samples()])
        written = [c for c in made if c is not None]
        if not written:
            raise QueryFailed(
                f"{self.node_id} ({spec.model}): {none}" + (f"; last error: {errors[-1]}" if errors else "")
            )
        return written


async def gather_surviving(jobs: Sequence[Callable[[], Awaitable[R]]]) -> tuple[list[R], list[str]]:
    """Run jobs concurrently; return the results of those that did not fail and the errors of the rest."""
    results = await asyncio.gather(*(job() for job in jobs), return_exceptions=True)
    ok: list[R] = []
    errors: list[str] = []
    for r in results:
        if isinstance(r, CallFailed):
            errors.append(str(r))
        elif isinstance(r, BaseException):
            raise r
        else:
            ok.append(r)
    return ok, errors


def keep(state: LayerState, order: Sequence[int], top_k: int | None = None) -> LayerState:
    """The state with candidates reordered (and cut): each carries its own critique, so nothing misaligns."""
    chosen = [state.candidates[i] for i in order][: top_k if top_k is not None else len(order)]
    return state.model_copy(update={"candidates": tuple(chosen)})


def with_candidates(state: LayerState, candidates: Sequence[Candidate]) -> LayerState:
    return state.model_copy(update={"candidates": tuple(candidates)})
