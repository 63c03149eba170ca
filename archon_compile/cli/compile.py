"""`archon-compile compile` (search architectures for a task) and `archon-compile demo` (the same, offline,
on the embedded model)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from archon_compile.cli import app

if TYPE_CHECKING:
    from archon_compile.compiler import CompileResult, TrialEvent

DEMO_TRIALS = 4


@app.command("compile")
def compile_command(
    task: Annotated[str, typer.Option(help="a registered task name (see `archon-compile tasks`)")],
    models: Annotated[str, typer.Option(help="comma-separated model pool, e.g. openai/gpt-4o-mini,local")],
    data: Annotated[
        str | None, typer.Option(help="local data file (JSONL/JSON/Parquet/CSV) for the task")
    ] = None,
    trials: Annotated[int, typer.Option(min=1, help="architectures to evaluate (across all workers)")] = 30,
    budget_calls: Annotated[int | None, typer.Option(min=1, help="max LM calls per query")] = None,
    search_calls: Annotated[
        int | None, typer.Option(min=1, help="stop the search after this many LM calls")
    ] = None,
    search_usd: Annotated[
        float | None, typer.Option(help="stop the search after spending this many dollars")
    ] = None,
    wall_time: Annotated[float | None, typer.Option(help="stop the search after this many seconds")] = None,
    objective: Annotated[
        str, typer.Option(help="'weighted' (quality - lam x cost) or 'pareto'")
    ] = "weighted",
    lam: Annotated[float, typer.Option(help="quality given up per LM call per query (weighted)")] = 0.0,
    judge: Annotated[str | None, typer.Option(help="judge model, for judge-scored tasks")] = None,
    dev_size: Annotated[int | None, typer.Option(help="dev items (default 20% of the task)")] = None,
    heldout_size: Annotated[int | None, typer.Option(help="held-out items (default: the other 80%)")] = None,
    seed: Annotated[int, typer.Option(help="split and sampler seed")] = 0,
    storage: Annotated[
        str | None, typer.Option(help="Optuna storage URL (default SQLite in runs/<study>/)")
    ] = None,
    study: Annotated[str | None, typer.Option(help="study name (default: the task name)")] = None,
    out: Annotated[Path | None, typer.Option(help="artifact path (default compiled/<study>.json)")] = None,
    api_base: Annotated[
        str | None,
        typer.Option(help="endpoint of every non-local model (an OpenAI-compatible vLLM/llama.cpp server)"),
    ] = None,
) -> None:
    """Search ARCHON architectures over a model pool; write the best as an artifact plus a report.

    Rerun the same command to resume an interrupted search; run it in several shells with one --storage
    to share the work.
    """
    from archon_compile.compiler import Budget, CompileError, Objective, compile
    from archon_compile.lm.resolve import is_local

    if objective not in ("weighted", "pareto"):
        raise typer.BadParameter("use 'weighted' or 'pareto'", param_hint="--objective")
    mode: Literal["weighted", "pareto"] = "weighted" if objective == "weighted" else "pareto"
    pool = [m.strip() for m in models.split(",") if m.strip()]
    try:
        budget = Budget(
            calls_per_query=budget_calls,
            search_calls=search_calls,
            search_usd=search_usd,
            wall_time_s=wall_time,
        )
        with _ProgressBar(trials) as progress:
            result = compile(
                task,
                pool,
                trials=trials,
                budget=budget,
                objective=Objective(mode=mode, lam=lam),
                seed=seed,
                storage=storage,
                study=study,
                data=data,
                judge=judge,
                dev_size=dev_size,
                heldout_size=heldout_size,
                api_bases={m: api_base for m in pool if api_base and not is_local(m)},
                progress=progress,
            )
    except (CompileError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    _finish(result, out or Path("compiled") / f"{study or task}.json")


@app.command()
def demo(
    trials: Annotated[int, typer.Option(min=1, help="architectures to try")] = DEMO_TRIALS,
    out: Annotated[Path, typer.Option(help="where to write the artifact")] = Path(
        "compiled/capitals-demo.json"
    ),
) -> None:
    """Compile on the embedded model (offline, a few minutes on 2 cores) for the `capitals` task, then answer
    one held-out question with the compiled artifact."""
    import archon_compile as ac
    from archon_compile.compiler import ArchonSpace, Budget, CompileError, compile

    space = ArchonSpace(
        top_k_models=(1, 1),
        samples=(1, 3),
        fusion_layers=(0, 1),
        fusers_per_layer=(2, 2),
        selectors=("none", "voter"),
        final_checks=("none",),
        max_tokens=16,
    )
    typer.echo(
        "Compiling the `capitals` task on the embedded model (Gemma 3 270M, local): "
        f"{trials} trials, samples 1-3, voter vs fuser."
    )
    try:
        with _ProgressBar(trials) as progress:
            result = compile(
                "capitals",
                ["local"],
                space=space,
                trials=trials,
                budget=Budget(calls_per_query=4),
                seed=0,
                study="capitals-demo",
                dev_size=8,
                heldout_size=20,
                progress=progress,
            )
    except (CompileError, ValueError, ImportError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    artifact = _finish(result, out)
    from archon_compile.tasks import registry

    task = registry.get("capitals")
    item = task.split(0, dev_size=8, heldout_size=20)[1][0]
    program = ac.load(artifact)
    answer = program(task.conversation(item, []))
    typer.echo(f"\nQ: {item.turns[0]}\nA: {answer.response}   (reference: {item.reference})")
    typer.echo(
        "\nA 270M-parameter base model is a weak answerer: expect low quality. Compile the same way with "
        "real models, e.g.\n  archon-compile compile --task capitals --models "
        "openai/gpt-4o-mini,together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo --trials 30\n"
        "then run the artifact with `archon-compile run compiled/capitals.json -q 'What is the capital "
        "of Peru?'`."
    )


class _ProgressBar:
    """A rich progress bar fed by the compiler's per-trial events."""

    def __init__(self, total: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(
            TextColumn("trials"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            transient=False,
        )
        self.task = self.bar.add_task("power ranking...", total=total)

    def __enter__(self) -> _ProgressBar:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(None, None, None)

    def __call__(self, event: TrialEvent) -> None:
        quality = f"dev {event.dev_quality:.3f}" if event.dev_quality is not None else ""
        skipped = (event.note or "").startswith("skipped")
        note = f"#{event.number} {'' if skipped else event.state.lower()} {quality} {event.note or ''}"
        self.bar.update(self.task, completed=event.finished, description=note[:70])


def _finish(result: CompileResult, out: Path) -> Path:
    """Save the artifact and the report; print the best trials and where everything went."""
    from rich.console import Console
    from rich.table import Table

    from archon_compile.compiler.result import report_dir

    artifact = result.save(out)
    report = result.report
    table = Table(title="Best trials (dev)")
    for col in ("trial", "dev quality", "LM calls/query", "architecture"):
        table.add_column(col)
    done = sorted((r for r in report.trials if r.state == "COMPLETE"), key=lambda r: -(r.dev_quality or 0.0))
    for r in done[:5]:
        arch = ", ".join(f"{k}={v}" for k, v in r.params.items() if not k.endswith("_model"))
        table.add_row(str(r.number), f"{r.dev_quality:.3f}", str(r.calls_per_query), arch)
    console = Console()
    console.print(table)
    console.print(report.summary())
    console.print(f"artifact: {artifact}\nreport:   {report_dir(artifact) / 'report.md'}")
    return artifact
