"""The task interface: items, how an item becomes a conversation, and a metric.

A Metric scores the program's answers to one item (one answer per user turn). Judge-based metrics get a
`Judge` (an LM runtime of their own, so the judge's cost is reported apart from the program's).
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

from pydantic import BaseModel, Field, ValidationError

from archon_compile.components.base import QueryFailed
from archon_compile.lm.base import Message
from archon_compile.lm.redact import redact
from archon_compile.program import Prediction, Program
from archon_compile.runtime.calls import Runtime
from archon_compile.runtime.trace import Usage
from archon_compile.tasks.data import DataError


class Item(BaseModel):
    """One example. `turns` are the user messages (several for multi-turn tasks)."""

    id: str
    turns: list[str] = Field(min_length=1)
    reference: Any = None
    meta: dict[str, Any] = Field(default_factory=dict)


class Score(BaseModel):
    """A metric's verdict on one item. `value` is in [0, 1] unless the metric documents otherwise."""

    value: float
    verdict: str | None = None
    explanation: str | None = None
    error: str | None = None
    judge_usage: Usage = Field(default_factory=Usage)


@dataclass(frozen=True)
class Judge:
    """A judge model and the runtime (cache, retries, concurrency) its calls go through."""

    model: str
    runtime: Runtime
    api_base: str | None = None


class Metric(Protocol):
    name: str

    async def score(self, item: Item, answers: list[str], judge: Judge | None) -> Score: ...


class FunctionMetric:
    """A plain function `(item, answer) -> bool | float` (sync or async) as a Metric; the last answer is
    scored."""

    def __init__(self, fn: Callable[[Item, str], Any], name: str | None = None) -> None:
        self.fn = fn
        self.name: str = name or str(getattr(fn, "__name__", "metric"))

    async def score(self, item: Item, answers: list[str], judge: Judge | None) -> Score:
        value = self.fn(item, answers[-1] if answers else "")
        if inspect.isawaitable(value):
            value = await value
        return Score(value=float(value))


class ItemResult(BaseModel):
    """One item's run: the answers per turn, the score, what the program and the judge cost."""

    item_id: str
    query: str
    answers: list[str]
    score: Score | None = None
    usage: Usage = Field(default_factory=Usage)
    error: str | None = None


class Task:
    """A dataset, a way to turn an item into a conversation, and a metric.

    `items` is a list or a zero-argument loader (called once, lazily, so listing tasks loads nothing).
    """

    def __init__(
        self,
        name: str,
        items: Sequence[Item] | Callable[[], Sequence[Item]],
        metric: Metric | Callable[[Item, str], Any],
        *,
        description: str = "",
        source: str = "",
        system_prompt: str | None = None,
        needs_judge: bool = False,
        size: int | None = None,
        answers_are_code: bool = False,
    ) -> None:
        self.name = name
        self._items = items
        self._loaded: list[Item] | None = None
        if hasattr(metric, "score"):
            self.metric: Metric = cast(Metric, metric)
        else:
            self.metric = FunctionMetric(cast(Callable[[Item, str], Any], metric))
        self.description = description
        self.source = source
        self.system_prompt = system_prompt
        self.needs_judge = needs_judge
        self.size = size
        self.answers_are_code = answers_are_code  # the compiler may then execute unit tests in the sandbox

    def items(self) -> list[Item]:
        if self._loaded is None:
            raw = self._items() if callable(self._items) else self._items
            self._loaded = [i if isinstance(i, Item) else self._item(n, i) for n, i in enumerate(raw, 1)]
        return self._loaded

    def _item(self, number: int, raw: object) -> Item:
        try:
            return Item.model_validate(raw)
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(p) for p in problem["loc"]) or "item"
            raise DataError(
                f"task {self.name!r}: item {number}: {where}: {problem['msg']} (an item is "
                "{'id': str, 'turns': [str, ...], 'reference': ..., 'meta': {...}})"
            ) from None

    def split(
        self,
        seed: int = 0,
        dev_fraction: float = 0.2,
        dev_size: int | None = None,
        heldout_size: int | None = None,
    ) -> tuple[list[Item], list[Item]]:
        """A seeded dev / held-out split (default 20% / 80%)."""
        items = list(self.items())
        random.Random(seed).shuffle(items)
        n_dev = dev_size if dev_size is not None else max(1, round(len(items) * dev_fraction))
        dev, rest = items[:n_dev], items[n_dev:]
        return dev, rest[:heldout_size] if heldout_size is not None else rest

    def conversation(self, item: Item, answers: Sequence[str]) -> list[Message]:
        """The conversation for the next turn: earlier turns carry the program's own earlier answers."""
        msgs = [Message(role="system", content=self.system_prompt)] if self.system_prompt else []
        for turn, answer in zip(item.turns, answers, strict=False):
            msgs += [Message(role="user", content=turn), Message(role="assistant", content=answer)]
        msgs.append(Message(role="user", content=item.turns[len(answers)]))
        return msgs

    async def run_item(self, program: Program, item: Item, judge: Judge | None = None) -> ItemResult:
        """Answer every turn (each seeing the program's own earlier answers), then score. Never raises for
        the item's own failures: any exception while answering is the result's `error` (no score; what
        the failed query paid is kept in `usage`), any exception while scoring is the score's `error`."""
        answers: list[str] = []
        usage = Usage()
        try:
            for _ in item.turns:
                pred: Prediction = await program.acall(self.conversation(item, answers))
                answers.append(pred.response)
                usage = usage + pred.usage
        except Exception as exc:  # one item's failure, whatever it is, is that item's error
            return ItemResult(
                item_id=item.id,
                query=item.turns[0],
                answers=answers,
                usage=usage + _paid(exc),
                error=describe_failure(exc),
            )
        try:
            score = await self.metric.score(item, answers, judge)
        except Exception as exc:  # a metric that crashed could not score the item: not the program's 0
            score = Score(value=0.0, error=f"the metric failed: {describe_failure(exc)}")
        return ItemResult(item_id=item.id, query=item.turns[0], answers=answers, score=score, usage=usage)


def _paid(exc: BaseException) -> Usage:
    """What a failed query paid before it failed (`QueryFailed.usage`, filled by `Program.acall`)."""
    return exc.usage if isinstance(exc, QueryFailed) else Usage()


def describe_failure(exc: BaseException) -> str:
    """An exception as one line without credentials (an unexpected error may quote anything)."""
    return redact(f"{type(exc).__name__}: {exc}")
