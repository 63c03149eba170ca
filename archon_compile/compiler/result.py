"""What a compile returns: the frozen best program and its report (`report.py`), and where they are saved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from archon_compile.artifact import freeze, write
from archon_compile.compiler.report import Report, write_report
from archon_compile.compiler.verdict import Verdict
from archon_compile.program import Program


class CompileOutput(BaseModel):
    """What `compile --json` prints: where the artifact and the report went, the verdict, the report."""

    artifact: str
    report_md: str
    verdict: str
    report: Report


class CompileResult:
    """The compiled program (the best architecture, frozen) and its report."""

    def __init__(self, program: Program, report: Report, search: dict[str, Any]) -> None:
        self.program = program
        self.report = report
        self.search = search

    @property
    def verdict(self) -> Verdict | None:
        """The held-out verdict: winner vs the best single model (None without held-out items)."""
        return self.report.verdict

    def save(self, path: str | Path) -> Path:
        """Write the artifact to `path` and the report folder beside it (`<stem>.report/`)."""
        artifact = write(freeze(self.program.spec, search=self.search), path)
        write_report(self.report, report_dir(artifact))
        return artifact


def report_dir(artifact: Path) -> Path:
    return artifact.with_name(f"{artifact.stem}.report")
