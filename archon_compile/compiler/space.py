"""The ARCHON search space: six axes (paper, "ITAS") plus the voter and the model of every role.

The space is conditional (define-by-run): an axis is suggested only when the architecture uses it —
`fusers_per_layer` only with two or more fusion layers, a role's model only when that role is in the
architecture. Parameters that cannot change the architecture would only dilute the sampler's model
(its Gaussian process, and its TPE, which models each group of co-occurring axes jointly), and two parameter
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
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from archon_compile.compiler.space_layers import Layer, SpaceOption, check_layers, selector_layers
from archon_compile.errors import SpecError
from archon_compile.spec import (
    DEFAULT_MAX_FUSER_INPUTS,
    ArchitectureSpec,
    FuserSpec,
    GeneratorSpec,
)

if TYPE_CHECKING:
    from archon_compile.tasks.base import Task

Selector = Literal["none", "critic_ranker", "voter"]
Check = Literal["none", "verifier", "unit_tests", "executed_tests"]
ROLES = ("fuser", "critic", "ranker", "verifier", "unit_test")


class Asks(Protocol):
    """What `ArchonSpace.suggest` asks of a trial: an Optuna trial, or a candidate's parameters."""

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int: ...

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any: ...


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


class TrialChoice(BaseModel):
    """One trial's parameters: what a sampled architecture is made of."""

    model_config = ConfigDict(frozen=True)

    top_k_models: int = Field(ge=1)
    samples: int = Field(ge=1)
    fusion_layers: int = Field(ge=0)
    fusers_per_layer: int = Field(ge=1)
    selector: str = Field(description="a Selector, or the name of a SpaceOption on the selector axis")
    final_check: str = Field(description="a Check, or the name of a SpaceOption on the final_check axis")
    fuser_model: str
    critic_model: str
    ranker_model: str
    verifier_model: str
    unit_test_model: str
    extras: tuple[str, ...] = Field((), description="the `extra` SpaceOptions switched on")
    option_models: tuple[tuple[str, str], ...] = Field((), description="(option name, model) pairs")


class SpaceSize(BaseModel):
    """Parameter combinations vs distinct architectures that pass the construction rules."""

    pool_size: int
    combinations: int
    valid_architectures: int


