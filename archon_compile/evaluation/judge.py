"""The judge, built in one place for `ac.evaluate`, `eval` and `ac.compile`, so that the endpoints and
injected LMs a user gives reach it the same way everywhere."""

from __future__ import annotations

from collections.abc import Mapping

from archon_compile.errors import ArchonError
from archon_compile.lm.base import LM
from archon_compile.lm.resolve import Backends
from archon_compile.runtime.cache import Cache
from archon_compile.runtime.calls import RetryPolicy, Runtime
from archon_compile.tasks.base import Judge, Task


class JudgeRequired(ArchonError, ValueError):
    """A judged task was given no judge model."""


def make_judge(
    task: Task,
    model: str | Judge | None,
    *,
    api_base: str | None = None,
    api_bases: Mapping[str, str] | None = None,
    lms: Mapping[str, LM] | None = None,
    cache: Cache | None = None,
    retry: RetryPolicy | None = None,
    concurrency: int = 16,
) -> Judge | None:
    """The judge of `task`: a `Judge` as given, or one for the model string `model`.

    Its endpoint is `api_base`, else `api_bases[model]`; `lms` (model string or "*" -> LM) serves it as
    it serves the program. It has its own runtime (own concurrency limit, so judge calls never queue
    behind the program's) on the given cache and retry policy. None when the task needs no judge and
    none is given; JudgeRequired when it needs one.
    """
    if isinstance(model, Judge):
        return model
    if model is None:
        if task.needs_judge:
            raise JudgeRequired(
                f"task {task.name!r} needs a judge model: pass judge=MODEL (CLI: --judge MODEL, and "
                "--judge-api-base URL for a self-hosted judge)"
            )
        return None
    endpoint = api_base or (api_bases or {}).get(model)
    runtime = Runtime(Backends(lms), cache, retry, concurrency)
    return Judge(model=model, runtime=runtime, api_base=endpoint)
