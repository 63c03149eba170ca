"""`archon-compile import-archon`: original ARCHON configs -> archon-compile specs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from archon_compile.cli import app

if TYPE_CHECKING:  # imported when the command runs: `--help` stays fast
    from archon_compile.importer import ImportOutcome, ImportResult

REPORT = "import-report.json"


@app.command("import-archon")
def import_archon(
    paths: Annotated[
        list[Path], typer.Argument(help="original ARCHON config files (JSON) or directories of them")
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="where to write: a .json file for one config, else a directory (one spec per config, "
            f"mirroring the input folders, plus {REPORT})",
        ),
    ] = None,
    api_base: Annotated[
        str | None,
        typer.Option(help="endpoint for self-hosted (vLLM/TGI) models, e.g. http://localhost:8000/v1"),
    ] = None,
) -> None:
    """Convert original ARCHON configs into specs; every difference from the original is a warning.

    Exits 1 when any config is refused (the others are still written).
    """
    from archon_compile.importer import ArchonImportError, config_files

    try:
        files = config_files(paths)
    except ArchonImportError as exc:
        _fail(str(exc))
    if (
        len(files) == 1
        and not paths[0].is_dir()
        and (out is None or out.suffix == ".json" and not out.is_dir())
    ):
        _one(files[0], out, api_base)
        return
    if out is None:
        _fail("several configs need --out DIRECTORY to write one spec per config")
    _many(paths, out, api_base)


def _one(path: Path, out: Path | None, api_base: str | None) -> None:
    from archon_compile.importer import ArchonImportError, import_file

    try:
        result = import_file(path, api_base)
    except ArchonImportError as exc:
        _fail(str(exc))
    _echo_warnings(result)
    if out is None:
        typer.echo(result.spec.to_json())
        return
    _write(result, out)
    typer.echo(f"wrote {out}", err=True)


def _many(paths: list[Path], out: Path, api_base: str | None) -> None:
    from archon_compile.importer import breakdown, import_paths

    outcomes = import_paths(paths, api_base)
    targets = _targets(paths, outcomes, out)
    for outcome, target in zip(outcomes, targets, strict=True):
        if outcome.result is None:
            typer.echo(f"refused {outcome.error}", err=True)
            continue
        _write(outcome.result, target)
        typer.echo(f"ok      {outcome.path} -> {target}", err=True)
        _echo_warnings(outcome.result)
    report = out / REPORT
    report.write_text(
        json.dumps([o.model_dump(mode="json") for o in outcomes], indent=2) + "\n", encoding="utf-8"
    )
    root = paths[0] if len(paths) == 1 else None
    typer.echo(f"\n{breakdown(outcomes, root)}\n\nfull report: {report}")
    if any(o.result is None for o in outcomes):
        raise typer.Exit(1)


def _targets(paths: list[Path], outcomes: list[ImportOutcome], out: Path) -> list[Path]:
    """Output files mirroring each input's place below the directory given (or its name for a file)."""
    roots = [p for p in paths if p.is_dir()]
    targets = []
    for outcome in outcomes:
        src = Path(outcome.path)
        root = next((r for r in roots if src.is_relative_to(r)), None)
        targets.append(out / (src.relative_to(root) if root else Path(src.name)))
    clashes = {t for t in targets if targets.count(t) > 1}
    if clashes:
        _fail(
            f"several configs would be written to {sorted(clashes)[0]}; "
            "import them into separate --out folders"
        )
    return targets


def _write(result: ImportResult, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(result.spec.to_json() + "\n", encoding="utf-8")


def _echo_warnings(result: ImportResult) -> None:
    for warning in result.warnings:
        typer.echo(f"  warning: {warning}", err=True)


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)
