"""The ARCHON search space: six axes (paper, "ITAS") plus the voter and the model of every role.

The space is conditional (define-by-run): an axis is suggested only when the architecture uses it —
`fusers_per_layer` only with two or more fusion layers, a role's model only when that role is in the
architecture. Parameters that cannot change the architecture would only dilute the sampler's model
(multivariate TPE with `group=True` models each group of co-occurring axes jointly), and two parameter
sets differing only in them would be the same architecture tried twice. Architectures that break a
construction rule or a fuser's input cap are rejected by `ArchitectureSpec` itself (`build_spec` raises
`SpecError`), before any LM call.

`prior()` gives the paper-informed architectures a search tries first (see its docstring).

Size of the default space (computed by `ArchonSpace().size(pool_size)`, not estimated; combinations count
every axis as if always sampled): with a pool of 10 models, 900,000,000 parameter combinations and
17,096,880 distinct valid architectures; with 3 models, 656,100 and 55,440; with 1 model, 900 and 720.
Invalid ones are mostly fusers fed more than 24 candidates.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import optuna
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from archon_compile.spec import DEFAULT_MAX_FUSER_INPUTS, ArchitectureSpec, SpecError

if TYPE_CHECKING:
    from archon_compile.tasks.base import Task

Selector = Literal["none", "critic_ranker", "voter"]
Check = Literal["none", "verifier", "unit_tests", "executed_tests"]
ROLES = ("fuser", "critic", "ranker", "verifier", "unit_test")


class IntRange(BaseModel):
    """An inclusive integer range with a step; `(low, high)` or `(low, high, step)` is accepted."""

    model_config = ConfigDict(frozen=True)

    low: int = Field(ge=0)
    high: int = Field(ge=0)
    step: int = Field(1, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _from_tuple(cls, data: Any) -> Any:
        if isinstance(data, (tuple, list)):
            return dict(zip(("low", "high", "step"), data, strict=False))
        return data

    @model_validator(mode="after")
    def _ordered(self) -> IntRange:
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")
        return self

    def values(self, cap: int | None = None) -> list[int]:
        high = self.high if cap is None else min(self.high, cap)
        return list(range(min(self.low, high), high + 1, self.step))


class Choice(BaseModel):
    """One trial's parameters: what a sampled architecture is made of."""

    model_config = ConfigDict(frozen=True)

    top_k_models: int = Field(ge=1)
    samples: int = Field(ge=1)
    fusion_layers: int = Field(ge=0)
    fusers_per_layer: int = Field(ge=1)
    selector: Selector
    final_check: Check
    fuser_model: str
    critic_model: str
    ranker_model: str
    verifier_model: str
    unit_test_model: str


class SpaceSize(BaseModel):
    """Parameter combinations vs distinct architectures that pass the construction rules."""

    pool_size: int
    combinations: int
    valid_architectures: int


