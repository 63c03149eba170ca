"""`archon-compile serve`: an OpenAI-compatible endpoint for a compiled architecture."""

from __future__ import annotations

import ipaddress
import os
from typing import Annotated, Any

import typer

from archon_compile.cli import app
from archon_compile.cli.options import ApiBaseOption, LmOption, NoCacheOption
from archon_compile.limits import DEFAULT_MAX_CALLS_PER_QUERY


@app.command()
def serve(
    program: Annotated[str, typer.Argument(help="a compiled artifact, a spec, or a reference program name")],
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port")] = 8000,
    api_key_env: Annotated[
        str | None,
        typer.Option(
            help="name of an environment variable holding the key clients must send as a Bearer token"
        ),
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="queries answered at once; later ones wait")] = 16,
    lm: LmOption = None,
    api_base: ApiBaseOption = None,
    max_body_bytes: Annotated[int, typer.Option(min=1, help="larger request bodies get 413")] = 1_048_576,
    timeout: Annotated[
        float, typer.Option(min=0.001, help="seconds per request, waiting included; then 504")
    ] = 300.0,
    lm_concurrency: Annotated[int, typer.Option(min=1, help="LM calls in flight across all queries")] = 64,
    no_cache: NoCacheOption = False,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
    max_calls_per_query: Annotated[
        int, typer.Option(min=1, help="refuse to serve an architecture making more LM calls per query")
    ] = DEFAULT_MAX_CALLS_PER_QUERY,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="server processes on the one port (Linux), e.g. one per core; each has its own "
            "--concurrency and --lm-concurrency",
        ),
    ] = 1,
) -> None:
    """Serve POST /v1/chat/completions, GET /v1/models and GET /health for one architecture."""
    import uvicorn

    import archon_compile as ac
    from archon_compile.serve import ServeOptions, create_app
    from archon_compile.serve import workers as multi

    key = None
    if api_key_env is not None:
        key = os.environ.get(api_key_env)
        if not key:
            typer.echo(
                f"error: --api-key-env {api_key_env}: the environment variable {api_key_env} is not set "
                "or empty; export the key there first",
                err=True,
            )
            raise typer.Exit(2)
    if workers > 1 and not multi.supported():
        typer.echo(
            "error: --workers needs Linux (SO_REUSEPORT); elsewhere run one server per port behind a "
            "load balancer",
            err=True,
        )
        raise typer.Exit(2)
    load: dict[str, Any] = {
        "lm": lm,
        "api_base": api_base,
        "cache": not no_cache,
        "concurrency": lm_concurrency,
        "max_calls_per_query": max_calls_per_query,
    }
    try:
        prog = ac.load(program, **load)
    except ac.ArchonError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    options = ServeOptions(
        api_key=key, concurrency=concurrency, timeout_s=timeout, max_body_bytes=max_body_bytes
    )
    if key is None and not _is_loopback(host):
        typer.echo(
            f"warning: serving on {host} without --api-key-env: anyone who can reach this port can spend "
            "your LM budget",
            err=True,
        )
    typer.echo(
        f"serving {prog.name!r} ({len(prog.spec.layers)} layers, {prog.spec.calls_per_query()} LM "
        f"calls/query) at {f'http://{host}:{port}/v1' if port else 'a free port (see below)'}; "
        f"auth {'on' if key else 'off'}{f'; {workers} worker processes' if workers > 1 else ''}",
        err=True,
    )
    if workers == 1:
        uvicorn.run(create_app(prog, options), host=host, port=port, log_level=log_level, lifespan="off")
        return
    config = multi.WorkerConfig(program, load, options, host, port, log_level)
    try:
        status = multi.run_workers(config, workers)
    except OSError as exc:
        typer.echo(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
    raise typer.Exit(status)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
