"""Architecture specs: pydantic models of components and layers, and ARCHON's construction rules.

A spec is pure data (JSON or YAML). `ArchitectureSpec` validates the rules of the paper (Table 4) when
it is built, so an invalid architecture never reaches the runtime; errors name the layer, the component
and the rule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from archon_compile.errors import ArchonError
from archon_compile.files import UnreadableFile, read_data

DEFAULT_MAX_FUSER_INPUTS = 24
# Upper bounds on every count, so that a typo (or a hostile spec) cannot ask for millions of calls or
# exhaust memory before the calls-per-query cap of `Program` is even consulted.
MAX_SAMPLES = 1000
MAX_TOP_K = 1000
MAX_TOKENS = 1_000_000
MAX_LAYERS = 100
MAX_COMPONENTS_PER_LAYER = 100
Model = Annotated[str, Field(min_length=1, max_length=500)]
Url = Annotated[str, Field(min_length=1, max_length=2000)]


class _Base(BaseModel):
    # strict: no coercion (`samples: true`, `samples: "3"` and `max_tokens: 1e23` are refused)
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class LMParams(_Base):
    """The LM settings of a model-backed component."""

    model: Model
    api_base: Url | None = None
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    max_tokens: int = Field(1024, ge=1, le=MAX_TOKENS)


class GeneratorSpec(LMParams):
    type: Literal["generator"] = "generator"
    samples: int = Field(1, ge=1, le=MAX_SAMPLES)


class FuserSpec(LMParams):
    type: Literal["fuser"] = "fuser"
    samples: int = Field(1, ge=1, le=MAX_SAMPLES)
    use_critiques: bool = False
    length_control: bool = False
    max_inputs: int = Field(DEFAULT_MAX_FUSER_INPUTS, ge=1, le=MAX_TOP_K)


class CriticSpec(LMParams):
    type: Literal["critic"] = "critic"


class RankerSpec(LMParams):
    type: Literal["ranker"] = "ranker"
    top_k: int = Field(5, ge=1, le=MAX_TOP_K)
    use_critiques: bool = False


class VoterSpec(_Base):
    """Model-free self-consistency: keeps the candidates with the most frequent normalised answer."""

    type: Literal["voter"] = "voter"
    top_k: int = Field(1, ge=1, le=MAX_TOP_K)
    normaliser: str = Field("text", min_length=1, max_length=100)


class VerifierSpec(LMParams):
    type: Literal["verifier"] = "verifier"
    use_critiques: bool = False


class UnitTestGeneratorSpec(LMParams):
    type: Literal["unit_test_generator"] = "unit_test_generator"
    num_tests: int = Field(5, ge=1, le=50)


class UnitTestEvaluatorSpec(_Base):
    """Judges candidates against the unit tests, with an LM (`mode="lm"`) or by execution in the sandbox."""

    type: Literal["unit_test_evaluator"] = "unit_test_evaluator"
    mode: Literal["lm", "sandbox"] = "lm"
    model: Model | None = None
    api_base: Url | None = None
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(512, ge=1, le=MAX_TOKENS)
    top_k: int = Field(1, ge=1, le=MAX_TOP_K)

    @model_validator(mode="after")
    def _needs_model_for_lm(self) -> UnitTestEvaluatorSpec:
        if self.mode == "lm" and not self.model:
            raise ValueError("unit_test_evaluator with mode 'lm' needs a 'model'")
        return self


ComponentSpec = Annotated[
    GeneratorSpec
    | FuserSpec
    | CriticSpec
    | RankerSpec
    | VoterSpec
    | VerifierSpec
    | UnitTestGeneratorSpec
    | UnitTestEvaluatorSpec,
    Field(discriminator="type"),
]

SOLO_TYPES = {"critic", "ranker", "voter", "verifier", "unit_test_generator", "unit_test_evaluator"}
CANDIDATE_MAKERS = {"generator", "fuser"}


class ConstructionError(ArchonError, ValueError):
    """An architecture breaks one of ARCHON's construction rules."""


class ArchitectureSpec(_Base):
    """A layered architecture: `layers[i]` is the list of components of layer i."""

    name: str = Field("architecture", max_length=200)
    description: str = Field("", max_length=10_000)
    layers: list[Annotated[list[ComponentSpec], Field(max_length=MAX_COMPONENTS_PER_LAYER)]] = Field(
        min_length=1, max_length=MAX_LAYERS
    )

    @model_validator(mode="after")
    def _check_rules(self) -> ArchitectureSpec:
        check_construction_rules(self)
        return self

    # -- static analysis used by budgets and reports -------------------------------------------
    def candidate_counts(self) -> list[int]:
        """Upper bound of the candidates leaving each layer."""
        return _flow(self)[0]

    def calls_per_query(self) -> int:
        """LM calls one query costs when every call succeeds first time (no retries, no cache)."""
        return _flow(self)[1]

    def models(self) -> list[str]:
        seen: dict[str, None] = {}
        for layer in self.layers:
            for comp in layer:
                model = getattr(comp, "model", None)
                if model:
                    seen[model] = None
        return list(seen)

    # -- I/O ------------------------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | Path) -> ArchitectureSpec:
        return cls.from_data(read_spec_file(path), source=str(path))

    @classmethod
    def from_data(cls, data: object, source: str = "<spec>") -> ArchitectureSpec:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise SpecError(f"{source}: invalid architecture spec:\n{_explain(exc)}") from None
        except RecursionError:
            raise SpecError(f"{source}: invalid architecture spec: nested too deeply") from None

    def to_json(self) -> str:
        return self.model_dump_json(indent=2, exclude_defaults=False)


