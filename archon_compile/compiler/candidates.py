"""The architectures the sampler's surrogate scores: moves from the best trials, and random draws.

ARCHON's landscape is smooth along its axes (the paper: more models, samples and fusers help until they
saturate), so the best architectures so far are good places to look next to. A neighbour changes one
parameter by one step: an integer axis up or down by its step, a categorical one to another choice.
Parameters that a change switches on (fusers per layer when a second fusion layer appears) take the
value the candidate already holds or, failing that, the sampler's; those it switches off are not asked.
A few random draws keep the surrogate looking beyond the neighbourhood of the best trials.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution
from optuna.trial import FrozenTrial

Params = dict[str, Any]


def neighbours(params: Mapping[str, Any], distributions: Mapping[str, BaseDistribution]) -> list[Params]:
    """Every one-step change of `params`, in a fixed order (parameter by parameter, down before up)."""
    out: list[Params] = []
    for name, value in params.items():
        for moved in _moves(value, distributions[name]):
            out.append({**params, name: moved})
    return out


def _moves(value: Any, dist: BaseDistribution) -> list[Any]:
    if isinstance(dist, IntDistribution) and not dist.log:
        return [v for v in (value - dist.step, value + dist.step) if dist.low <= v <= dist.high]
    if isinstance(dist, CategoricalDistribution):
        return [c for c in dist.choices if c != value]
    return []  # float and log-scaled axes have no natural single step


def two_steps(params: Mapping[str, Any], distributions: Mapping[str, BaseDistribution]) -> list[Params]:
    """The one- and two-step changes of `params` (two axes at once reach an optimum that needs both)."""
    near = neighbours(params, distributions)
    return near + [far for n in near for far in neighbours(n, distributions)]


def draw(distributions: Mapping[str, BaseDistribution], rng: random.Random) -> Params:
    """A value of every integer and categorical parameter, drawn uniformly."""
    out: Params = {}
    for name, dist in distributions.items():
        if isinstance(dist, IntDistribution):
            out[name] = rng.randrange(dist.low, dist.high + 1, dist.step)
        elif isinstance(dist, CategoricalDistribution):
            out[name] = rng.choice(dist.choices)
    return out


def untried(candidates: Sequence[Params], trials: Sequence[FrozenTrial]) -> list[Params]:
    """The candidates no trial has tried yet, each once. A trial tried a candidate when it agrees with it
    on every parameter both have: parameters a candidate holds beyond a trial's (switched off there) do
    not tell them apart."""
    seen = [t.params for t in trials if t.params]
    out: dict[tuple[tuple[str, Any], ...], Params] = {}
    for c in candidates:
        key = tuple(sorted(c.items()))
        if key not in out and not any(_agree(c, p) for p in seen):
            out[key] = c
    return list(out.values())


def _agree(candidate: Params, tried: Mapping[str, Any]) -> bool:
    return all(candidate[k] == v for k, v in tried.items() if k in candidate)
