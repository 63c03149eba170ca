"""From a point of the space to the architecture it runs, or the reason it cannot run: one rule for the
driver's trials and the sampler's candidates, so the sampler never proposes what the driver would skip."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from archon_compile.compiler.budget import Budget, TokenEstimate, estimate_tokens
from archon_compile.compiler.space import ArchonSpace, TrialChoice
from archon_compile.errors import SpecError
from archon_compile.spec import ArchitectureSpec


class Runnable(NamedTuple):
    spec: ArchitectureSpec
    tokens: TokenEstimate


class FilledTrial:
    """Answers `ArchonSpace.suggest` from a candidate's parameters. A parameter the candidate lacks (it
    was switched off where the candidate came from) or holds outside the asked range takes the lowest
    value or the first choice; the trial that runs the candidate may draw another, so a price read
    through this is an estimate."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        self._params = params

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        value = self._params.get(name, low)
        fits = isinstance(value, int) and low <= value <= high and (value - low) % step == 0
        return value if fits else low

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        value = self._params.get(name, choices[0])
        return value if value in choices else choices[0]


@dataclass(frozen=True)
class Architect:
    """The space, the power ranking and the budget a search builds its architectures with."""

    space: ArchonSpace
    ranking: Sequence[str]
    budget: Budget
    query_tokens: int

    def build(self, choice: TrialChoice, name: str = "compiled") -> Runnable | str:
        """The architecture of `choice` with its token bounds, or why it cannot run (invalid, or over the
        per-query budget)."""
        try:
            spec = self.space.build(choice, self.ranking, name=name)
        except SpecError as exc:
            return f"invalid architecture: {str(exc).splitlines()[-1].strip(' -')}"
        tokens = estimate_tokens(spec, self.query_tokens)
        return self.budget.excludes(spec, tokens) or Runnable(spec, tokens)

    def candidate(self, params: Mapping[str, Any]) -> ArchitectureSpec | None:
        """The architecture a candidate's parameters would run, or None when a trial would skip it."""
        built = self.build(self.space.suggest(FilledTrial(params), self.ranking))
        return built.spec if isinstance(built, Runnable) else None
