"""Architecture specs: the built-in component specs with their contracts, and layered architectures.

A spec is pure data (JSON or YAML). A component's `type` selects its spec class from the registry (the
built-ins below, plus plugins). `ArchitectureSpec` checks the rules of the paper (Table 4, `rules.py`)
when it is built, so an invalid architecture never reaches the runtime; errors name the layer, the
component and the rule.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from archon_compile import registry, rules
from archon_compile.contract import ComponentSpecBase, Flow, TokenEstimate
from archon_compile.errors import SpecError
from archon_compile.files import UnreadableFile, read_data

DEFAULT_MAX_FUSER_INPUTS = 24
# Upper bounds on every count, so that a typo (or a hostile spec) cannot ask for millions of calls or
# exhaust memory before the calls-per-query cap of `Program` is even consulted.
MAX_SAMPLES = 1000
MAX_TOP_K = 1000
MAX_TOKENS = 1_000_000
MAX_LAYERS = 100
MAX_COMPONENTS_PER_LAYER = 100
MAX_INSTRUCTIONS = 100_000  # characters of a node's own instructions
Model = Annotated[str, Field(min_length=1, max_length=500)]
Url = Annotated[str, Field(min_length=1, max_length=2000)]


class _Base(BaseModel):
    """The model settings of specs: architectures and the built-in component specs (listed first among
    a component spec's bases, so its settings reach plugins' specs built on `LMParams` too)."""

    # strict: no coercion (`samples: true`, `samples: "3"` and `max_tokens: 1e23` are refused)
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class LMParams(_Base, ComponentSpecBase):
    """The LM settings of a model-backed component."""

    model: Model
    api_base: Url | None = None
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    max_tokens: int = Field(1024, ge=1, le=MAX_TOKENS)
    instructions: str | None = Field(
        None,
        min_length=1,
        max_length=MAX_INSTRUCTIONS,
        description="replaces the instructions of this node's signature (e.g. ones tuned by a DSPy "
        "optimizer); part of the spec, so frozen into the artifact and its hash",
    )


class CritiquesOption(ComponentSpecBase):
    """Rule 3: a component that may be shown the critiques of its input."""

    use_critiques: bool = False

    def reads_critiques(self) -> bool:
        return self.use_critiques


class GeneratorSpec(LMParams):
    type: Literal["generator"] = "generator"
    samples: int = Field(1, ge=1, le=MAX_SAMPLES)

    component = "archon_compile.components.generator:Generator"
    stands_alone = False
    makes_candidates = True
    first_layer = True

    def calls(self, n: int) -> int:
        return self.samples

    def leaves(self, n: int) -> int:
        return self.samples

    def tokens(self, flow: Flow) -> TokenEstimate:
        """A generator reads the conversation alone."""
        return TokenEstimate(input=self.samples * flow.query_tokens, output=self.samples * self.max_tokens)


class FuserSpec(CritiquesOption, LMParams):
    type: Literal["fuser"] = "fuser"
    samples: int = Field(1, ge=1, le=MAX_SAMPLES)
    length_control: bool = False
    max_inputs: int = Field(DEFAULT_MAX_FUSER_INPUTS, ge=1, le=MAX_TOP_K)

    component = "archon_compile.components.fuser:Fuser"
    stands_alone = False
    makes_candidates = True

    def input_cap(self) -> int:
        return self.max_inputs

    def calls(self, n: int) -> int:
        return self.samples

    def leaves(self, n: int) -> int:
        return self.samples


class CriticSpec(LMParams):
    type: Literal["critic"] = "critic"

    component = "archon_compile.components.critic:Critic"
    adds_critiques = True

    def calls(self, n: int) -> int:
        return 1

    def passes_on(self, flow: Flow) -> Flow:
        return flow.model_copy(update={"critique_tokens": self.max_tokens // max(flow.n, 1)})


class RankerSpec(CritiquesOption, LMParams):
    type: Literal["ranker"] = "ranker"
    top_k: int = Field(5, ge=1, le=MAX_TOP_K)

    component = "archon_compile.components.ranker:Ranker"

    def calls(self, n: int) -> int:
        return 1

    def leaves(self, n: int) -> int:
        return min(n, self.top_k)


class VoterSpec(_Base, ComponentSpecBase):
    """Model-free self-consistency: keeps the candidates with the most frequent normalised answer."""

    type: Literal["voter"] = "voter"
    top_k: int = Field(1, ge=1, le=MAX_TOP_K)
    normaliser: str = Field("text", min_length=1, max_length=100)

    component = "archon_compile.components.voter:Voter"

    def leaves(self, n: int) -> int:
        return min(n, self.top_k)


class VerifierSpec(CritiquesOption, LMParams):
    type: Literal["verifier"] = "verifier"

    component = "archon_compile.components.verifier:Verifier"

    def calls(self, n: int) -> int:
        return 2 * n

    def tokens(self, flow: Flow) -> TokenEstimate:
        """Each candidate alone; the verdict call also reads the reasoning call's answer."""
        per_call = flow.prompt_tokens + flow.candidate_tokens + flow.critique_tokens + self.max_tokens // 2
        calls = self.calls(flow.n)
        return TokenEstimate(input=calls * per_call, output=calls * self.max_tokens)


