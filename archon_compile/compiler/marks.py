"""What the driver records on a trial, typed: its architecture, its dev evaluation so far, and its mark
(why it was skipped, repeated, stopped or failed). Optuna stores them as JSON user attributes; the
compiler reads them back only through these models, so no meaning hides in a string.
"""

from __future__ import annotations

import warnings
from enum import StrEnum
from typing import Any

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState
from pydantic import BaseModel, model_validator

from archon_compile.compiler.budget import TokenEstimate
from archon_compile.runtime.trace import Usage

ARCH = "arch"
EVAL = "eval"
MARK = "mark"
WORKER = "worker"
DONE = (TrialState.COMPLETE, TrialState.PRUNED)


class MarkKind(StrEnum):
    """Why a trial did not end as a plain complete trial."""

    SKIPPED = "skipped"  # invalid or over the per-query budget: no call sent, not counted
    REPEAT = "repeat"  # an evaluated architecture again: no call sent, not counted, told FAIL
    STOPPED = "stopped"  # stopped after a dev minibatch (pruned): counted
    FAILED = "failed"  # its errors exceeded the error budget: counted, never a winner
    SURPLUS = "surplus"  # asked after the last slot or the budget: never run, not counted


class Mark(BaseModel):
    kind: MarkKind
    reason: str
    same_as: int | None = None
    error: str | None = None  # FAILED: the first error of the trial

    @property
    def counted(self) -> bool:
        """Whether the trial takes one of the `trials` slots."""
        return self.kind in (MarkKind.STOPPED, MarkKind.FAILED)

    def note(self) -> str:
        return f"skipped: {self.reason}" if self.kind in (MarkKind.SKIPPED, MarkKind.REPEAT) else self.reason


class ArchAttrs(BaseModel):
    """A trial's architecture, written before any call."""

    spec: dict[str, Any]
    spec_hash: str
    cost: float
    calls_per_query: int
    tokens: TokenEstimate


class EvalAttrs(BaseModel):
    """A trial's dev evaluation so far, rewritten after every minibatch. `scores` are per item in dev
    order (the paired pruner reads them)."""

    dev_quality: float = 0.0
    dev_items: int = 0
    dev_curve: list[tuple[int, float]] = []
    usage: Usage = Usage()
    naive_calls: int = 0
    scores: list[float | None] = []
    program_errors: int = 0
    judge_errors: int = 0
    first_error: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _legacy_counts(cls, data: Any) -> Any:
        """A study written before `usage` held `calls`, `cache_hits` and `usd` at the top: read on."""
        if isinstance(data, dict) and "usage" not in data and {"calls", "cache_hits", "usd"} & data.keys():
            data = dict(data)
            counts = {"calls": data.pop("calls", 0), "cache_hits": data.pop("cache_hits", 0)}
            data["usage"] = counts | {"cost_usd": data.pop("usd", 0.0)}
        return data


def arch_of(t: FrozenTrial) -> ArchAttrs | None:
    return ArchAttrs.model_validate(t.user_attrs[ARCH]) if ARCH in t.user_attrs else None


def eval_of(t: FrozenTrial) -> EvalAttrs | None:
    return EvalAttrs.model_validate(t.user_attrs[EVAL]) if EVAL in t.user_attrs else None


def mark_of(t: FrozenTrial) -> Mark | None:
    return Mark.model_validate(t.user_attrs[MARK]) if MARK in t.user_attrs else None


def set_mark(trial: optuna.Trial, mark: Mark) -> None:
    trial.set_user_attr(MARK, mark.model_dump(mode="json"))


def counted(t: FrozenTrial) -> bool:
    """Whether `t` takes a slot: marked stopped or failed, or unmarked and not failed (a failed unmarked
    trial is a dead worker's, rerun by another trial)."""
    mark = mark_of(t)
    return mark.counted if mark is not None else t.state != TrialState.FAIL


def retried_from(t: FrozenTrial) -> int | None:
    """The trial whose dead worker this one reruns (Optuna's retry callback records it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return RetryHeartbeatStaleTrialCallback.retried_trial_number(t)


def note(t: FrozenTrial) -> str | None:
    """The report's one-line reason for a trial's state."""
    mark = mark_of(t)
    if mark is not None:
        return mark.note()
    origin = retried_from(t)
    return f"rerun of trial {origin} (its worker died)" if origin is not None else None
