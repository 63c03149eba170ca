"""The LM cache: memory in front of SQLite on disk, keyed on everything that shapes an answer.

SQLite in WAL mode survives a kill mid-run (every entry is committed as it is written) and is shared
safely by threads and processes. Only successful, parsed responses are stored; API keys are never part
of a request, so they cannot reach the key or the value.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path

from archon_compile.lm.base import LMRequest, LMResponse
from archon_compile.lm.redact import public_url


def cache_key(request: LMRequest) -> str:
    """A pure function of model, endpoint (without credentials), messages, parameters, sample index and
    attempt: rotating a key in an endpoint's URL keeps the cache."""
    data = request.model_dump(mode="json")
    if data["api_base"]:
        data["api_base"] = public_url(data["api_base"])
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class Cache:
    """Memory + optional disk cache of LMResponses."""

    def __init__(self, path: str | Path | None = None) -> None:
        self._mem: dict[str, LMResponse] = {}
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self.path = Path(path) if path else None
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: every commit survives a killed process (not a power cut) without an fsync per
            # put (~20 ms each on slow disks).
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS lm_cache (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
            self._db.commit()

    def get(self, key: str) -> LMResponse | None:
        with self._lock:
            hit = self._mem.get(key)
            if hit is not None or self._db is None:
                return hit
            row = self._db.execute("SELECT value FROM lm_cache WHERE key = ?", (key,)).fetchone()
            if row is None:
                return None
            resp = LMResponse.model_validate_json(row[0])
            self._mem[key] = resp
            return resp

    def put(self, key: str, response: LMResponse) -> None:
        with self._lock:
            self._mem[key] = response
            if self._db is not None:
                self._db.execute(
                    "INSERT OR REPLACE INTO lm_cache (key, value) VALUES (?, ?)",
                    (key, response.model_dump_json()),
                )
                self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            if self._db is not None:
                return int(self._db.execute("SELECT COUNT(*) FROM lm_cache").fetchone()[0])
            return len(self._mem)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