class UnitTestGeneratorSpec(LMParams):
    type: Literal["unit_test_generator"] = "unit_test_generator"
    num_tests: int = Field(5, ge=1, le=50)
    # "assertions": executable Python asserts (for code); "criteria": statements an LM judges; "auto":
    # assertions when the last user message holds a ```python block, else criteria.
    tests: Literal["auto", "assertions", "criteria"] = "auto"

    component = "archon_compile.components.unit_tests:UnitTestGenerator"
    comes_before = "unit_test_evaluator"

    def calls(self, n: int) -> int:
        return 1

    def tokens(self, flow: Flow) -> TokenEstimate:
        return TokenEstimate(input=flow.prompt_tokens, output=self.max_tokens)

    def passes_on(self, flow: Flow) -> Flow:
        return flow.model_copy(update={"test_tokens": self.max_tokens})


class UnitTestEvaluatorSpec(_Base, ComponentSpecBase):
    """Judges candidates against the unit tests, with an LM (`mode="lm"`) or by execution in the sandbox."""

    type: Literal["unit_test_evaluator"] = "unit_test_evaluator"
    mode: Literal["lm", "sandbox"] = "lm"
    model: Model | None = None
    api_base: Url | None = None
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(512, ge=1, le=MAX_TOKENS)
    top_k: int = Field(1, ge=1, le=MAX_TOP_K)

    component = "archon_compile.components.unit_tests:UnitTestEvaluator"
    comes_after = "unit_test_generator"

    @model_validator(mode="after")
    def _needs_model_for_lm(self) -> UnitTestEvaluatorSpec:
        if self.mode == "lm" and not self.model:
            raise ValueError("unit_test_evaluator with mode 'lm' needs a 'model'")
        return self

    def calls(self, n: int) -> int:
        return n if self.mode == "lm" else 0

    def leaves(self, n: int) -> int:
        return min(n, self.top_k)

    def tokens(self, flow: Flow) -> TokenEstimate:
        """Each candidate alone, with the tests."""
        calls = self.calls(flow.n)
        per_call = flow.prompt_tokens + flow.candidate_tokens + flow.test_tokens
        return TokenEstimate(input=calls * per_call, output=calls * self.max_tokens)


BUILTIN: tuple[type[ComponentSpecBase], ...] = (
    GeneratorSpec,
    FuserSpec,
    CriticSpec,
    RankerSpec,
    VoterSpec,
    VerifierSpec,
    UnitTestGeneratorSpec,
    UnitTestEvaluatorSpec,
)
for _cls in BUILTIN:
    registry.register_spec(_cls)


