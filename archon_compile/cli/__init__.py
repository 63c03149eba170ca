"""The `archon-compile` command: a thin Typer layer over the public API, one module per command group."""

from __future__ import annotations

import typer

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Compile, run, evaluate and serve inference-time architectures (ARCHON) for LLMs.",
)

# Each module registers its commands on `app` when imported.
from archon_compile.cli import compile as _compile  # noqa: E402,F401
from archon_compile.cli import evaluate as _evaluate  # noqa: E402,F401
from archon_compile.cli import importer as _importer  # noqa: E402,F401
from archon_compile.cli import run as _run  # noqa: E402,F401
from archon_compile.cli import serve as _serve  # noqa: E402,F401


def main() -> None:
    app()
