"""Program: a built architecture that answers queries (sync, async, batched), with usage and trace."""

from __future__ import annotations

import asyncio
import os
import queue
import sys
import threading
from collections.abc import AsyncGenerator, Callable, Coroutine, Generator, Mapping, Sequence
from dataclasses import replace
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TextIO, TypeVar

from pydantic import BaseModel, Field, ValidationError

from archon_compile.components import Component, QueryFailed, RunContext
from archon_compile.errors import ArchonError
from archon_compile.limits import DEFAULT_MAX_CALLS_PER_QUERY
from archon_compile.lm.base import LM, Message
from archon_compile.lm.redact import redact
from archon_compile.lm.resolve import Backends
from archon_compile.registry import component_class
from archon_compile.runtime.cache import Cache
from archon_compile.runtime.calls import RetryPolicy, Runtime
from archon_compile.runtime.history import DEFAULT_SIZE, CallHistory, format_by_component, format_call
from archon_compile.runtime.stream import AnswerStream, StreamBroken
from archon_compile.runtime.trace import CallRecord, Trace, Usage
from archon_compile.spec import ArchitectureSpec, node_id
from archon_compile.state import Candidate, LayerState

T = TypeVar("T")
P = ParamSpec("P")
Query = str | Sequence[Message | Mapping[str, str]]


class CallCapExceeded(ArchonError, ValueError):
    """An architecture costs more LM calls per query than the program's `max_calls_per_query`."""


class BadQuery(ArchonError, ValueError):
    """A query that cannot be sent to a model (e.g. not valid Unicode text)."""


class Prediction(BaseModel):
    """The final answer of one query, what it cost, and every call that went into it."""

    response: str
    usage: Usage = Field(default_factory=Usage)
    trace: list[CallRecord] = Field(default_factory=list)
    candidates: list[Candidate] = Field(default_factory=list, description="what the last layer left")
    error: str | None = Field(None, description="set (and response empty) when the query failed in a batch")


def default_cache_path() -> Path:
    home = os.environ.get("ARCHON_COMPILE_HOME") or Path.home() / ".cache" / "archon-compile"
    return Path(home) / "lm-cache.sqlite"


def to_conversation(query: Query) -> tuple[Message, ...]:
    """A string is one user message; a list of messages (dicts or Message) is a conversation."""
    if isinstance(query, str):
        msgs: tuple[Message, ...] = (Message(role="user", content=query),)
    else:
        msgs = tuple(_message(i, m) for i, m in enumerate(query))
    if not msgs or msgs[-1].role != "user":
        raise BadQuery("a conversation must end with a user message")
    for i, msg in enumerate(msgs):
        try:
            msg.content.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise BadQuery(
                f"message {i}: not valid Unicode text (a lone surrogate at character {exc.start}); "
                "send UTF-8 text"
            ) from None
    return msgs


def _message(index: int, message: Message | Mapping[str, str]) -> Message:
    try:
        return message if isinstance(message, Message) else Message.model_validate(message)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"]) or "message"
        hint = "a message is {'role': 'system' | 'user' | 'assistant', 'content': text}"
        raise BadQuery(f"message {index}: {where}: {problem['msg']} ({hint})") from None


def check_call_cap(spec: ArchitectureSpec, cap: int) -> None:
    """Refuse, before any call, an architecture whose calls per query exceed `cap`."""
    calls = spec.calls_per_query()
    if calls > cap:
        raise CallCapExceeded(
            f"{spec.name}: this architecture makes {calls:,} LM calls per query (without retries), over "
            f"the cap of {cap:,}; lower its samples/components, or raise the cap with "
            "max_calls_per_query= (Program, ac.load) or --max-calls-per-query (serve)"
        )


