"""The compile report: its typed data (held-out scores, counts, timings, the `Report`) and its folder:
report.md (readable without the tool), report.json, and two PNG plots drawn with matplotlib's Agg
backend (no display needed): the optimisation history and quality vs cost with the Pareto front."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from archon_compile.compiler.power import PowerRanking
from archon_compile.compiler.trials import TrialRow
from archon_compile.compiler.verdict import Selection, Verdict

HISTORY_PNG = "history.png"
PARETO_PNG = "pareto.png"
TOP_TRIALS = 15


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


def write_report(report: Report, folder: Path) -> Path:
    """Write report.md, report.json and the plots into `folder`; return the path of report.md."""
    folder.mkdir(parents=True, exist_ok=True)
    plot_history(report, folder / HISTORY_PNG)
    plot_pareto(report, folder / PARETO_PNG)
    (folder / "report.json").write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    path = folder / "report.md"
    path.write_text(markdown(report), encoding="utf-8")
    return path


def markdown(report: Report) -> str:
    b = report.best_trial
    c = report.counts
    saved = 1 - c.search_calls / c.naive_search_calls if c.naive_search_calls else 0.0
    lines = [
        f"# Compile report: {report.task}",
        "",
        f"Study `{report.study}` in `{report.storage}`, seed {report.seed}. Models: "
        + ", ".join(f"`{m}`" for m in report.models)
        + ".",
        f"Dev split {report.dev_items} items, held-out {report.heldout_items} items. Objective: "
        + _objective(report)
        + ".",
        f"Search space: {report.space_size['valid_architectures']:,} valid architectures "
        f"({report.space_size['combinations']:,} parameter combinations).",
    ]
    if report.budget:
        lines.append("Budget: " + ", ".join(f"{k} {v}" for k, v in report.budget.items()) + ".")
    if report.stop_reason:
        lines.append(f"The search stopped early: {report.stop_reason}.")
    lines += [
        "",
        "## Result",
        "",
        "| program | held-out quality | 95% CI | items | LM calls/query | $/query |",
        "|---|---|---|---|---|---|",
    ]
    lines += [_heldout_row(h) for h in (report.winner, report.best_single) if h is not None]
    if report.winner is None:
        lines.append("| (no held-out items) | | | | | |")
    lines += ["", f"**{report.verdict_sentence()}**", ""]
    if report.selection is not None:
        lines += [f"Selection on dev: {report.selection.sentence()}.", ""]
    t = report.timings
    lines += [
        f"Time: probe {t.probe_s:.1f} s, power ranking {t.power_ranking_s:.1f} s, search {t.search_s:.1f} s, "
        f"held-out {t.heldout_s:.1f} s.",
        "",
        f"Best trial #{b.number}: dev quality {b.dev_quality:.3f}, {b.calls_per_query} LM calls per "
        f"query, at most {(b.tokens or {}).get('input', 0):,} input and "
        f"{(b.tokens or {}).get('output', 0):,} output tokens per query.",
        "",
        "Emitted architecture (one line per layer):",
        "",
        "```",
    ]
    lines += [_layer(layer) for layer in report.best_spec["layers"]]
    lines += [
        "```",
        "",
        "## Power ranking (each model alone on dev)",
        "",
        "| rank | model | dev quality |",
        "|---|---|---|",
    ]
    lines += [
        f"| {i} | `{s.model}` | {s.quality:.3f} |" for i, s in enumerate(report.power_ranking.scores, 1)
    ]
    lines += [
        "",
        "## Cost of the search",
        "",
        f"LM calls sent: {c.ranking_calls} for the power ranking, {c.search_calls} by the trials, "
        f"{c.heldout_calls} for the held-out evaluation. Without the cache and early stopping the "
        f"trials would have sent {c.naive_search_calls} ({saved:.0%} saved). {c.trials_evaluated} trials "
        f"evaluated ({c.trials_pruned} stopped early, {c.trials_failed} failed their error budget), "
        f"{c.trials_skipped} skipped before any call. Failed dev items over all trials: {c.program_errors} "
        f"program errors (scored 0), {c.judge_errors} judge errors (left out of the mean).",
        "",
        "## Optimisation history",
        "",
        f"![history]({HISTORY_PNG})",
        "",
        "## Quality vs cost",
        "",
        f"![pareto]({PARETO_PNG})",
        "",
        "Pareto front (dev):",
        "",
        "| trial | dev quality | cost | LM calls/query |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r.number} | {r.dev_quality:.3f} | {r.cost:g} | {r.calls_per_query} |" for r in report.front
    ]
    lines += [
        "",
        f"## Trials (top {TOP_TRIALS} by dev quality, then all others in report.json)",
        "",
        "| trial | state | dev quality | items | calls/query | calls sent | cache hits | architecture "
        "| note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [_trial_row(r) for r in _top(report.trials)]
    return "\n".join(lines) + "\n"


def _objective(report: Report) -> str:
    o = report.objective
    if o["mode"] == "weighted":
        return f"dev quality - {o['lam']} x {o['cost']} per query"
    return f"Pareto front of dev quality and {o['cost']} per query"


def _heldout_row(h: HeldOut) -> str:
    usd = f"{h.usd_per_query:.4f}" if h.usd_per_query is not None else "-"
    ci = f"{h.ci_low:.3f}-{h.ci_high:.3f}"
    return f"| {h.name} | {h.quality:.3f} | {ci} | {h.items} | {h.calls_per_query} | {usd} |"


def _layer(layer: list[dict[str, object]]) -> str:
    parts = []
    for comp in layer:
        extra = "".join(f" {k}={comp[k]}" for k in ("samples", "top_k") if k in comp and comp[k] != 1)
        parts.append(f"{comp['type']}({comp.get('model') or ''}{extra})")
    return " | ".join(parts)


def _params(r: TrialRow) -> str:
    p = r.params
    keys = ("top_k_models", "samples", "fusion_layers", "fusers_per_layer", "selector", "final_check")
    return ", ".join(f"{k}={p[k]}" for k in keys if k in p)


def _top(rows: list[TrialRow]) -> list[TrialRow]:
    return sorted(rows, key=lambda r: (-(r.dev_quality if r.dev_quality is not None else -1.0), r.number))[
        :TOP_TRIALS
    ]


def _trial_row(r: TrialRow) -> str:
    q = f"{r.dev_quality:.3f}" if r.dev_quality is not None else "-"
    return (
        f"| {r.number} | {r.state.lower()} | {q} | {r.dev_items} | {r.calls_per_query or '-'} | {r.calls} | "
        f"{r.cache_hits} | {_params(r)} | {(r.note or '').replace('|', '/')} |"
    )


def _quality(rows: list[TrialRow]) -> list[float]:
    return [r.dev_quality or 0.0 for r in rows]


def _cost(rows: list[TrialRow]) -> list[float]:
    return [r.cost or 0.0 for r in rows]


def plot_history(report: Report, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(
        (r for r in report.trials if r.dev_quality is not None and r.dev_items), key=lambda r: r.number
    )
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    done = [r for r in rows if r.state == "COMPLETE"]
    stopped = [r for r in rows if r.state != "COMPLETE"]
    ax.scatter([r.number for r in done], _quality(done), label="completed", color="tab:blue")
    ax.scatter(
        [r.number for r in stopped],
        _quality(stopped),
        label="stopped early (partial dev)",
        color="tab:gray",
        marker="x",
    )
    best, xs, ys = -1.0, [], []
    for r in done:
        best = max(best, r.dev_quality or 0.0)
        xs.append(r.number)
        ys.append(best)
    ax.step(xs, ys, where="post", color="tab:red", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel("dev quality")
    ax.set_title(f"Optimisation history: {report.task}")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_pareto(report: Report, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in report.trials if r.state == "COMPLETE"]
    front = report.front
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    ax.scatter(_cost(done), _quality(done), color="tab:blue", alpha=0.6, label="trials")
    ax.plot(
        _cost(front),
        _quality(front),
        color="tab:red",
        marker="o",
        drawstyle="steps-post",
        label="Pareto front",
    )
    b = report.best_trial
    ax.scatter(
        _cost([b]), _quality([b]), s=160, facecolors="none", edgecolors="black", label=f"chosen (#{b.number})"
    )
    for s in report.power_ranking.scores:
        ax.axhline(s.quality, color="tab:gray", linestyle=":", linewidth=0.8)
    ax.set_xlabel(f"cost per query ({report.objective['cost']})")
    ax.set_ylabel("dev quality")
    ax.set_title("Quality vs cost (dotted: single models)")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def load_report(folder: Path) -> Report:
    return Report.model_validate(json.loads((folder / "report.json").read_text(encoding="utf-8")))