class ArchonSpace(BaseModel):
    """The searchable axes, with the paper's ranges as defaults (ARCHON.md, "The search").

    `fusion_layers` may start at 0: the architecture then ends with the selector (ranker or voter with
    top_k 1) or a unit-test evaluator instead of a fuser. `role_models` restricts the models that may
    fill the fuser/critic/ranker/verifier/unit-test roles (default: the whole pool). `options` add
    components, plugins' included, as more choices of the selector or final-check axis or as extra
    axes (`SpaceOption`).
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
    options: tuple[SpaceOption, ...] = ()

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
        names = [o.name for o in self.options]
        taken = {
            *TrialChoice.model_fields,
            *self.selectors,
            *self.final_checks,
            *(f"{r}_model" for r in ROLES),
        }
        clash = sorted({n for n in names if names.count(n) > 1 or n in taken})
        if clash:
            raise ValueError(f"option names {clash} repeat or clash with the space's own axes and choices")
        return self

    def axis_choices(self, axis: str) -> list[str]:
        """The built-in choices of the selector or final_check axis, then its options'."""
        own = self.selectors if axis == "selector" else self.final_checks
        return [*own, *(o.name for o in self.options if o.axis == axis)]

    def options_used(self, choice: TrialChoice) -> list[SpaceOption]:
        on = {choice.selector, choice.final_check, *choice.extras}
        return [o for o in self.options if o.name in on]

    @classmethod
    def for_task(cls, task: Task) -> ArchonSpace:
        """The default space; for code, also unit tests executed in the sandbox and no fuser at all (the
        paper's code recipe, samples filtered by executed tests, ends with the evaluator)."""
        if not task.answers_are_code:
            return cls()
        return cls(
            fusion_layers=IntRange(low=0, high=4),
            final_checks=("none", "verifier", "unit_tests", "executed_tests"),
        )

    def roles_pool(self, pool: Sequence[str]) -> tuple[str, ...]:
        return tuple(self.role_models) if self.role_models else tuple(pool)

    def suggest(self, trial: Asks, pool: Sequence[str]) -> TrialChoice:
        """Sample the axes this architecture uses; the others get fixed values `build` ignores."""
        k = self.top_k_models.values(cap=len(pool))
        roles = list(self.roles_pool(pool))
        depth = _suggest(trial, "fusion_layers", self.fusion_layers)
        base = TrialChoice(
            top_k_models=trial.suggest_int("top_k_models", k[0], k[-1]),
            samples=_suggest(trial, "samples", self.samples),
            fusion_layers=depth,
            fusers_per_layer=(
                _suggest(trial, "fusers_per_layer", self.fusers_per_layer)
                if depth >= 2
                else self.fusers_per_layer.low
            ),
            selector=trial.suggest_categorical("selector", self.axis_choices("selector")),
            final_check=trial.suggest_categorical("final_check", self.axis_choices("final_check")),
            **{f"{role}_model": roles[0] for role in ROLES},
            extras=tuple(
                o.name
                for o in self.options
                if o.axis == "extra" and trial.suggest_categorical(o.name, [False, True])
            ),
        )
        used: dict[str, Any] = {
            f"{r}_model": trial.suggest_categorical(f"{r}_model", roles) for r in roles_used(base)
        }
        used["option_models"] = tuple(
            (o.name, trial.suggest_categorical(f"{o.name}_model", roles))
            for o in self.options_used(base)
            if o.has_model
        )
        return base.model_copy(update=used)

    def prior(self, ranking: Sequence[str]) -> list[dict[str, Any]]:
        """Paper-informed architectures to try before the sampler's own proposals (ARCHON.md: a fuser
        helps on every benchmark; critic + ranker before the fuser help; "Self-MoA", many samples of the
        best model fused, is a strong baseline; for code, samples filtered by executed unit tests come
        first). Each is clamped into this space; the strongest model
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
        out: list[dict[str, Any]] = [self.params(c) for c in self._code_recipe(k, best_role)]
        for top_k, samples, selector in shapes:
            choice = TrialChoice(
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

    def _code_recipe(self, k: Sequence[int], best: str) -> list[TrialChoice]:
        """The paper's recipe for code, first when this space holds it: a few samples of the best model,
        filtered by unit tests executed in the sandbox, the top one returned (no fuser)."""
        if "executed_tests" not in self.final_checks or 0 not in self.fusion_layers.values():
            return []
        recipe = TrialChoice(
            top_k_models=k[0],
            samples=_nearest(self.samples.values(), 3),
            fusion_layers=0,
            fusers_per_layer=self.fusers_per_layer.low,
            selector="none" if "none" in self.selectors else self.selectors[0],
            final_check="executed_tests",
            **{f"{role}_model": best for role in ROLES},
        )
        return [recipe]

    def params(self, choice: TrialChoice) -> dict[str, Any]:
        """The trial parameters `suggest` would sample to produce `choice` (only the axes it uses)."""
        params: dict[str, Any] = choice.model_dump(
            exclude={"extras", "option_models", *(f"{r}_model" for r in ROLES)}
        )
        if choice.fusion_layers < 2:
            del params["fusers_per_layer"]
        params |= {o.name: o.name in choice.extras for o in self.options if o.axis == "extra"}
        params |= {f"{name}_model": model for name, model in choice.option_models}
        return params | {f"{r}_model": getattr(choice, f"{r}_model") for r in roles_used(choice)}

    def build(self, choice: TrialChoice, ranking: Sequence[str], name: str = "compiled") -> ArchitectureSpec:
        """The architecture of `choice`, generators taken from the power ranking (best first).

        Raises SpecError (naming the rule) when the combination is not a valid architecture.
        """
        lm: dict[str, Any] = {"temperature": self.temperature, "max_tokens": self.max_tokens}
        gens = [GeneratorSpec(model=m, samples=choice.samples, **lm) for m in ranking[: choice.top_k_models]]
        layers: list[Layer] = [list(gens)]
        critiqued = choice.selector == "critic_ranker"
        if choice.fusion_layers == 0:
            layers += self._check(choice, lm, critiqued, last=choice.selector == "none")
            layers += self._select(choice, lm, top_k=1)
        for i in range(choice.fusion_layers):
            last = i == choice.fusion_layers - 1
            layers += self._select(choice, lm, top_k=self.ranker_top_k)
            if last:
                layers += self._check(choice, lm, critiqued, last=False)
            fuser = FuserSpec(
                model=choice.fuser_model, use_critiques=critiqued, max_inputs=self.max_fuser_inputs, **lm
            )
            layers.append([fuser] * (1 if last else choice.fusers_per_layer))
        models = dict(choice.option_models)
        layers += [o.layer(models.get(o.name)) for o in self.options if o.name in choice.extras]
        return ArchitectureSpec.from_data({"name": name, "layers": layers}, source=f"architecture {choice}")

    def _models(self, choice: TrialChoice) -> dict[str, str]:
        return {r: getattr(choice, f"{r}_model") for r in ROLES} | dict(choice.option_models)

    def _option(self, name: str) -> SpaceOption | None:
        return next((o for o in self.options if o.name == name), None)

    def _select(self, choice: TrialChoice, lm: dict[str, Any], top_k: int) -> list[Layer]:
        option = self._option(choice.selector)
        if option is not None:
            return [option.layer(self._models(choice).get(option.name), top_k)]
        return selector_layers(choice.selector, self._models(choice), lm, top_k, self.voter_normaliser)

    def _check(self, choice: TrialChoice, lm: dict[str, Any], critiqued: bool, last: bool) -> list[Layer]:
        top_k = 1 if last else self.ranker_top_k
        option = self._option(choice.final_check)
        if option is not None:
            return [option.layer(self._models(choice).get(option.name), top_k)]
        return check_layers(
            choice.final_check, self._models(choice), lm, critiqued, top_k, self.num_unit_tests
        )

    def size(self, pool_size: int) -> SpaceSize:
        """Count parameter combinations and distinct valid architectures for a pool of `pool_size`."""
        return _size(self, pool_size)


def _suggest(trial: Asks, name: str, r: IntRange) -> int:
    return trial.suggest_int(name, r.low, r.high, step=r.step)


def _nearest(values: Sequence[int], target: int) -> int:
    return min(values, key=lambda v: (abs(v - target), v))


@functools.lru_cache(maxsize=16)
def _size(space: ArchonSpace, pool_size: int) -> SpaceSize:
    pool = [f"m{i}" for i in range(pool_size)]
    roles = len(space.roles_pool(pool))
    ks, samples = space.top_k_models.values(cap=pool_size), space.samples.values()
    depths, widths = space.fusion_layers.values(), space.fusers_per_layer.values()
    selectors, checks = space.axis_choices("selector"), space.axis_choices("final_check")
    extras = [o.name for o in space.options if o.axis == "extra"]
    modelled = [o for o in space.options if o.has_model]
    combinations = (
        len(ks) * len(samples) * len(depths) * len(widths) * len(selectors) * len(checks) * 2 ** len(extras)
    ) * roles ** (len(ROLES) + len(modelled))
    valid = 0
    for base in structures(space, pool):
        options = space.options_used(base)
        modelled_here = tuple((o.name, pool[0]) for o in options if o.has_model)
        choice = base.model_copy(update={"option_models": modelled_here})
        try:
            space.build(choice, pool)
        except SpecError:
            continue
        valid += roles ** (len(roles_used(choice)) + sum(o.has_model for o in options))
    return SpaceSize(pool_size=pool_size, combinations=combinations, valid_architectures=valid)


def structures(space: ArchonSpace, pool: Sequence[str]) -> Iterator[TrialChoice]:
    """Every combination of the structural axes (a fuser width only with 2+ fusion layers; each extra
    option on or off), every role on the pool's first model: the grid that role models then vary."""
    ks, samples = space.top_k_models.values(cap=len(pool)), space.samples.values()
    depths, widths = space.fusion_layers.values(), space.fusers_per_layer.values()
    selectors, checks = space.axis_choices("selector"), space.axis_choices("final_check")
    extras = [o.name for o in space.options if o.axis == "extra"]
    switches = list(itertools.product(*[[(), (name,)] for name in extras]))
    for k, s, depth, sel, check, on in itertools.product(ks, samples, depths, selectors, checks, switches):
        for width in widths if depth >= 2 else widths[:1]:
            yield TrialChoice(
                top_k_models=k,
                samples=s,
                fusion_layers=depth,
                fusers_per_layer=width,
                selector=sel,
                final_check=check,
                **{f"{r}_model": pool[0] for r in ROLES},
                extras=tuple(name for part in on for name in part),
            )


def roles_used(choice: TrialChoice) -> list[str]:
    """The roles whose model parameter matters for this choice."""
    used = ["fuser"] if choice.fusion_layers else []
    if choice.selector == "critic_ranker":
        used += ["critic", "ranker"]
    if choice.final_check == "verifier":
        used.append("verifier")
    if choice.final_check in ("unit_tests", "executed_tests"):
        used.append("unit_test")
    return used