class SpecError(ArchonError, ValueError):
    """A spec file that cannot be read or validated; the message names the file and the field."""


def read_spec_file(path: str | Path) -> object:
    try:
        return read_data(path)
    except UnreadableFile as exc:
        raise SpecError(str(exc)) from None


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


def _where(layer: int, index: int, comp: BaseModel) -> str:
    return f"layer {layer}, component {index} ({getattr(comp, 'type', '?')})"


def check_construction_rules(spec: ArchitectureSpec) -> None:
    """Raise ConstructionError naming the layer, component and rule broken by `spec`."""
    critiqued = False
    has_tests = False
    n_layers = len(spec.layers)
    for li, layer in enumerate(spec.layers):
        if not layer:
            raise ConstructionError(f"layer {li}: a layer needs at least one component")
        types = {c.type for c in layer}
        if len(types) > 1:
            raise ConstructionError(
                f"layer {li}: rule 1 (one component type per layer) broken by types {sorted(types)}"
            )
        kind = layer[0].type
        if li == 0 and kind != "generator":
            raise ConstructionError(f"{_where(li, 0, layer[0])}: rule 2 (the first layer holds generators)")
        if li > 0 and kind == "generator":
            raise ConstructionError(f"{_where(li, 0, layer[0])}: rule 2 (generators only in the first layer)")
        if kind in SOLO_TYPES and len(layer) > 1:
            raise ConstructionError(f"{_where(li, 1, layer[1])}: rule 4 (a {kind} stands alone in its layer)")
        for ci, comp in enumerate(layer):
            if getattr(comp, "use_critiques", False) and not critiqued:
                raise ConstructionError(
                    f"{_where(li, ci, comp)}: rule 3 (use_critiques needs a critic after the candidates "
                    "were made and before this layer)"
                )
        if kind == "unit_test_evaluator" and not has_tests:
            raise ConstructionError(
                f"{_where(li, 0, layer[0])}: rule 5 (a unit_test_generator must come right before the "
                "unit_test_evaluator)"
            )
        if kind == "unit_test_generator" and (
            li + 1 >= n_layers or spec.layers[li + 1][0].type != "unit_test_evaluator"
        ):
            raise ConstructionError(
                f"{_where(li, 0, layer[0])}: rule 5 (a unit_test_generator must be followed by a "
                "unit_test_evaluator)"
            )
        if kind in CANDIDATE_MAKERS:
            critiqued = False
        elif kind == "critic":
            critiqued = True
        has_tests = kind == "unit_test_generator"
    counts, _ = _flow(spec, check=True)
    if counts[-1] != 1:
        last = spec.layers[-1][0]
        raise ConstructionError(
            f"{_where(n_layers - 1, 0, last)}: rule 6 (the last layer must leave exactly one candidate; "
            f"this one may leave {counts[-1]}: end with a single fuser with samples 1, or a ranker, voter "
            "or unit_test_evaluator with top_k 1)"
        )


def _flow(spec: ArchitectureSpec, check: bool = False) -> tuple[list[int], int]:
    """Propagate candidate counts (upper bounds) and count LM calls per query."""
    n = 0
    calls = 0
    counts: list[int] = []
    for li, layer in enumerate(spec.layers):
        for ci, c in enumerate(layer):
            if check and isinstance(c, FuserSpec) and n > c.max_inputs:
                raise ConstructionError(
                    f"{_where(li, ci, c)}: a fuser's input is capped at max_inputs={c.max_inputs} "
                    f"candidates but this layer receives {n}"
                )
        head = layer[0]
        if isinstance(head, GeneratorSpec | FuserSpec):
            n = sum(getattr(c, "samples", 1) for c in layer)
            calls += n
        elif isinstance(head, CriticSpec | UnitTestGeneratorSpec):
            calls += 1
        elif isinstance(head, RankerSpec):
            calls += 1
            n = min(n, head.top_k)
        elif isinstance(head, VoterSpec):
            n = min(n, head.top_k)
        elif isinstance(head, VerifierSpec):
            calls += 2 * n
        elif isinstance(head, UnitTestEvaluatorSpec):
            calls += n if head.mode == "lm" else 0
            n = min(n, head.top_k)
        counts.append(n)
    return counts, calls
