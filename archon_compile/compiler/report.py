"""The report folder: report.md (readable without the tool), report.json, and two PNG plots drawn with
matplotlib's Agg backend (no display needed): the optimisation history and quality vs cost with the
Pareto front."""

from __future__ import annotations

import json
from pathlib import Path

from archon_compile.compiler.result import HeldOut, Report, TrialRow

HISTORY_PNG = "history.png"
PARETO_PNG = "pareto.png"
TOP_TRIALS = 15


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