def _component_spec(value: Any, handler: ValidatorFunctionWrapHandler) -> ComponentSpecBase:
    """A component's dict validated by the spec class of its `type` (errors keep its place and type)."""
    if isinstance(value, ComponentSpecBase):
        return value
    if not isinstance(value, dict):
        raise PydanticCustomError("component", "a component is an object with a 'type'")
    try:
        cls = registry.spec_class(value.get("type"))
    except registry.RegistryError as exc:
        raise PydanticCustomError("component_type", str(exc)) from None
    try:
        return cls.model_validate(value)
    except ValidationError as exc:
        raise ValidationError.from_exception_data(
            exc.title,
            [
                InitErrorDetails(
                    type=PydanticCustomError(e["type"], e["msg"]),
                    loc=(value["type"], *e["loc"]),
                    input=e["input"],
                )
                for e in exc.errors()
            ],
        ) from None


ComponentSpec = Annotated[SerializeAsAny[ComponentSpecBase], WrapValidator(_component_spec)]


def node_id(layer: int, index: int) -> str:
    """The id of the `index`-th component of layer `layer` (`L1.C0`): traces, artifacts and origins."""
    return f"L{layer}.C{index}"


class ArchitectureSpec(_Base):
    """A layered architecture: `layers[i]` is the list of components of layer i."""

    name: str = Field("architecture", max_length=200)
    description: str = Field("", max_length=10_000)
    layers: list[Annotated[list[ComponentSpec], Field(max_length=MAX_COMPONENTS_PER_LAYER)]] = Field(
        min_length=1, max_length=MAX_LAYERS
    )

    @model_validator(mode="after")
    def _check_rules(self) -> ArchitectureSpec:
        rules.check_construction_rules(self.layers)
        return self

    # -- static analysis used by budgets and reports -------------------------------------------
    def candidate_counts(self) -> list[int]:
        """Upper bound of the candidates leaving each layer."""
        return rules.flow(self.layers)[0]

    def calls_per_query(self) -> int:
        """LM calls one query costs when every call succeeds first time (no retries, no cache)."""
        return sum(rules.flow(self.layers)[1])

    def models(self) -> list[str]:
        seen: dict[str, None] = {}
        for layer in self.layers:
            for comp in layer:
                model = getattr(comp, "model", None)
                if model:
                    seen[model] = None
        return list(seen)

    def with_lms(self, change: Callable[[str, str | None], Mapping[str, str]], why: str) -> ArchitectureSpec:
        """The same architecture, each model-backed component updated with what `change(model, api_base)`
        returns (`model` and/or `api_base`; empty: unchanged), and checked again (a `SpecError` names
        the spec and `why` it was rewritten)."""
        data = self.model_dump()
        for layer in data["layers"]:
            for comp in layer:
                if comp.get("model"):
                    comp.update(change(comp["model"], comp.get("api_base")))
        return ArchitectureSpec.from_data(data, source=f"{self.name} {why}")

    # -- I/O ------------------------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | Path) -> ArchitectureSpec:
        return cls.from_data(read_spec_file(path), source=str(path))

    @classmethod
    def from_data(cls, data: object, source: str = "<spec>") -> ArchitectureSpec:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            # pydantic wraps the rules' own error; unwrapped, a caller can tell a broken rule apart
            kind = rules.ConstructionError if _broken_rule(exc) else SpecError
            raise kind(f"{source}: invalid architecture spec:\n{_explain(exc)}") from None
        except RecursionError:
            raise SpecError(f"{source}: invalid architecture spec: nested too deeply") from None

    def to_json(self) -> str:
        return self.model_dump_json(indent=2, exclude_defaults=False)


def read_spec_file(path: str | Path) -> object:
    try:
        return read_data(path)
    except UnreadableFile as exc:
        raise SpecError(str(exc)) from None


def _broken_rule(exc: ValidationError) -> bool:
    return any(isinstance(e.get("ctx", {}).get("error"), rules.ConstructionError) for e in exc.errors())


def _explain(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = list(err["loc"])
        where = ""
        if len(loc) >= 3 and loc[0] == "layers":
            kind = f" ({loc[3]})" if len(loc) > 3 else ""
            where = f"layer {loc[1]}, component {loc[2]}{kind}" + (": " if len(loc) > 4 else "")
            loc = loc[4:]
        field = ".".join(str(x) for x in loc)
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"  - {where}{field or ('' if where else '<root>')}: {msg}")
    return "\n".join(lines)
