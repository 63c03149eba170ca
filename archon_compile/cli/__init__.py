"""The `archon-compile` command: a thin Typer layer over the public API, one module per command group."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Compile, run, evaluate and serve inference-time architectures (ARCHON) for LLMs.")

# Each module registers its commands on `app` when imported.
from archon_compile.cli import run as _run  # noqa: E402,F401


def main() -> None:
    app()
