"""Evaluating a program on a task: concurrent items, a crash-safe JSONL log with resume, a bootstrap CI.

    report = ac.evaluate(program, ac.tasks.get("mt_bench"), judge="openai/gpt-4o", out="mt.jsonl")

Every finished item is appended to `out` as one JSON line and flushed at once, so a killed run loses only
the items in flight; running again with the same `out` skips the items already recorded (delete a line
to redo its item). The report covers exactly the selected items, resumed ones included.

Which items count in the mean: a program failure counts 0 (the program's fault); an item whose judge
verdict could not be had (call failed, verdict unparseable) is left out of the mean and counted in
`judge_errors`, since it says nothing about the program.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field, ValidationError

from archon_compile.lm.resolve import Backends
from archon_compile.program import Program, run_sync
from archon_compile.runtime.calls import Runtime
from archon_compile.runtime.trace import Usage
from archon_compile.tasks.base import Item, ItemResult, Judge, Score, Task

Split = Literal["all", "dev", "heldout"]
BOOTSTRAP_RESAMPLES = 2000


class EvalRecord(BaseModel):
    """One line of the results JSONL: an item's query, the program's answers, its score and costs."""

    task: str
    program: str
    item_id: str
    turns: list[str]
    answers: list[str]
    score: Score | None = None
    usage: Usage = Field(default_factory=Usage)
    error: str | None = Field(None, description="the program failed on this item (counted as 0)")
    elapsed_s: float = 0.0

    def value(self) -> float | None:
        """The item's value in the mean, or None when the judge failed (left out of the mean)."""
        if self.error is not None:
            return 0.0
        if self.score is None or self.score.error is not None:
            return None
        return self.score.value

    def result(self) -> ItemResult:
        return ItemResult(
            item_id=self.item_id,
            query=self.turns[0],
            answers=self.answers,
            score=self.score,
            usage=self.usage,
            error=self.error,
        )


class CostSummary(BaseModel):
    """Totals over the evaluated items and the same per query; cost None when some call's cost is unknown."""

    calls: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = 0.0
    calls_per_query: float = 0.0
    cost_per_query_usd: float | None = 0.0

    @classmethod
    def of(cls, usages: Sequence[Usage]) -> CostSummary:
        total = Usage()
        for u in usages:
            total = total + u
        n = max(1, len(usages))
        cost = total.cost_usd if total.cost_known else None
        return cls(
            calls=total.calls,
            cache_hits=total.cache_hits,
            prompt_tokens=total.prompt_tokens,
            completion_tokens=total.completion_tokens,
            cost_usd=cost,
            calls_per_query=total.calls / n,
            cost_per_query_usd=None if cost is None else cost / n,
        )


class EvalReport(BaseModel):
    """The summary of one evaluation. `mean` and the CI are over `scored` items (see the module doc)."""

    task: str
    program: str
    split: Split
    n: int = Field(description="items evaluated (resumed ones included)")
    scored: int = Field(description="items in the mean: all but those whose judge failed")
    mean: float | None
    ci_low: float | None = Field(description="bootstrap 95% CI, seeded")
    ci_high: float | None
    errors: int = Field(description="items the program failed on (scored 0)")
    judge_errors: int = Field(description="items left out of the mean because the judge failed")
    resumed: int = Field(description="items read back from `out` instead of being run")
    program_usage: CostSummary
    judge_usage: CostSummary
    metrics: dict[str, float] = Field(default_factory=dict, description="task-specific summaries")
    out: str | None = None
    elapsed_s: float = 0.0


def select_items(task: Task, split: Split, seed: int, limit: int | None) -> list[Item]:
    """The items of `split` (the task's seeded 20/80 dev/held-out split), the first `limit` of them."""
    if split == "all":
        chosen = task.items()
    else:
        dev, heldout = task.split(seed)
        chosen = dev if split == "dev" else heldout
    return list(chosen[:limit] if limit is not None else chosen)


def make_judge(
    judge: str | Judge | None, api_base: str | None, program: Program, concurrency: int
) -> Judge | None:
    """A judge model string becomes a Judge sharing the program's cache and retry policy, with its own
    backends and concurrency limit (so judge calls never queue behind the program's)."""
    if judge is None or isinstance(judge, Judge):
        return judge
    runtime = Runtime(Backends(), program.runtime.cache, program.runtime.policy, concurrency)
    return Judge(model=judge, runtime=runtime, api_base=api_base)


def read_records(out: Path, task: str, program: str) -> dict[str, EvalRecord]:
    """The records already in `out` (the last per item). A line cut short by a kill is skipped (its item
    runs again); a record of another task or program is an error, since mixing them would be wrong."""
    done: dict[str, EvalRecord] = {}
    if not out.exists():
        return done
    with out.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rec = EvalRecord.model_validate_json(line)
            except ValidationError:
                continue
            if rec.task != task or rec.program != program:
                raise ValueError(
                    f"{out}: line {lineno} holds a result of task {rec.task!r} / program "
                    f"{rec.program!r}, not {task!r} / {program!r}; pass another --out file"
                )
            done[rec.item_id] = rec
    return done


