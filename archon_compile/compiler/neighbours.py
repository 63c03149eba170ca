"""Architectures one step from the incumbent: the moves of the sampler's local search.

ARCHON's landscape is smooth along its axes (the paper: more models, samples and fusers help until they
saturate), so the best architecture so far is a good place to look next to. A neighbour changes one
parameter of the incumbent by one step: an integer axis up or down by its step, a categorical one to
another choice. Parameters that the change switches on (fusers per layer when a second fusion layer
appears) are left to the sampler; those it switches off are simply not asked.
"""

from __future__ import annotations

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


def untried(candidates: Sequence[Params], trials: Sequence[FrozenTrial]) -> list[Params]:
    """The candidates no trial has tried yet. A trial tried a candidate when it agrees with it on every
    parameter both have: parameters a candidate leaves open (switched on by its move) do not tell them
    apart, and those a trial did not ask (switched off) cannot."""
    seen = [t.params for t in trials if t.params]
    return [c for c in candidates if not any(_agree(c, p) for p in seen)]


def _agree(candidate: Params, tried: Mapping[str, Any]) -> bool:
    return all(candidate[k] == v for k, v in tried.items() if k in candidate)
