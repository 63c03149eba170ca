"""The disk LM cache shared by several processes at once, as `serve --workers N` shares it."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from archon_compile.lm.base import LMResponse
from archon_compile.runtime.cache import Cache

WRITERS, ENTRIES = 4, 60


def write_and_read(path: Path, writer: int) -> None:
    """Opens the file at the same moment as the others (the first open creates it), writes its entries
    and reads back every entry any process has written so far."""
    cache = Cache(path)
    for i in range(ENTRIES):
        cache.put(f"{writer}-{i}", LMResponse(text=f"answer {writer}-{i}", prompt_tokens=i))
        for other in range(WRITERS):
            hit = cache.get(f"{other}-0")
            assert hit is None or hit.text == f"answer {other}-0"
    cache.close()


def test_processes_writing_one_cache_file_at_once_lose_nothing(tmp_path):
    path = tmp_path / "lm-cache.sqlite"
    ctx = multiprocessing.get_context("fork")  # nothing to pickle, no interpreter start-up per process
    procs = [ctx.Process(target=write_and_read, args=(path, w)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * WRITERS, "no 'database is locked', no failed read"
    cache = Cache(path)
    assert len(cache) == WRITERS * ENTRIES
    for w in range(WRITERS):
        for i in range(ENTRIES):
            hit = cache.get(f"{w}-{i}")
            assert hit is not None and (hit.text, hit.prompt_tokens) == (f"answer {w}-{i}", i)
    cache.close()
