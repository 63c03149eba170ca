"""`archon-compile tasks` and `archon-compile eval`."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from archon_compile.cli import app
from archon_compile.cli.options import ApiBaseOption, LmOption, NoCacheOption

if TYPE_CHECKING:
    from archon_compile.evaluation import CostSummary, EvalReport
    from archon_compile.program import Program
    from archon_compile.tasks.base import Task


@app.command()
def tasks() -> None:
    """List the registered tasks (no dataset is loaded)."""
    from rich.console import Console
    from rich.table import Table

    from archon_compile.tasks import registry

    table = Table("task", "source", "size", "metric", "judge")
    for name in registry.names():
        task = registry.get(name)
        table.add_row(
            name, task.source, str(task.size or "?"), task.metric.name, "yes" if task.needs_judge else "-"
        )
    Console().print(table)


@app.command("eval")
def eval_(
    program: Annotated[
        str, typer.Argument(help="a compiled artifact, a spec (JSON/YAML) or a reference program")
    ],
    task: Annotated[str, typer.Option("--task", "-t", help="task name (see `archon-compile tasks`)")],
    data: Annotated[str | None, typer.Option(help="local data file instead of the Hub dataset")] = None,
    split: Annotated[
        str,
        typer.Option(help="dev | heldout | all (a compiled artifact's own split, else the seeded 20/80 one)"),
    ] = "all",
    judge: Annotated[str | None, typer.Option(help="judge model string, for judged tasks")] = None,
    judge_api_base: Annotated[str | None, typer.Option(help="endpoint for the judge model")] = None,
    baseline: Annotated[
        str | None, typer.Option(help="baseline answers file (mt_bench pairwise, arena_hard)")
    ] = None,
    references: Annotated[str | None, typer.Option(help="reference answers file (mt_bench)")] = None,
    lm: LmOption = None,
    api_base: ApiBaseOption = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="evaluate only the first N items of the split")
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="items evaluated at once")] = 8,
    out: Annotated[
        Path | None, typer.Option(help="JSONL of per-item results; rerun with it to resume")
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(help="seed of the split and the bootstrap (default: a compiled artifact's own, else 0)"),
    ] = None,
    no_cache: NoCacheOption = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Evaluate a program on a task and print a summary (mean, 95% CI, errors, cost per query).

    Every model endpoint and the judge are probed first (one 1-token call each); the command fails at once
    when one is down, refuses the key or does not know the model, and exits 1 when every item errored.
    A rerun with the same --out skips the items recorded without an error and runs the others again.
    """
    import archon_compile as ac

    if split not in ("all", "dev", "heldout"):
        _fail(f"--split must be dev, heldout or all, not {split!r}")
    split_name: Literal["all", "dev", "heldout"] = split  # type: ignore[assignment]
    options = {k: v for k, v in {"baseline": baseline, "references": references}.items() if v}
    try:
        prog = ac.load(program, lm=lm, api_base=api_base, cache=not no_cache)
        chosen = _build_task(task, data, options)
        chosen.items()  # bad data fails here, before any call
        _probe(prog, chosen, judge, judge_api_base)
        report = ac.evaluate(
            prog,
            chosen,
            split=split_name,
            seed=seed,
            judge=judge,
            judge_api_base=judge_api_base,
            limit=limit,
            concurrency=concurrency,
            out=out,
        )
    except ac.ArchonError as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
    else:
        _print_report(report)
    _print_errors(report)
    if report.all_failed:
        where = f" (all of them in {report.out}; rerun with it and only the failed items run again)"
        _fail(
            f"every one of the {report.n} items failed ({report.n_program_errors} program errors, "
            f"{report.n_judge_errors} judge errors), so nothing was measured; the first errors are listed "
            f"above{where if report.out else ''}"
        )


def _probe(program: Program, task: Task, judge: str | None, judge_api_base: str | None) -> None:
    """One cheap call per model endpoint of the program and to the judge (raises EndpointError)."""
    from archon_compile.probe import Endpoint, endpoints_of, probe_endpoints

    endpoints = endpoints_of(program.spec)
    if judge is not None and task.needs_judge:
        endpoints.append(Endpoint(model=judge, api_base=judge_api_base, role="judge"))
    probe_endpoints(endpoints)


def _build_task(name: str, data: str | None, options: dict[str, str]) -> Task:
    """The task; `--baseline`/`--references` go to the judged tasks whose builders take them."""
    from archon_compile.tasks import registry
    from archon_compile.tasks.judged import BUILDERS
    from archon_compile.tasks.registry import TaskError

    if not options:
        return registry.get(name, data)
    builder = BUILDERS.get(name)
    takes = set(inspect.signature(builder).parameters) - {"data"} if builder else set()
    wrong = [f"--{k}" for k in options if k not in takes]
    if wrong or builder is None:
        accepted = ", ".join(f"--{t}" for t in sorted(takes)) or "neither"
        raise TaskError(f"{', '.join(wrong)} does not apply to task {name!r} (it takes: {accepted})")
    return builder(data, **options)


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _print_report(report: EvalReport) -> None:
    from rich.console import Console
    from rich.table import Table

    def money(x: float | None) -> str:
        return "unknown" if x is None else f"${x:.4f}"

    table = Table(
        title=f"{report.task} / {report.program} ({report.split}, seed {report.seed})", show_header=False
    )
    ci = (
        f"[{report.ci_low:.3f}, {report.ci_high:.3f}]"
        if report.ci_low is not None and report.ci_high is not None
        else "-"
    )
    rows = [
        ("items", f"{report.n} ({report.resumed} resumed)"),
        ("mean", "-" if report.mean is None else f"{report.mean:.4f}"),
        ("95% CI (bootstrap)", ci),
        *((name, f"{value:.4f}") for name, value in report.metrics.items()),
        ("program errors (scored 0)", str(report.n_program_errors)),
        ("judge errors (not in the mean)", str(report.n_judge_errors)),
        ("program calls / query", _calls(report.program_usage)),
        ("program cost / query", money(report.program_usage.cost_per_query_usd)),
        ("judge calls / query", _calls(report.judge_usage)),
        ("judge cost / query", money(report.judge_usage.cost_per_query_usd)),
        ("elapsed", f"{report.elapsed_s:.1f} s"),
    ]
    if report.out:
        rows.append(("results", report.out))
    for row in rows:
        table.add_row(*row)
    Console().print(table)


def _calls(usage: CostSummary) -> str:
    failed = f" (+{usage.failed_calls} failed calls in all)" if usage.failed_calls else ""
    return f"{usage.calls_per_query:.2f}{failed}"


def _print_errors(report: EvalReport) -> None:
    """The first errors of each kind, so a failing run shows why and not only how often."""
    for kind, count in (("program", report.n_program_errors), ("judge", report.n_judge_errors)):
        shown = [e for e in report.first_errors if e.kind == kind]
        if shown:
            typer.echo(f"{kind} errors ({count}; the first {len(shown)}):", err=True)
            for e in shown:
                typer.echo(f"  {e.item_id}: {e.message[:300]}", err=True)
