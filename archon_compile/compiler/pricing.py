"""What a candidate architecture would cost the search: the LM calls per query that the calls already made
do not cover. The sampler proposes the cheapest by it of the candidates whose expected improvement is
nearly the highest (`sampling.propose`).

The cache answers a request it has seen (`runtime/cache.py`). A generator's request depends only on its
model, its settings and its sample index, so a generator sampled before answers from the cache for the
samples it shares. Every later layer reads what the layers before it wrote, so its calls are cached only
when an evaluated architecture had the same layers up to and including it. Two different upstreams can
pass on the same candidates, so this count bounds the calls a trial sends when every call succeeds first
time (the premise of `calls_per_query`). With `compile(cache=False)` the cache lives in memory, so the
calls of an earlier run or of another worker are priced as made though they are not cached.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from optuna.trial import FrozenTrial

from archon_compile.compiler.marks import arch_of
from archon_compile.program import sample_offsets
from archon_compile.rules import flow
from archon_compile.spec import ArchitectureSpec

CallKey = tuple[Any, ...]


def call_groups(spec: ArchitectureSpec) -> list[tuple[CallKey, int]]:
    """The calls of one query, grouped by what makes them cache hits: one group per generator sample
    (its settings and sample index, offset as `program.sample_offsets` does), one per later layer (the
    layers up to it)."""
    groups: list[tuple[CallKey, int]] = []
    first = spec.layers[0]
    for comp, start in zip(first, sample_offsets(first), strict=True):
        text = json.dumps(comp.model_dump(mode="json", exclude={"samples"}), sort_keys=True)
        groups += [(("sample", text, start + s), 1) for s in range(getattr(comp, "samples", 1))]
    prefix = json.dumps([c.model_dump(mode="json") for c in spec.layers[0]], sort_keys=True)
    for layer, calls in zip(spec.layers[1:], flow(spec.layers)[1][1:], strict=True):
        prefix += json.dumps([c.model_dump(mode="json") for c in layer], sort_keys=True)
        groups.append((("layers", prefix), calls))
    return groups


class CallsMade:
    """The call groups of the architectures the search has run (complete, stopped or still running)."""

    def __init__(self, specs: Iterable[ArchitectureSpec]) -> None:
        self._seen = {key for spec in specs for key, _ in call_groups(spec)}

    @classmethod
    def of_trials(cls, trials: Sequence[FrozenTrial]) -> CallsMade:
        """From the architectures the driver recorded on `trials`."""
        archs = (arch_of(t) for t in trials)
        return cls(ArchitectureSpec.model_validate(a.spec) for a in archs if a is not None)

    def new_calls(self, spec: ArchitectureSpec) -> int:
        """Calls per query `spec` would send that no run architecture has made."""
        return sum(calls for key, calls in call_groups(spec) if key not in self._seen)