class ArchonSpace(BaseModel):
    """The searchable axes, with the paper's ranges as defaults (ARCHON.md, "The search").

    `fusion_layers` may start at 0: the architecture then ends with the selector (ranker or voter with
    top_k 1) or a unit-test evaluator instead of a fuser. `role_models` restricts the models that may
    fill the fuser/critic/ranker/verifier/unit-test roles (default: the whole pool).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    top_k_models: IntRange = IntRange(low=1, high=10)
    samples: IntRange = IntRange(low=1, high=5)
    fusion_layers: IntRange = IntRange(low=1, high=4)
    fusers_per_layer: IntRange = IntRange(low=2, high=10, step=2)
    selectors: tuple[Selector, ...] = ("none", "critic_ranker", "voter")
    final_checks: tuple[Check, ...] = ("none", "verifier", "unit_tests")
    role_models: tuple[str, ...] | None = None
    ranker_top_k: int = Field(5, ge=1, description="candidates a ranker/voter keeps before a fuser")
    voter_normaliser: str = "text"
    num_unit_tests: int = Field(5, ge=1, le=50)
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    max_tokens: int = Field(1024, ge=1)
    max_fuser_inputs: int = Field(DEFAULT_MAX_FUSER_INPUTS, ge=1)

    @field_validator("selectors", "final_checks")
    @classmethod
    def _non_empty(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError("give at least one choice")
        return v

    @model_validator(mode="after")
    def _positive_top_k(self) -> ArchonSpace:
        if self.top_k_models.high < 1 or self.samples.low < 1:
            raise ValueError("top_k_models needs high >= 1 and samples needs low >= 1")
        return self

    @classmethod
    def for_task(cls, task: Task) -> ArchonSpace:
        """The default space, plus unit tests executed in the sandbox when the task's answers are code."""
        if not task.answers_are_code:
            return cls()
        return cls(final_checks=("none", "verifier", "unit_tests", "executed_tests"))

    def roles_pool(self, pool: Sequence[str]) -> tuple[str, ...]:
        return tuple(self.role_models) if self.role_models else tuple(pool)

    def suggest(self, trial: optuna.Trial, pool: Sequence[str]) -> Choice:
        """Sample the axes this architecture uses; the others get fixed values `build` ignores."""
        k = self.top_k_models.values(cap=len(pool))
        roles = list(self.roles_pool(pool))
        depth = _suggest(trial, "fusion_layers", self.fusion_layers)
        base = Choice(
            top_k_models=trial.suggest_int("top_k_models", k[0], k[-1]),
            samples=_suggest(trial, "samples", self.samples),
            fusion_layers=depth,
            fusers_per_layer=(
                _suggest(trial, "fusers_per_layer", self.fusers_per_layer)
                if depth >= 2
                else self.fusers_per_layer.low
            ),
            selector=trial.suggest_categorical("selector", list(self.selectors)),
            final_check=trial.suggest_categorical("final_check", list(self.final_checks)),
            **{f"{role}_model": roles[0] for role in ROLES},
        )
        used = {f"{r}_model": trial.suggest_categorical(f"{r}_model", roles) for r in roles_used(base)}
        return base.model_copy(update=used)

    def prior(self, ranking: Sequence[str]) -> list[dict[str, Any]]:
        """Paper-informed architectures to try before the sampler's own proposals (ARCHON.md: a fuser
        helps on every benchmark; critic + ranker before the fuser help; "Self-MoA", many samples of the
        best model fused, is a strong baseline). Each is clamped into this space; the strongest model
        (by power ranking) allowed in a role fills every role. Returned as trial parameters.
        """
        roles = self.roles_pool(ranking)
        best_role = next((m for m in ranking if m in roles), roles[0])
        k = self.top_k_models.values(cap=len(ranking))
        shapes = [
            (k[0], self.samples.high, "none"),  # Self-MoA: the best model sampled many times, fused
            (k[-1], self.samples.low, "critic_ranker"),  # the whole pool, critiqued, ranked, fused
            (_nearest(k, 3), _nearest(self.samples.values(), 2), "none"),  # a few top models, a few samples
        ]
        out: list[dict[str, Any]] = []
        for top_k, samples, selector in shapes:
            choice = Choice(
                top_k_models=top_k,
                samples=samples,
                fusion_layers=_nearest(self.fusion_layers.values(), 1),
                fusers_per_layer=self.fusers_per_layer.low,
                selector=selector if selector in self.selectors else self.selectors[0],
                final_check="none" if "none" in self.final_checks else self.final_checks[0],
                **{f"{role}_model": best_role for role in ROLES},
            )
            params = self.params(choice)
            if params not in out:
                out.append(params)
        return out

    def params(self, choice: Choice) -> dict[str, Any]:
        """The trial parameters `suggest` would sample to produce `choice` (only the axes it uses)."""
        params: dict[str, Any] = choice.model_dump(exclude={f"{r}_model" for r in ROLES})
        if choice.fusion_layers < 2:
            del params["fusers_per_layer"]
        return params | {f"{r}_model": getattr(choice, f"{r}_model") for r in roles_used(choice)}

    def build(self, choice: Choice, ranking: Sequence[str], name: str = "compiled") -> ArchitectureSpec:
        """The architecture of `choice`, generators taken from the power ranking (best first).

        Raises SpecError (naming the rule) when the combination is not a valid architecture.
        """
        lm = {"temperature": self.temperature, "max_tokens": self.max_tokens}
        layers: list[list[dict[str, Any]]] = [
            [
                {"type": "generator", "model": m, "samples": choice.samples, **lm}
                for m in ranking[: choice.top_k_models]
            ]
        ]
        critiqued = choice.selector == "critic_ranker"
        if choice.fusion_layers == 0:
            layers += self._check(choice, lm, critiqued, last=choice.selector == "none")
            layers += self._select(choice, lm, top_k=1)
        for i in range(choice.fusion_layers):
            last = i == choice.fusion_layers - 1
            layers += self._select(choice, lm, top_k=self.ranker_top_k)
            if last:
                layers += self._check(choice, lm, critiqued, last=False)
            fusers = 1 if last else choice.fusers_per_layer
            layers.append(
                [
                    {
                        "type": "fuser",
                        "model": choice.fuser_model,
                        "use_critiques": critiqued,
                        "max_inputs": self.max_fuser_inputs,
                        **lm,
                    }
                ]
                * fusers
            )
        return ArchitectureSpec.from_data({"name": name, "layers": layers}, source=f"architecture {choice}")

    def _select(self, choice: Choice, lm: dict[str, Any], top_k: int) -> list[list[dict[str, Any]]]:
        if choice.selector == "critic_ranker":
            return [
                [{"type": "critic", "model": choice.critic_model, **lm}],
                [
                    {
                        "type": "ranker",
                        "model": choice.ranker_model,
                        "top_k": top_k,
                        "use_critiques": True,
                        **lm,
                    }
                ],
            ]
        if choice.selector == "voter":
            return [[{"type": "voter", "top_k": top_k, "normaliser": self.voter_normaliser}]]
        return []

    def _check(
        self, choice: Choice, lm: dict[str, Any], critiqued: bool, last: bool
    ) -> list[list[dict[str, Any]]]:
        if choice.final_check == "verifier":
            return [[{"type": "verifier", "model": choice.verifier_model, "use_critiques": critiqued, **lm}]]
        if choice.final_check in ("unit_tests", "executed_tests"):
            executed = choice.final_check == "executed_tests"
            return [
                [
                    {
                        "type": "unit_test_generator",
                        "model": choice.unit_test_model,
                        "num_tests": self.num_unit_tests,
                        **lm,
                    }
                ],
                [
                    {
                        "type": "unit_test_evaluator",
                        "mode": "sandbox" if executed else "lm",
                        "model": None if executed else choice.unit_test_model,
                        "top_k": 1 if last else self.ranker_top_k,
                        **lm,
                    }
                ],
            ]
        return []

    def size(self, pool_size: int) -> SpaceSize:
        """Count parameter combinations and distinct valid architectures for a pool of `pool_size`."""
        return _size(self, pool_size)


