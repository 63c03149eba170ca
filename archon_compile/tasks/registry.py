"""The task registry: `get("math")`, `names()`. Task modules register a factory taking an optional
local data file (`--data`), so nothing is loaded until a task is asked for."""

from __future__ import annotations

from collections.abc import Callable

from archon_compile.errors import ArchonError
from archon_compile.tasks.base import Task

TaskFactory = Callable[[str | None], Task]
_FACTORIES: dict[str, TaskFactory] = {}


class TaskError(ArchonError, ValueError):
    """An unknown task name, or options a task does not take; the message says what it knows."""


def register(name: str) -> Callable[[TaskFactory], TaskFactory]:
    def deco(factory: TaskFactory) -> TaskFactory:
        _FACTORIES[name] = factory
        return factory

    return deco


def get(name: str, data: str | None = None) -> Task:
    """The task `name`; `data` is a local file (JSONL/JSON/Parquet/CSV) that replaces the Hub download."""
    _load_builtin()
    if name not in _FACTORIES:
        raise TaskError(f"unknown task {name!r}; known tasks: {', '.join(sorted(_FACTORIES))}")
    return _FACTORIES[name](data)


def names() -> list[str]:
    _load_builtin()
    return sorted(_FACTORIES)


def _load_builtin() -> None:
    """Import the modules that register the built-in tasks (once)."""
    import importlib

    for module in BUILTIN_MODULES:
        importlib.import_module(module)


BUILTIN_MODULES: list[str] = [
    "archon_compile.tasks.judged",
    "archon_compile.tasks.code",
    "archon_compile.tasks.builtin",
    "archon_compile.tasks.mbpp",
    "archon_compile.tasks.mmlu",
]
