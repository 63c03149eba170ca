"""Call history: the prompts and replies of a program's last calls, to see what each component did.

Like DSPy's `inspect_history`: a program keeps its last `history_size` calls in memory (default 100; 0
turns it off) as `CallRecord`s with `messages` and `reply` filled in, across queries, oldest first. Nothing
is written anywhere: the disk cache, traces (unless `trace_text=True`) and artifacts stay as they were.

Credentials are masked when text leaves the history (`records`), not when a call is recorded, so the hot
path pays one small object per call; the masking is `lm/redact.py`'s (provider-key-like environment
values, and the userinfo of the call's `api_base`).
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Iterable, Mapping

from archon_compile.lm.base import LMRequest, Message
from archon_compile.lm.redact import redact
from archon_compile.runtime.trace import CallRecord

DEFAULT_SIZE = 100


def with_text(record: CallRecord, request: LMRequest, reply: str | None) -> CallRecord:
    """The record with the call's prompt and reply, credentials masked."""
    base = request.api_base
    return record.model_copy(
        update={
            "messages": tuple(
                Message(role=m.role, content=redact(m.content, base)) for m in request.messages
            ),
            "reply": redact(reply, base) if reply is not None else None,
        }
    )


class CallHistory:
    """A bounded, thread-safe record of the last `size` calls (oldest first)."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        if size < 1:
            raise ValueError(
                f"history size must be at least 1 (got {size}); pass 0 to Program to turn it off"
            )
        self.size = size
        self._calls: deque[tuple[CallRecord, LMRequest, str | None]] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, record: CallRecord, request: LMRequest, reply: str | None) -> None:
        with self._lock:
            self._calls.append((record, request, reply))

    def records(self, n: int | None = None) -> list[CallRecord]:
        """The last `n` calls (all kept when None), oldest first, with their text, credentials masked."""
        with self._lock:
            calls = list(self._calls)
        if n is not None:
            calls = calls[-n:] if n > 0 else []
        return [with_text(rec, req, reply) for rec, req, reply in calls]

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()


def node_of(component: str) -> str:
    """The node id (`L1.C0`) of a record's component (`L1.C0:CritiqueSignature`)."""
    return component.split(":", 1)[0]


def _node_order(node: str) -> tuple[int, ...]:
    return tuple(int(d) for d in re.findall(r"\d+", node))


def format_call(record: CallRecord) -> str:
    """One call as text: a header (component, model, sample, attempt, status), the prompt, the reply."""
    status = [
        f"sample {record.sample}",
        *([f"attempt {record.attempt}"] if record.attempt else []),
        *(["cache hit"] if record.cache_hit else []),
        *(["unparseable"] if not record.parse_ok else []),
        *([f"fallback: {record.fallback}"] if record.fallback else []),
    ]
    lines = [f"--- {record.component} [{record.model}] ({', '.join(status)})"]
    for m in record.messages or ():
        lines += [f"[{m.role}]", m.content]
    if record.error is not None:
        lines += ["[error]", record.error]
    elif record.reply is not None:
        lines += ["[reply]", record.reply]
    return "\n".join(lines)


def format_by_component(records: Iterable[CallRecord], kinds: Mapping[str, str]) -> str:
    """Calls grouped per component in layer order, each group headed by the component's type, so a
    critic's critiques, a ranker's ranking and a fuser's answer read in the order the program ran them."""
    groups: dict[str, list[CallRecord]] = {}
    for rec in records:
        if rec.lm_call:
            groups.setdefault(node_of(rec.component), []).append(rec)
    parts = []
    for node in sorted(groups, key=_node_order):
        calls = groups[node]
        parts.append(f"=== {node} {kinds.get(node, '?')}: {len(calls)} call(s)")
        parts += [format_call(rec) for rec in calls]
    return "\n\n".join(parts)