def _suggest(trial: optuna.Trial, name: str, r: IntRange) -> int:
    return trial.suggest_int(name, r.low, r.high, step=r.step)


def _nearest(values: Sequence[int], target: int) -> int:
    return min(values, key=lambda v: (abs(v - target), v))


@functools.lru_cache(maxsize=16)
def _size(space: ArchonSpace, pool_size: int) -> SpaceSize:
    pool = [f"m{i}" for i in range(pool_size)]
    roles = len(space.roles_pool(pool))
    ks, samples = space.top_k_models.values(cap=pool_size), space.samples.values()
    depths, widths = space.fusion_layers.values(), space.fusers_per_layer.values()
    combinations = (
        len(ks)
        * len(samples)
        * len(depths)
        * len(widths)
        * len(space.selectors)
        * len(space.final_checks)
        * roles ** len(ROLES)
    )
    valid = 0
    for k, s, depth, sel, check in itertools.product(
        ks, samples, depths, space.selectors, space.final_checks
    ):
        for width in widths if depth >= 2 else widths[:1]:
            choice = Choice(
                top_k_models=k,
                samples=s,
                fusion_layers=depth,
                fusers_per_layer=width,
                selector=sel,
                final_check=check,
                **{f"{r}_model": pool[0] for r in ROLES},
            )
            try:
                space.build(choice, pool)
            except SpecError:
                continue
            valid += roles ** len(roles_used(choice))
    return SpaceSize(pool_size=pool_size, combinations=combinations, valid_architectures=valid)


def roles_used(choice: Choice) -> list[str]:
    """The roles whose model parameter matters for this choice."""
    used = ["fuser"] if choice.fusion_layers else []
    if choice.selector == "critic_ranker":
        used += ["critic", "ranker"]
    if choice.final_check == "verifier":
        used.append("verifier")
    if choice.final_check in ("unit_tests", "executed_tests"):
        used.append("unit_test")
    return used
