"""The `archon-compile` command: a thin Typer layer over the public API, one module per command group."""

from __future__ import annotations

import typer

# Plain (click) help and errors: Typer's Rich formatting imports Rich's markdown, syntax and traceback
# modules, 0.5 s of a 1 s `--help` (python -X importtime); the text is the same, only uncoloured.
app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
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
