"""The compile's progress display (rich): trials done, best dev quality so far, LM calls, errors. Rich
renders it in a terminal and in a Jupyter notebook alike; `ac.compile(progress=False)` silences it."""

from __future__ import annotations

from types import TracebackType

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from archon_compile.compiler.events import TrialEvent
from archon_compile.compiler.marks import MarkKind


class ProgressBar:
    """A rich progress bar fed by the compiler's per-trial events; a context manager."""

    def __init__(self, total: int) -> None:
        self.bar = Progress(
            TextColumn("trials"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            transient=False,
        )
        self.task = self.bar.add_task("probing endpoints, power ranking...", total=total)

    def __enter__(self) -> ProgressBar:
        self.bar.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.bar.__exit__(None, None, None)

    def __call__(self, event: TrialEvent) -> None:
        self.bar.update(self.task, completed=event.finished, description=describe(event))


def describe(event: TrialEvent) -> str:
    """One line: best so far, calls, errors, then what the last trial did."""
    best = f"best {event.best_quality:.3f}" if event.best_quality is not None else "best -"
    errors = (
        f" errors {event.program_errors}p/{event.judge_errors}j"
        if event.program_errors or event.judge_errors
        else ""
    )
    skipped = event.mark is not None and event.mark.kind in (MarkKind.SKIPPED, MarkKind.REPEAT)
    quality = f" dev {event.dev_quality:.3f}" if event.dev_quality is not None else ""
    last = f"#{event.number} {'' if skipped else event.state.lower()}{quality} {event.note or ''}"
    return f"{best} | {event.calls} calls{errors} | {last}"[:110]
