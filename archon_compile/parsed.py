"""`Parsed`: what every parser returns. Its own module at the bottom of the package, so signatures, tasks
and plugins import it without pulling in the runtime that issues calls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Parsed(Generic[T]):
    """A parser's result: always a usable value; `ok` is False when it is the documented fallback."""

    value: T
    ok: bool = True
    note: str | None = None
