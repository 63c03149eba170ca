"""What an import gives back: a converted spec with its warnings, a refusal, or one file of a batch."""

from __future__ import annotations

from pydantic import BaseModel

from archon_compile.errors import ArchonError
from archon_compile.spec import ArchitectureSpec


class ArchonImportError(ArchonError, ValueError):
    """A config that cannot be converted; the message names the file, the place and the reason.

    `reason` is a short category for batch summaries, e.g. "invalid JSON" or "rule 1 (one component type
    per layer)".
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class ImportResult(BaseModel):
    """A converted config: the spec and every difference from the original's behaviour."""

    source: str
    spec: ArchitectureSpec
    warnings: list[str]


class ImportOutcome(BaseModel):
    """One file of a batch: converted (`result`) or refused (`error`, `reason`)."""

    path: str
    result: ImportResult | None = None
    error: str | None = None
    reason: str | None = None
