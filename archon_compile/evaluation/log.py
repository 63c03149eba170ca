"""The results JSONL of `ac.evaluate(out=...)` / `eval --out`: crash-safe, resumable, self-repairing.

Every finished item is appended as one JSON line and flushed at once, so a killed run loses only the
items in flight. Reopening the file repairs it first: a last line cut short by the kill is cut off (its
item runs again). Reading keeps the last record per item; an item whose last record holds an error is
run again on resume, so a rerun after an outage finishes the job.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from pydantic import ValidationError

from archon_compile.errors import ArchonError
from archon_compile.evaluation.records import EvalRecord


class ResultsFileError(ArchonError, ValueError):
    """The `out` file holds results of another task or program."""


def repair(path: Path) -> bool:
    """Cut a torn last line (no newline at the end: the write was interrupted) off `path`; True if cut."""
    if not path.exists():
        return False
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return False
    with path.open("r+b") as fh:
        fh.truncate(data.rfind(b"\n") + 1)
    return True


def read_records(out: Path, task: str, program: str) -> dict[str, EvalRecord]:
    """The last record per item in `out`. A line that does not parse as a record is skipped (its item runs
    again); a record of another task or program is an error, since mixing them would be wrong."""
    done: dict[str, EvalRecord] = {}
    if not out.exists():
        return done
    with out.open(encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rec = EvalRecord.model_validate_json(line)
            except ValidationError:
                continue
            if rec.task != task or rec.program != program:
                raise ResultsFileError(
                    f"{out}: line {lineno} holds a result of task {rec.task!r} / program "
                    f"{rec.program!r}, not {task!r} / {program!r}; pass another --out file"
                )
            done[rec.item_id] = rec
    return done


class ResultsLog:
    """Appends one flushed JSON line per record to `path` (repaired first); does nothing for None."""

    def __init__(self, path: Path | None) -> None:
        self.fh: TextIO | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            repair(path)
            self.fh = path.open("a", encoding="utf-8")

    def write(self, rec: EvalRecord) -> None:
        if self.fh is not None:
            self.fh.write(rec.model_dump_json() + "\n")
            self.fh.flush()

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()

    def __enter__(self) -> ResultsLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