class _Log:
    """Appends one flushed JSON line per record; starts on a fresh line after a line cut short by a kill."""

    def __init__(self, path: Path | None) -> None:
        self.fh = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            torn = path.exists() and path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
            self.fh = path.open("a", encoding="utf-8")
            if torn:
                self.fh.write("\n")

    def write(self, rec: EvalRecord) -> None:
        if self.fh is not None:
            self.fh.write(rec.model_dump_json() + "\n")
            self.fh.flush()

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()


def bootstrap_ci(
    values: Sequence[float], seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES
) -> tuple[float | None, float | None]:
    """A percentile bootstrap 95% CI of the mean (seeded, so a report is reproducible)."""
    if not values:
        return None, None
    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, len(data), size=(resamples, len(data)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


async def _run_one(program: Program, task: Task, item: Item, judge: Judge | None) -> EvalRecord:
    start = time.perf_counter()
    try:
        result = await task.run_item(program, item, judge)
    except Exception as exc:  # one item's unexpected failure is recorded, not a lost evaluation
        result = ItemResult(
            item_id=item.id, query=item.turns[0], answers=[], error=f"{type(exc).__name__}: {exc}"
        )
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


async def aevaluate(
    program: Program,
    task: Task,
    *,
    items: Sequence[Item] | None = None,
    split: Split = "all",
    seed: int = 0,
    judge: str | Judge | None = None,
    judge_api_base: str | None = None,
    limit: int | None = None,
    concurrency: int = 8,
    out: str | Path | None = None,
    progress: bool = True,
) -> EvalReport:
    """Evaluate `program` on `task` (see the module doc); `judge` is a model string or a `Judge`."""
    if task.needs_judge and judge is None:
        raise ValueError(f"task {task.name!r} needs a judge model: pass judge=... (--judge MODEL)")
    start = time.perf_counter()
    chosen = list(items)[:limit] if items is not None else select_items(task, split, seed, limit)
    out_path = Path(out) if out is not None else None
    done = read_records(out_path, task.name, program.name) if out_path else {}
    resumed = {i.id: done[i.id] for i in chosen if i.id in done}
    todo = [i for i in chosen if i.id not in resumed]
    the_judge = make_judge(judge, judge_api_base, program, max(8, concurrency * 2))
    limit_items = asyncio.Semaphore(max(1, concurrency))
    log = _Log(out_path)
    records = dict(resumed)

    async def one(item: Item, advance: Callable[[], None]) -> None:
        async with limit_items:
            rec = await _run_one(program, task, item, the_judge)
        log.write(rec)
        records[item.id] = rec
        advance()

    try:
        with _Progress(progress, f"{task.name} / {program.name}", len(chosen), len(resumed)) as advance:
            await asyncio.gather(*(one(i, advance) for i in todo))
    finally:
        log.close()
    ordered = [records[i.id] for i in chosen]
    return _report(
        task,
        program.name,
        split if items is None else "all",
        ordered,
        {i.id: i for i in chosen},
        len(resumed),
        seed,
        out_path,
        time.perf_counter() - start,
    )


def evaluate(
    program: Program,
    task: Task,
    *,
    items: Sequence[Item] | None = None,
    split: Split = "all",
    seed: int = 0,
    judge: str | Judge | None = None,
    judge_api_base: str | None = None,
    limit: int | None = None,
    concurrency: int = 8,
    out: str | Path | None = None,
    progress: bool = True,
) -> EvalReport:
    """The synchronous `aevaluate` (safe to call from inside a running event loop too)."""
    return run_sync(
        aevaluate(
            program,
            task,
            items=items,
            split=split,
            seed=seed,
            judge=judge,
            judge_api_base=judge_api_base,
            limit=limit,
            concurrency=concurrency,
            out=out,
            progress=progress,
        )
    )


def _report(
    task: Task,
    program: str,
    split: Split,
    records: list[EvalRecord],
    items: dict[str, Item],
    resumed: int,
    seed: int,
    out: Path | None,
    elapsed_s: float,
) -> EvalReport:
    values = [v for v in (r.value() for r in records) if v is not None]
    low, high = bootstrap_ci(values, seed)
    summarise = getattr(task.metric, "summarise", None)
    metrics = summarise([r.result() for r in records], items) if summarise else {}
    return EvalReport(
        task=task.name,
        program=program,
        split=split,
        n=len(records),
        scored=len(values),
        mean=sum(values) / len(values) if values else None,
        ci_low=low,
        ci_high=high,
        errors=sum(r.error is not None for r in records),
        judge_errors=sum(r.value() is None for r in records),
        resumed=resumed,
        program_usage=CostSummary.of([r.usage for r in records]),
        judge_usage=CostSummary.of([r.score.judge_usage if r.score else Usage() for r in records]),
        metrics=metrics,
        out=str(out) if out else None,
        elapsed_s=elapsed_s,
    )


class _Progress:
    """A rich progress bar on stderr (or nothing); yields the function that advances it by one item."""

    def __init__(self, enabled: bool, label: str, total: int, completed: int) -> None:
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
            self.task_id = self.bar.add_task(label, total=total, completed=completed)

    def __enter__(self) -> Callable[[], None]:
        if self.bar is None:
            return lambda: None
        self.bar.start()
        bar, task_id = self.bar, self.task_id
        return lambda: bar.advance(task_id)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


__all__ = ["CostSummary", "EvalRecord", "EvalReport", "aevaluate", "bootstrap_ci", "evaluate", "select_items"]