class Program:
    """An architecture spec made runnable. Safe to share between threads; call it from sync or async code.

    `lms` maps model strings (or "*") to LM instances; `lm`/`api_base` replace every model of the spec
    (so one artifact moves between providers); `cache` is a path, a Cache, True (the default disk cache)
    or False (none); `history_size` calls are kept in memory for `history`/`inspect_history` (0: none);
    `trace_text=True` puts each call's prompt and reply on `pred.trace` too; an architecture costing
    more than `max_calls_per_query` LM calls per query is refused here, before any call.
    """

    def __init__(
        self,
        spec: ArchitectureSpec,
        *,
        lms: Mapping[str, LM] | None = None,
        lm: str | None = None,
        api_base: str | None = None,
        cache: Cache | str | Path | bool = True,
        concurrency: int = 32,
        retry: RetryPolicy | None = None,
        seed: int | None = None,
        provenance: Mapping[str, Any] | None = None,
        history_size: int = DEFAULT_SIZE,
        trace_text: bool = False,
        max_calls_per_query: int = DEFAULT_MAX_CALLS_PER_QUERY,
    ) -> None:
        self.spec = retarget(spec, lm, api_base) if (lm or api_base) else spec
        check_call_cap(self.spec, max_calls_per_query)
        self.max_calls_per_query = max_calls_per_query
        self.seed = seed
        self.provenance = dict(provenance or {})
        history = CallHistory(history_size) if history_size else None
        self.runtime = Runtime(
            Backends(lms), _make_cache(cache), retry, concurrency, history=history, trace_text=trace_text
        )
        self.layers = [_build_layer(li, layer) for li, layer in enumerate(self.spec.layers)]

    @property
    def name(self) -> str:
        return self.spec.name

    def history(self, n: int | None = None) -> list[CallRecord]:
        """The last `n` LM calls of this program (all it kept when None), oldest first, each with its
        prompt (`messages`) and `reply`, credentials masked; cache hits included."""
        return self.runtime.history.records(n) if self.runtime.history is not None else []

    def inspect_history(self, n: int = 1, file: TextIO | None = None) -> str:
        """Print the last `n` calls, prompt and reply (one by default, as DSPy), to `file`; return it."""
        text = "\n\n".join(format_call(rec) for rec in self.history(n))
        print(text, file=file or sys.stdout)
        return text

    def component_types(self) -> dict[str, str]:
        """Node id (`L1.C0`) -> component type (`critic`), to label calls."""
        return {c.node_id: c.spec.type for layer in self.layers for c in layer}

    def format_calls(self, records: Sequence[CallRecord]) -> str:
        """Records with text (`pred.trace` with `trace_text=True`, or `history`) grouped per component."""
        return format_by_component(records, self.component_types())

    async def acall(self, query: Query, *, stream: AnswerStream | None = None) -> Prediction:
        """Answer one query. A `QueryFailed` carries the usage and trace of what the query paid.
        `stream` (used by `astream`) receives the final answer's text as the last component writes it."""
        return await self._traced(query, Trace(), stream)

    async def _traced(self, query: Query, trace: Trace, stream: AnswerStream | None = None) -> Prediction:
        try:
            return await self._answer(query, trace, stream)
        except QueryFailed as exc:
            exc.usage, exc.trace = trace.usage(), _ordered(trace)
            raise

    async def _answer(self, query: Query, trace: Trace, stream: AnswerStream | None) -> Prediction:
        ctx = RunContext(runtime=self.runtime, trace=trace, seed=self.seed)
        last = replace(ctx, stream=stream) if stream and _writes_answer(self.layers[-1]) else ctx
        state = LayerState(conversation=to_conversation(query))
        for layer in self.layers:
            try:
                state = await _run_layer(layer, state, last if layer is self.layers[-1] else ctx)
            except QueryFailed as exc:
                if not state.candidates:
                    raise
                state = _best_remaining(state, layer, exc, trace)
                break
        if len(state.candidates) != 1:
            raise QueryFailed(f"the last layer left {len(state.candidates)} candidates instead of 1")
        return Prediction(
            response=state.candidates[0].text,
            usage=trace.usage(),
            trace=_ordered(trace),
            candidates=list(state.candidates),
        )

    def __call__(self, query: Query) -> Prediction:
        return run_sync(self.acall(query))

    async def astream(self, query: Query) -> AsyncGenerator[str | Prediction, None]:
        """The final answer's text deltas as they arrive, then exactly one Prediction whose `response` is
        their concatenation. Tokens stream when the last component writes the answer (a fuser or a single
        generator, one sample) and its backend can stream; otherwise the answer comes as one delta.
        Closing the iterator early cancels the query and its pending LM calls."""
        deltas: asyncio.Queue[str | None] = asyncio.Queue()
        stream = AnswerStream(deltas.put_nowait)
        task = asyncio.ensure_future(self.acall(query, stream=stream))
        task.add_done_callback(lambda _: deltas.put_nowait(None))
        try:
            while (delta := await deltas.get()) is not None:
                yield delta
            pred = task.result()
            try:
                rest = stream.finish(pred.response)
            except StreamBroken as exc:
                raise QueryFailed(str(exc)) from None
            if rest:
                yield rest
            yield pred
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    def stream(self, query: Query) -> Generator[str | Prediction, None, None]:
        """`astream` for synchronous code: deltas, then the Prediction; breaking off cancels the query."""
        items: queue.SimpleQueue[str | Prediction | BaseException | None] = queue.SimpleQueue()

        async def pump() -> None:
            try:
                async for item in self.astream(query):
                    items.put(item)
            except BaseException as exc:  # handed to the consumer's thread, which raises it
                items.put(exc)
                raise
            finally:
                items.put(None)

        future = asyncio.run_coroutine_threadsafe(pump(), _BACKGROUND.loop())
        try:
            while (item := items.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            future.cancel()

    async def abatch(self, queries: Sequence[Query], concurrency: int = 16) -> list[Prediction]:
        """One Prediction per query, in order, always: a query that fails for any reason (an unexpected
        exception included) yields `error` set, with the usage and trace of what it paid."""
        limit = asyncio.Semaphore(concurrency)

        async def one(q: Query) -> Prediction:
            trace = Trace()
            async with limit:
                try:
                    return await self._traced(q, trace)
                except Exception as exc:  # noqa: BLE001 - one bad query must not lose the others' answers
                    return Prediction(
                        response="", error=_describe(exc), usage=trace.usage(), trace=_ordered(trace)
                    )

        return list(await asyncio.gather(*(one(q) for q in queries)))

    def batch(self, queries: Sequence[Query], concurrency: int = 16) -> list[Prediction]:
        return run_sync(self.abatch(queries, concurrency))


def _writes_answer(layer: list[Component[Any]]) -> bool:
    return len(layer) == 1 and layer[0].writes_answer()


def _ordered(trace: Trace) -> list[CallRecord]:
    return sorted(trace.records, key=lambda r: (r.component, r.sample, r.attempt, r.error or ""))


def _best_remaining(
    state: LayerState, layer: list[Component[Any]], exc: QueryFailed, trace: Trace
) -> LayerState:
    """A later layer failed after its retries: answer with the best candidate earlier layers left (the
    first: ranked order when a ranker or voter ran), and say so in the trace."""
    best = state.candidates[0]
    trace.record(
        CallRecord(
            component=layer[0].node_id.split(".")[0],
            model="-",
            fallback=f"{exc}; answered with the best remaining candidate ({best.origin})",
            lm_call=False,
        )
    )
    return state.model_copy(update={"candidates": (best,)})


def _describe(exc: Exception) -> str:
    if isinstance(exc, ArchonError):
        return str(exc)
    return redact(f"unexpected error: {type(exc).__name__}: {exc}")


def _build_layer(li: int, layer: Sequence[Any]) -> list[Component[Any]]:
    return [
        component_class(c.type)(c, node_id(li, ci), offset)
        for ci, (c, offset) in enumerate(zip(layer, sample_offsets(layer), strict=True))
    ]


def sample_offsets(layer: Sequence[Any]) -> list[int]:
    """Each component's first sample index: components of one layer with the same model take disjoint
    ranges, so their samples differ while each hits the cache for the samples it shares with another
    architecture's."""
    used: dict[str, int] = {}
    offsets = []
    for c in layer:
        model = getattr(c, "model", None) or ""
        offsets.append(used.get(model, 0))
        used[model] = offsets[-1] + getattr(c, "samples", 1)
    return offsets


async def _run_layer(layer: list[Component[Any]], state: LayerState, ctx: RunContext) -> LayerState:
    if len(layer) == 1:
        return await layer[0].run(state, ctx)
    results = await asyncio.gather(*(c.run(state, ctx) for c in layer), return_exceptions=True)
    made = [r for r in results if isinstance(r, LayerState)]
    for r in results:
        if isinstance(r, BaseException) and not isinstance(r, QueryFailed):
            raise r
    if not made:
        errors = "; ".join(str(r) for r in results)
        raise QueryFailed(f"layer {layer[0].node_id.split('.')[0]}: every component failed: {errors}")
    return state.model_copy(update={"candidates": tuple(c for r in made for c in r.candidates)})


def retarget(spec: ArchitectureSpec, lm: str | None, api_base: str | None) -> ArchitectureSpec:
    """The same architecture with every model (and/or endpoint) replaced."""
    replaced = {k: v for k, v in (("model", lm), ("api_base", api_base)) if v}
    return spec.with_lms(lambda model, base: replaced, "retargeted (lm=, api_base=)")


def with_endpoints(spec: ArchitectureSpec, api_bases: Mapping[str, str]) -> ArchitectureSpec:
    """The same architecture with `api_base` set on every component whose model is in `api_bases`."""
    if not api_bases:
        return spec
    return spec.with_lms(
        lambda model, base: {"api_base": api_bases[model]} if model in api_bases else {},
        "with the api_bases given",
    )


def _make_cache(cache: Cache | str | Path | bool) -> Cache | None:
    if cache is False:
        return None
    if cache is True:
        return Cache(default_cache_path())
    if isinstance(cache, Cache):
        return cache
    return Cache(cache)


class _BackgroundLoop:
    """One event loop in a daemon thread serves every synchronous call, so async clients (LiteLLM's
    httpx pools) stay bound to a single live loop, and sync calls work inside a running loop too."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        # A forked child inherits the loop object but not its thread: start afresh there, or it hangs.
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._loop = None
        self._lock = threading.Lock()

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                threading.Thread(
                    target=self._loop.run_forever, name="archon-compile-loop", daemon=True
                ).start()
            return self._loop


_BACKGROUND = _BackgroundLoop()


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run_coroutine_threadsafe(coro, _BACKGROUND.loop()).result()


def synchronous(fn: Callable[P, Coroutine[Any, Any, T]], name: str, doc: str) -> Callable[P, T]:
    """The synchronous twin `name` of an async function, with the same parameters (one signature to
    maintain, not two), run on the background loop (so it works inside a running event loop too)."""

    @wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        return run_sync(fn(*args, **kwargs))

    run.__name__ = run.__qualname__ = name
    run.__doc__ = doc
    return run
