"""Many configs at once: files and directories, each converted or refused on its own, and a Markdown
summary of why the refused ones were refused."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from archon_compile.importer.convert import import_file
from archon_compile.importer.results import ArchonImportError, ImportOutcome


def import_paths(paths: Iterable[str | Path], api_base: str | None = None) -> list[ImportOutcome]:
    """Convert files and directories (every `*.json` below them, sorted); never raises on a bad file."""
    outcomes = []
    for path in config_files(paths):
        try:
            outcomes.append(ImportOutcome(path=str(path), result=import_file(path, api_base)))
        except ArchonImportError as exc:
            outcomes.append(ImportOutcome(path=str(path), error=str(exc), reason=exc.reason))
    return outcomes


def config_files(paths: Iterable[str | Path]) -> list[Path]:
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files.extend(sorted(path.rglob("*.json")))
        elif path.exists():
            files.append(path)
        else:
            raise ArchonImportError(f"{path}: no such file or directory", "missing")
    return files


def breakdown(outcomes: list[ImportOutcome], root: str | Path | None = None) -> str:
    """A Markdown summary of a batch: how many converted, how many were refused for each reason, and
    which (paths shown relative to `root`)."""
    ok = [o for o in outcomes if o.result is not None]
    refused = [o for o in outcomes if o.result is None]
    warned = sum(bool(o.result.warnings) for o in ok if o.result)
    lines = [
        f"Converted {len(ok)} of {len(outcomes)} configs ({warned} of them with warnings); "
        f"{len(refused)} refused."
    ]
    if not refused:
        return lines[0]
    reasons: dict[str, int] = {}
    for o in refused:
        reasons[str(o.reason)] = reasons.get(str(o.reason), 0) + 1
    lines += ["", "| reason refused | configs |", "|---|---|"]
    lines += [f"| {r} | {n} |" for r, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))]
    lines += ["", "| refused config | reason |", "|---|---|"]
    lines += [f"| `{_relative(o.path, root)}` | {o.reason} |" for o in refused]
    return "\n".join(lines)


def _relative(path: str, root: str | Path | None) -> str:
    p = Path(path)
    return str(p.relative_to(root)) if root and p.is_relative_to(root) else str(p)
