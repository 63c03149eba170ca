"""Reading user files (specs, artifacts, ARCHON configs): every failure is one line naming the file.

A file may be missing, a directory, unreadable, binary, not UTF-8, nested deeper than the parsers'
recursion allows, or hold a number too long to convert; none of these may end in a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

from archon_compile.errors import ArchonError

MAX_FILE_BYTES = 50_000_000
"""Specs, artifacts and configs are small; a larger file is refused before it is read into memory."""
MAX_YAML_VALUES = 1_000_000
"""YAML aliases can make a small file expand into billions of values ("billion laughs"); refused."""


class UnreadableFile(ArchonError, ValueError):
    """A file that cannot be read or parsed. `reason` is a short category for batch summaries."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def read_text(path: str | Path) -> str:
    """The file's text, decoded as UTF-8."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_FILE_BYTES:
            raise UnreadableFile(f"{p}: larger than {MAX_FILE_BYTES:,} bytes; not a spec", "too large")
        raw = p.read_bytes()
    except FileNotFoundError:
        raise UnreadableFile(f"{p}: no such file", "missing") from None
    except OSError as exc:
        raise UnreadableFile(f"{p}: cannot read the file: {exc.strerror or exc}", "unreadable") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(
            f"{p}: not UTF-8 text (byte {exc.start} is {raw[exc.start]:#04x}); is it a binary file?",
            "not UTF-8",
        ) from None


def parse_json(text: str, path: str | Path) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnreadableFile(
            f"{path}: not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}", "invalid JSON"
        ) from None
    except RecursionError:
        raise UnreadableFile(f"{path}: not valid JSON: nested too deeply", "invalid JSON") from None
    except ValueError as exc:  # e.g. an integer longer than Python's digit limit
        raise UnreadableFile(f"{path}: not valid JSON: {exc}", "invalid JSON") from None


def parse_yaml(text: str, path: str | Path) -> object:
    import yaml  # only YAML files pay for its import (a tenth of a cold `run`)

    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark else ""
        problem = " ".join(str(exc.problem or exc.context or "syntax error").split())
        raise UnreadableFile(f"{path}: not valid YAML: {where}{problem}", "invalid YAML") from None
    except yaml.YAMLError as exc:
        raise UnreadableFile(
            f"{path}: not valid YAML: {' '.join(str(exc).split())}", "invalid YAML"
        ) from None
    except RecursionError:
        raise UnreadableFile(f"{path}: not valid YAML: nested too deeply", "invalid YAML") from None
    except ValueError as exc:
        raise UnreadableFile(f"{path}: not valid YAML: {exc}", "invalid YAML") from None
    _check_expansion(data, path)
    return data


def _check_expansion(data: object, path: str | Path) -> None:
    """Count values as later code would walk them (aliases count each time), stopping at the limit."""
    stack, seen = [data], 0
    while stack:
        node = stack.pop()
        seen += 1
        if seen > MAX_YAML_VALUES:
            raise UnreadableFile(
                f"{path}: expands to more than {MAX_YAML_VALUES:,} values (YAML aliases?); not a spec",
                "too large",
            )
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def read_data(path: str | Path) -> object:
    """A JSON or YAML file (by suffix) as plain data."""
    text = read_text(path)
    if Path(path).suffix.lower() in {".yaml", ".yml"}:
        return parse_yaml(text, path)
    return parse_json(text, path)
