"""`archon-compile run` and `archon-compile programs`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from archon_compile.cli import app
from archon_compile.cli.options import ApiBaseOption, LmOption, NoCacheOption


@app.command()
def run(
    program: Annotated[
        str, typer.Argument(help="a spec (JSON/YAML), a compiled artifact, or a reference program name")
    ],
    query: Annotated[str, typer.Option("--query", "-q", help="the question to answer")],
    lm: LmOption = None,
    api_base: ApiBaseOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="print the prediction (usage, trace) as JSON")
    ] = False,
    no_cache: NoCacheOption = False,
    seed: Annotated[int | None, typer.Option(help="seed passed to every LM call")] = None,
    show_calls: Annotated[
        bool,
        typer.Option("--show-calls", help="print every LM call's prompt and reply per component (to stderr)"),
    ] = False,
) -> None:
    """Answer one query with a spec or an artifact."""
    import archon_compile as ac

    try:
        prog = ac.load(
            program, lm=lm, api_base=api_base, cache=not no_cache, seed=seed, trace_text=show_calls
        )
    except ac.ArchonError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    try:
        pred = prog(query)
    except ac.ArchonError as exc:
        if show_calls:  # what the calls said before the query failed (the history holds this run's calls)
            typer.echo(prog.format_calls(prog.history()) + "\n", err=True)
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if show_calls:
        typer.echo(prog.format_calls(pred.trace) + "\n", err=True)
    if as_json:
        typer.echo(pred.model_dump_json(indent=2))
        return
    typer.echo(pred.response)
    u = pred.usage
    cost = f"${u.cost_usd:.4f}" if u.cost_known else "cost unknown"
    typer.echo(
        f"\n[{u.calls} LM calls, {u.cache_hits} cached, {u.prompt_tokens}+{u.completion_tokens} tokens, "
        f"{cost}]",
        err=True,
    )


@app.command()
def programs() -> None:
    """List the reference programs shipped with archon-compile."""
    from archon_compile import programs as shipped
    from archon_compile.spec import ArchitectureSpec

    for name in shipped.spec_names():
        spec = ArchitectureSpec.from_file(Path(shipped.FOLDER) / f"{name}.json")
        typer.echo(
            f"{name:32} {len(spec.layers)} layers, {spec.calls_per_query():3} calls/query  {spec.description}"
        )
