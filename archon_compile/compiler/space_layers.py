"""What a search choice becomes: typed component specs, layer by layer.

Built-in roles (critic + ranker, voter, verifier, unit tests) and `SpaceOption`s — any registered
component, a plugin's included — are placed the same way; `ArchitectureSpec` then checks the result
against every component's contract.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny

from archon_compile.contract import ComponentSpecBase
from archon_compile.spec import (
    CriticSpec,
    RankerSpec,
    UnitTestEvaluatorSpec,
    UnitTestGeneratorSpec,
    VerifierSpec,
    VoterSpec,
)

Layer = list[ComponentSpecBase]
OptionAxis = Literal["selector", "final_check", "extra"]


class SpaceOption(BaseModel):
    """A component the search may place: one more choice on the selector or final-check axis, or an
    axis of its own (`extra`: on or off; when on, its layer ends the architecture).

    `component` is a template: when it has a `model` field, each trial samples that model from the role
    pool (parameter `<name>_model`); when it has `top_k`, a selector's gets the cut the place needs.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    axis: OptionAxis
    component: SerializeAsAny[ComponentSpecBase]

    @property
    def has_model(self) -> bool:
        return "model" in type(self.component).model_fields

    def layer(self, model: str | None, top_k: int | None = None) -> Layer:
        fields = type(self.component).model_fields
        update: dict[str, Any] = {"model": model} if self.has_model and model else {}
        if top_k is not None and "top_k" in fields:
            update["top_k"] = top_k
        return [type(self.component).model_validate(self.component.model_dump() | update)]


def selector_layers(
    selector: str, models: dict[str, str], lm: dict[str, Any], top_k: int, normaliser: str
) -> list[Layer]:
    """The layers of a built-in selector: critic + ranker (with critiques), a voter, or none."""
    if selector == "critic_ranker":
        return [
            [CriticSpec(model=models["critic"], **lm)],
            [RankerSpec(model=models["ranker"], top_k=top_k, use_critiques=True, **lm)],
        ]
    if selector == "voter":
        return [[VoterSpec(top_k=top_k, normaliser=normaliser)]]
    return []


def check_layers(
    check: str, models: dict[str, str], lm: dict[str, Any], critiqued: bool, top_k: int, num_tests: int
) -> list[Layer]:
    """The layers of a built-in final check: a verifier, LM-judged or executed unit tests, or none."""
    if check == "verifier":
        return [[VerifierSpec(model=models["verifier"], use_critiques=critiqued, **lm)]]
    if check in ("unit_tests", "executed_tests"):
        executed = check == "executed_tests"
        return [
            [
                UnitTestGeneratorSpec(
                    model=models["unit_test"],
                    num_tests=num_tests,
                    tests="assertions" if executed else "auto",
                    **lm,
                )
            ],
            [
                UnitTestEvaluatorSpec(
                    mode="sandbox" if executed else "lm",
                    model=None if executed else models["unit_test"],
                    top_k=top_k,
                    **lm,
                )
            ],
        ]
    return []
