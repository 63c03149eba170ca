"""What a compile tells its `progress` callback after each trial: the trial, the architecture it ran,
and the search so far. Built from the trials' typed records (`marks.py`), so a callback can follow a
search without reading the study.
"""

from __future__ import annotations

from collections.abc import Sequence

from optuna.trial import FrozenTrial, TrialState
from pydantic import BaseModel, Field

from archon_compile.compiler.marks import DONE, Mark, arch_of, counted, eval_of, mark_of, note
from archon_compile.spec import ArchitectureSpec


class TrialEvent(BaseModel):
    """Sent to `progress` after every trial this worker finishes."""

    number: int
    state: str
    dev_quality: float | None
    note: str | None
    mark: Mark | None = None
    architecture: ArchitectureSpec | None = Field(
        None, description="the architecture the trial ran (None when it ran none: skipped or a repeat)"
    )
    finished: int
    total: int
    best_quality: float | None = Field(None, description="the best dev quality of a complete trial so far")
    calls: int = Field(0, description="LM calls sent so far by the search (all workers)")
    program_errors: int = 0
    judge_errors: int = 0


def trial_event(t: FrozenTrial, everyone: Sequence[FrozenTrial], total: int, calls: int) -> TrialEvent:
    """The event of trial `t`, among `everyone` in the study (`t` included), `calls` sent so far."""
    done = [x for x in everyone if x.state in (*DONE, TrialState.FAIL) and counted(x)]
    evals = [e for x in everyone if (e := eval_of(x)) is not None]
    complete = [e.dev_quality for x in everyone if x.state == TrialState.COMPLETE and (e := eval_of(x))]
    ev, arch = eval_of(t), arch_of(t)
    return TrialEvent(
        number=t.number,
        state=t.state.name,
        dev_quality=ev.dev_quality if ev else None,
        note=note(t),
        mark=mark_of(t),
        architecture=ArchitectureSpec.model_validate(arch.spec) if arch is not None else None,
        finished=len(done),
        total=total,
        best_quality=max(complete, default=None),
        calls=calls,
        program_errors=sum(e.program_errors for e in evals),
        judge_errors=sum(e.judge_errors for e in evals),
    )
