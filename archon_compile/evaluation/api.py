"""`ac.evaluate` / `ac.aevaluate`: a program on a task's items, with a results log and a summary.

    report = ac.evaluate(program, ac.tasks.get("mt_bench"), judge="openai/gpt-4o", out="mt.jsonl")

Items run concurrently through the engine (`evaluation/engine.py`, the compiler's too); `out` is the
resumable JSONL of `evaluation/log.py` (a rerun skips items recorded without an error, and runs errored
ones again). The report covers exactly the selected items, resumed ones included.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from archon_compile.evaluation.engine import score_items
from archon_compile.evaluation.judge import make_judge
from archon_compile.evaluation.log import ResultsLog, read_records
from archon_compile.evaluation.records import EvalRecord, Summary, summarise
from archon_compile.program import Program, synchronous
from archon_compile.tasks.base import Item, Judge, Task

Split = Literal["all", "dev", "heldout"]


class EvalReport(Summary):
    """The summary of one evaluation (rules: `evaluation/records.py`) and where it came from."""

    task: str
    program: str
    split: Split
    seed: int = Field(description="seed of the split and of the bootstrap")
    resumed: int = Field(description="items read back from `out` instead of being run")
    metrics: dict[str, float] = Field(default_factory=dict, description="task-specific summaries")
    out: str | None = None
    elapsed_s: float = 0.0


class CompiledSplit(BaseModel):
    """The dev/held-out split a compile used, as its artifact records it (`provenance.search`)."""

    task: str
    split_seed: int
    dev_items: int
    heldout_items: int

    @classmethod
    def of(cls, program: Program, task: Task) -> CompiledSplit | None:
        """The split of the compile that made `program`, if it was compiled for `task`."""
        try:
            split = cls.model_validate(program.provenance.get("search") or {})
        except ValidationError:
            return None
        return split if split.task == task.name else None


def select_items(
    task: Task, split: Split, seed: int, limit: int | None, compiled: CompiledSplit | None = None
) -> list[Item]:
    """The items of `split`, the first `limit` of them: the compile's own split when `compiled` is given,
    else the task's seeded 20/80 dev/held-out split."""
    if split == "all":
        chosen = task.items()
    elif compiled is not None:
        dev, heldout = task.split(
            compiled.split_seed, dev_size=compiled.dev_items, heldout_size=compiled.heldout_items
        )
        chosen = dev if split == "dev" else heldout
    else:
        dev, heldout = task.split(seed)
        chosen = dev if split == "dev" else heldout
    return list(chosen[:limit] if limit is not None else chosen)


async def aevaluate(
    program: Program,
    task: Task,
    *,
    items: Sequence[Item] | None = None,
    split: Split = "all",
    seed: int | None = None,
    judge: str | Judge | None = None,
    judge_api_base: str | None = None,
    limit: int | None = None,
    concurrency: int = 8,
    out: str | Path | None = None,
    progress: bool = True,
) -> EvalReport:
    """Evaluate `program` on `task`: `items` (default: the `split`, first `limit`), `concurrency` items at
    once, one JSONL line per item in `out`; `judge` is a model string (on `judge_api_base`, sharing the
    program's cache and retry policy) or a `Judge`.

    `seed` seeds the split and the bootstrap CI. Left None for a program compiled for `task`, the split
    and the seed are the compile's (so `split="heldout"` reproduces its report); otherwise 0.
    """
    the_judge = make_judge(
        task,
        judge,
        api_base=judge_api_base,
        cache=program.runtime.cache,
        retry=program.runtime.policy,
        concurrency=max(8, concurrency * 2),
    )
    start = time.perf_counter()
    compiled = CompiledSplit.of(program, task) if seed is None else None
    used_seed = compiled.split_seed if compiled is not None else (seed or 0)
    chosen = (
        list(items)[:limit] if items is not None else select_items(task, split, used_seed, limit, compiled)
    )
    out_path = Path(out) if out is not None else None
    done = read_records(out_path, task.name, program.name) if out_path else {}
    records = {i.id: done[i.id] for i in chosen if i.id in done and not done[i.id].failed}
    resumed = len(records)
    todo = [i for i in chosen if i.id not in records]
    label = f"{task.name} / {program.name}"
    with ResultsLog(out_path) as log, _Progress(progress, label, chosen, resumed) as bar:

        def keep(rec: EvalRecord) -> None:
            log.write(rec)
            records[rec.item_id] = rec
            bar()

        await score_items(task, program, todo, the_judge, concurrency=max(1, concurrency), on_record=keep)
    ordered = [records[i.id] for i in chosen]
    extra = getattr(task.metric, "summarise", None)
    metrics = extra([r.result() for r in ordered], {i.id: i for i in chosen}) if extra else {}
    return EvalReport(
        **summarise(ordered, used_seed).model_dump(),
        task=task.name,
        program=program.name,
        split=split if items is None else "all",
        seed=used_seed,
        resumed=resumed,
        metrics=metrics,
        out=str(out_path) if out_path else None,
        elapsed_s=time.perf_counter() - start,
    )


evaluate = synchronous(
    aevaluate,
    "evaluate",
    "The synchronous `aevaluate` (same parameters; safe inside a running event loop too).",
)


class _Progress:
    """A rich progress bar on stderr (or nothing); yields the function that advances it by one item."""

    def __init__(self, enabled: bool, label: str, items: Sequence[Item], completed: int) -> None:
        self.bar = None
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self.task_id = self.bar.add_task(label, total=len(items), completed=completed)

    def __enter__(self) -> Callable[[], None]:
        if self.bar is None:
            return lambda: None
        self.bar.start()
        bar, task_id = self.bar, self.task_id
        return lambda: bar.advance(task_id)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
