"""Whose turn it is on the embedded models: one local generation at a time in a process, longest shared
prefix first.

Why: each llama.cpp generation already uses every core, so two at once only slow each other down, and one
llama.cpp context is not thread-safe anyway. When a generation ends, the waiting call whose prompt shares
the longest token prefix with what its model evaluated last goes next (ties: first come), so the k samples
of one prompt run back to back and llama.cpp evaluates the shared prompt once. A call waits only while
others generate; samples are finite, so nobody waits for ever.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


def shared_prefix(a: list[int], b: list[int]) -> int:
    """The number of leading tokens `a` and `b` have in common."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class Turns:
    """A lock that hands the turn to the waiter with the highest affinity (then the oldest)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._busy = False
        self._waiting: dict[int, Callable[[], int]] = {}
        self._tickets = itertools.count()

    def _next(self) -> int:
        return max(self._waiting, key=lambda t: (self._waiting[t](), -t))

    @contextmanager
    def turn(self, affinity: Callable[[], int]) -> Iterator[None]:
        """Hold the turn; `affinity()` (read under the lock) is how much of this call is already done."""
        with self._cond:
            ticket = next(self._tickets)
            self._waiting[ticket] = affinity
            while self._busy or self._next() != ticket:
                self._cond.wait()
            del self._waiting[ticket]
            self._busy = True
        try:
            yield
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()


TURNS = Turns()
