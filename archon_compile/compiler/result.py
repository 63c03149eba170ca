"""What a compile returns: the frozen best program and a typed report (dev and held-out scores with
bootstrap CIs, cost per query, the Pareto front, the trial table, counts of calls sent vs naive)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from archon_compile.artifact import freeze, write
from archon_compile.compiler.marks import Mark
from archon_compile.compiler.power import PowerRanking
from archon_compile.compiler.verdict import Selection, Verdict
from archon_compile.program import Program


class TrialRow(BaseModel):
    """One trial as the report shows it. `mark` says why it was skipped, stopped or failed; `note` is
    that reason (or a rerun's origin) in words."""

    number: int
    state: str
    params: dict[str, Any]
    value: float | None = None
    dev_quality: float | None = None
    dev_items: int = 0
    cost: float | None = None
    calls_per_query: int | None = None
    tokens: dict[str, int] | None = Field(None, description="upper bound of input/output tokens per query")
    calls: int = Field(0, description="LM calls this trial sent (cache hits excluded)")
    cache_hits: int = 0
    usd: float = 0.0
    naive_calls: int = Field(0, description="calls_per_query x queries evaluated: the cost without a cache")
    program_errors: int = Field(0, description="dev items whose program failed (scored 0)")
    judge_errors: int = Field(0, description="dev items the judge failed to score (left out of the mean)")
    scores: list[float | None] = Field(
        default_factory=list, description="per dev item, in dev order; None: the judge failed"
    )
    mark: Mark | None = None
    note: str | None = None
    on_front: bool = False

    @property
    def candidate(self) -> bool:
        """Evaluated on every dev item and not marked: a possible winner."""
        return self.state == "COMPLETE" and self.mark is None


class HeldOut(BaseModel):
    """A program's score on the held-out split, with a bootstrap 95% confidence interval."""

    name: str
    quality: float
    ci_low: float
    ci_high: float
    items: int
    calls_per_query: int
    usd_per_query: float | None = Field(
        None, description="measured on held-out calls not served by the cache"
    )
    program_errors: int = 0
    judge_errors: int = Field(0, description="held-out items the judge could not score (not in the mean)")


class Timings(BaseModel):
    """Wall-clock seconds of each step of this run (a resumed study's earlier runs are not included)."""

    probe_s: float = 0.0
    power_ranking_s: float = 0.0
    search_s: float = 0.0
    heldout_s: float = 0.0


class Counts(BaseModel):
    """LM calls actually sent vs what the same search would send with no cache and no early stopping."""

    ranking_calls: int = 0
    search_calls: int = 0
    heldout_calls: int = 0
    naive_search_calls: int = 0
    trials_evaluated: int = 0
    trials_pruned: int = 0
    trials_skipped: int = 0
    trials_failed: int = Field(0, description="trials stopped by the error budget (never a winner)")
    program_errors: int = Field(0, description="dev items of all trials whose program failed")
    judge_errors: int = Field(0, description="dev items of all trials the judge could not score")


class Report(BaseModel):
    task: str
    models: list[str]
    study: str
    storage: str
    seed: int
    objective: dict[str, Any]
    budget: dict[str, Any]
    space: dict[str, Any]
    space_size: dict[str, int]
    dev_items: int
    heldout_items: int
    power_ranking: PowerRanking
    best_trial: TrialRow = Field(description="the best trial by the objective (its dev mean)")
    selection: Selection | None = Field(None, description="how the emitted program was chosen on dev")
    best_spec: dict[str, Any] = Field(description="the emitted architecture")
    winner: HeldOut | None
    best_single: HeldOut | None
    verdict: Verdict | None = None
    trials: list[TrialRow]
    stop_reason: str | None = None
    counts: Counts
    timings: Timings = Field(default_factory=Timings)

    @property
    def chosen_trial(self) -> int | None:
        """The emitted trial, or None when the best single model is emitted."""
        return self.selection.chosen_trial if self.selection else self.best_trial.number

    def verdict_sentence(self) -> str:
        if self.verdict is not None:
            return self.verdict.sentence()
        return "Verdict: none (no held-out items were scored by both the winner and the best single model)."

    @property
    def front(self) -> list[TrialRow]:
        return sorted((t for t in self.trials if t.on_front), key=lambda t: t.cost or 0.0)

    def summary(self) -> str:
        lines = [
            f"best trial #{self.best_trial.number}: dev {self.best_trial.dev_quality:.3f}, "
            f"{self.best_trial.calls_per_query} calls/query"
        ]
        if self.selection is not None:
            lines.append(f"selection: {self.selection.sentence()}")
        for h in (self.winner, self.best_single):
            if h is not None:
                lines.append(
                    f"held-out {h.name}: {h.quality:.3f} (95% CI {h.ci_low:.3f}-{h.ci_high:.3f}, n={h.items})"
                )
        c = self.counts
        lines.append(
            f"LM calls sent by the search {c.search_calls} vs {c.naive_search_calls} naive; "
            f"{c.trials_evaluated} trials evaluated, {c.trials_pruned} stopped early, "
            f"{c.trials_skipped} skipped, {c.trials_failed} failed; errors on dev items: "
            f"{c.program_errors} program, {c.judge_errors} judge"
        )
        lines.append(self.verdict_sentence())
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


class CompileOutput(BaseModel):
    """What `compile --json` prints: where the artifact and the report went, the verdict, the report."""

    artifact: str
    report_md: str
    verdict: str
    report: Report


class CompileResult:
    """The compiled program (the best architecture, frozen) and its report."""

    def __init__(self, program: Program, report: Report, search: dict[str, Any]) -> None:
        self.program = program
        self.report = report
        self.search = search

    @property
    def verdict(self) -> Verdict | None:
        """The held-out verdict: winner vs the best single model (None without held-out items)."""
        return self.report.verdict

    def save(self, path: str | Path) -> Path:
        """Write the artifact to `path` and the report folder beside it (`<stem>.report/`)."""
        from archon_compile.compiler.report import write_report

        artifact = write(freeze(self.program.spec, search=self.search), path)
        write_report(self.report, report_dir(artifact))
        return artifact


def report_dir(artifact: Path) -> Path:
    return artifact.with_name(f"{artifact.stem}.report")
