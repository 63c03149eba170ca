"""The one code path that answers and scores items: `ac.evaluate`, the compiler's dev trials (minibatch
by minibatch) and its held-out evaluation all call `score_items`, so the same item gets the same record
everywhere (rules: `evaluation/records.py`).

An item is answered turn by turn (each turn sees the program's own earlier answers), then scored by the
task's metric (`Task.run_item`). Nothing an item does can end the evaluation: any exception while
answering is that item's program error (with what the failed query paid), any exception while scoring
is its judge error.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence

from archon_compile.evaluation.records import EvalRecord
from archon_compile.program import Program, run_sync
from archon_compile.tasks.base import Item, ItemResult, Judge, Task, describe_failure


async def score_item(task: Task, program: Program, item: Item, judge: Judge | None) -> EvalRecord:
    """`item`'s record: answered and scored by `Task.run_item`, which never raises for the item's own
    failures (and should it anyway, the exception is still this item's program error)."""
    start = time.perf_counter()
    try:
        result = await task.run_item(program, item, judge)
    except Exception as exc:  # a Task subclass that broke the contract still loses only this item
        result = ItemResult(item_id=item.id, query=item.turns[0], answers=[], error=describe_failure(exc))
    return EvalRecord(
        task=task.name,
        program=program.name,
        item_id=item.id,
        turns=item.turns,
        answers=result.answers,
        score=result.score,
        usage=result.usage,
        error=result.error,
        elapsed_s=time.perf_counter() - start,
    )


async def score_items(
    task: Task,
    program: Program,
    items: Sequence[Item],
    judge: Judge | None,
    *,
    concurrency: int | None = None,
    on_record: Callable[[EvalRecord], None] | None = None,
) -> list[EvalRecord]:
    """Records of `items`, in their order. At most `concurrency` items run at once (None: all, bounded
    only by the program's LM concurrency); `on_record` sees each record as soon as it is done."""
    limit = asyncio.Semaphore(concurrency) if concurrency else None

    async def one(item: Item) -> EvalRecord:
        async with limit or contextlib.nullcontext():
            record = await score_item(task, program, item, judge)
        if on_record is not None:
            on_record(record)
        return record

    return list(await asyncio.gather(*(one(item) for item in items)))


def run_items(task: Task, program: Program, items: Sequence[Item], judge: Judge | None) -> list[EvalRecord]:
    """`score_items` from synchronous code (the compiler's trials)."""
    return run_sync(score_items(task, program, items, judge))
