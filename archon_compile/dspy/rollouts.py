"""Sample identity for DSPy-level repeats of one request (what `rollout_id` and `n` mean to DSPy)."""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from collections import OrderedDict

from archon_compile.lm.base import Message
from archon_compile.program import Program


class Rollouts:
    """Which sample of the architecture a request gets: the n-th identical request is sample n.

    DSPy strips `rollout_id` and `n` before an engine sees a request, so repeats that reach the engine
    (DSPy's cache off, another `rollout_id`, `n > 1`, BestOfN and Refine) are told apart here, as a
    sampled LM would answer them afresh: sample 0 runs the program as it is, sample n > 0 runs it with
    a seed derived from its own and n, which keys its own entries in the program's cache. Shared by
    the sync and async engines of one LM and by its copies. The counts of the `limit` most recent
    requests are kept; an older request counts from 0 again (its samples are in the program's cache).
    """

    def __init__(self, program: Program, limit: int = 100_000) -> None:
        self.program = program
        self.limit = limit
        self._seen: OrderedDict[str, int] = OrderedDict()
        self._variants: dict[int, Program] = {0: program}
        self._lock = threading.Lock()

    def program_for(self, conversation: list[Message]) -> Program:
        text = json.dumps([m.model_dump() for m in conversation], sort_keys=True)
        key = hashlib.sha256(text.encode()).hexdigest()
        with self._lock:
            n = self._seen.pop(key, 0)
            self._seen[key] = n + 1
            if len(self._seen) > self.limit:
                self._seen.popitem(last=False)
            if n not in self._variants:
                # A shallow copy shares the runtime (cache, backends, limits); only the seed differs.
                variant = copy.copy(self.program)
                digest = hashlib.sha256(f"{self.program.seed}:rollout:{n}".encode()).digest()
                variant.seed = int.from_bytes(digest[:4], "big") & 0x7FFFFFFF
                self._variants[n] = variant
            return self._variants[n]
