"""Import the original ARCHON JSON configs as `ArchitectureSpec`s.

The original format is `{"name": ..., "layers": [[{"type": ..., "model": ..., "model_type": ...}, ...]]}`
(older files wrap a layer as `{"branches": n, "models": [...]}`). The conversion follows what the
original code *did* with each key, not what its name suggests, and reports every difference as a
warning: no key is dropped silently. A config whose architecture breaks a construction rule, or that
uses something with no equivalent here, is refused with an error naming the file, layer and component.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from archon_compile.contract import ComponentSpecBase
from archon_compile.errors import ArchonError, SpecError
from archon_compile.files import UnreadableFile, parse_json, read_text
from archon_compile.registry import spec_class, type_name
from archon_compile.spec import (
    DEFAULT_MAX_FUSER_INPUTS,
    ArchitectureSpec,
    ComponentSpec,
    CriticSpec,
    CritiquesOption,
    FuserSpec,
    GeneratorSpec,
    RankerSpec,
    UnitTestEvaluatorSpec,
    UnitTestGeneratorSpec,
    VerifierSpec,
)

# model_type -> LiteLLM provider prefix (the original's GENERATE_MAP keys).
PROVIDERS = {
    "Together_API": "together_ai",
    "OpenAI_API": "openai",
    "Anthropic_API": "anthropic",
    "Groq_API": "groq",
    "Google_API": "gemini",
    "Bedrock_API": "bedrock",
}
# Self-hosted servers: the original ran vLLM in-process and called TGI; both speak the OpenAI API.
SELF_HOSTED = {"vLLM", "tgi"}
REWARD_MODEL_RANKERS = {"llm-blender/PairRM"}
# Keys the original code never read for LM components (why each is ignored).
UNREAD_KEYS = {
    "checkpoint": "a legacy key the original code never read",
    "ranker_batch_size": "used only by the original's PairRM reward-model ranker",
    "batch_num": "the original code never read it",
    "top_k_generations": "the original fuser never read it",
    "fuse_generations_count": "the original fuser never read it",
    "ranker_config": "the original fuser never read it",
}
_COMPONENT = TypeAdapter(ComponentSpec)


class ArchonImportError(ArchonError, ValueError):
    """A config that cannot be converted; the message names the file, the place and the reason.

    `reason` is a short category for batch summaries, e.g. "invalid JSON" or "rule 1 (one component type
    per layer)".
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class ImportResult(BaseModel):
    """A converted config: the spec and every difference from the original's behaviour."""

    source: str
    spec: ArchitectureSpec
    warnings: list[str]


class ImportOutcome(BaseModel):
    """One file of a batch: converted (`result`) or refused (`error`, `reason`)."""

    path: str
    result: ImportResult | None = None
    error: str | None = None
    reason: str | None = None


class _Notes:
    """Warnings of one conversion, grouped so that eight identical generators give one line."""

    def __init__(self) -> None:
        self._groups: dict[tuple[int | None, str, str], list[int]] = {}

    def add(self, layer: int | None, component: int | None, kind: str, message: str) -> None:
        places = self._groups.setdefault((layer, kind, message), [])
        if component is not None:
            places.append(component)

    def lines(self) -> list[str]:
        return [
            f"{_place(layer, comps)} ({kind}): {message}"
            for (layer, kind, message), comps in self._groups.items()
        ]


def _place(layer: int | None, components: list[int]) -> str:
    if layer is None:
        return "config"
    if not components:
        return f"layer {layer}"
    if len(components) == 1:
        return f"layer {layer}, component {components[0]}"
    return f"layer {layer}, components {', '.join(map(str, components))}"


# -- public API ---------------------------------------------------------------------------------------


def import_file(path: str | Path, api_base: str | None = None) -> ImportResult:
    """Convert one original ARCHON config file; `api_base` is used for self-hosted (vLLM/TGI) models."""
    p = Path(path)
    try:
        data = parse_json(read_text(p), p)
    except UnreadableFile as exc:
        raise ArchonImportError(str(exc), exc.reason) from None
    try:
        return convert(data, source=str(p), api_base=api_base)
    except RecursionError:
        raise ArchonImportError(f"{p}: not an ARCHON config: nested too deeply", "not a config") from None


def convert(data: object, source: str = "<config>", api_base: str | None = None) -> ImportResult:
    """Convert a parsed original config (a dict) into an `ArchitectureSpec` plus warnings."""
    if not isinstance(data, dict) or not isinstance(data.get("layers"), list) or not data["layers"]:
        raise ArchonImportError(
            f"{source}: not an ARCHON config: expected an object with a non-empty 'layers' list",
            "not a config",
        )
    notes = _Notes()
    for key in sorted(set(data) - {"name", "layers"}):
        notes.add(None, None, "top level", f"key {key!r} ignored: archon-compile specs have no equivalent")
    raw_layers = [_layer_items(layer, li, source, notes) for li, layer in enumerate(data["layers"])]
    order = _layer_order(raw_layers, source, notes)
    layers: list[list[dict[str, Any]]] = []
    critiques = False  # whether the original passed critiques into the layer being converted
    for li in order:
        incoming = _incoming(layers)
        layers.append(
            [
                _component(raw, _Ctx(source, li, ci, raw["type"], incoming, critiques, api_base, notes))
                for ci, raw in enumerate(raw_layers[li])
            ]
        )
        critiques = _passes_critiques(spec_class(_layer_kind(raw_layers[li])), critiques)
    name = data.get("name") if isinstance(data.get("name"), str) else Path(source).stem
    spec_data = {
        "name": name,
        "description": f"Imported from the ARCHON config {Path(source).name}.",
        "layers": layers,
    }
    try:
        spec = ArchitectureSpec.from_data(spec_data, source=source)
    except SpecError as exc:
        moved = "" if order == sorted(order) else f" (converted layer order: original layers {order})"
        raise ArchonImportError(f"{exc}{moved}", _rule_of(str(exc))) from None
    return ImportResult(source=source, spec=spec, warnings=notes.lines())


def import_paths(paths: Iterable[str | Path], api_base: str | None = None) -> list[ImportOutcome]:
    """Convert files and directories (every `*.json` below them, sorted); never raises on a bad file."""
    outcomes = []
    for path in config_files(paths):
        try:
            outcomes.append(ImportOutcome(path=str(path), result=import_file(path, api_base)))
        except ArchonImportError as exc:
            outcomes.append(ImportOutcome(path=str(path), error=str(exc), reason=exc.reason))
    return outcomes


def config_files(paths: Iterable[str | Path]) -> list[Path]:
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files.extend(sorted(path.rglob("*.json")))
        elif path.exists():
            files.append(path)
        else:
            raise ArchonImportError(f"{path}: no such file or directory", "missing")
    return files


def breakdown(outcomes: list[ImportOutcome], root: str | Path | None = None) -> str:
    """A Markdown summary of a batch: how many converted, how many were refused for each reason, and
    which (paths shown relative to `root`)."""
    ok = [o for o in outcomes if o.result is not None]
    refused = [o for o in outcomes if o.result is None]
    warned = sum(bool(o.result.warnings) for o in ok if o.result)
    lines = [
        f"Converted {len(ok)} of {len(outcomes)} configs ({warned} of them with warnings); "
        f"{len(refused)} refused."
    ]
    if not refused:
        return lines[0]
    reasons: dict[str, int] = {}
    for o in refused:
        reasons[str(o.reason)] = reasons.get(str(o.reason), 0) + 1
    lines += ["", "| reason refused | configs |", "|---|---|"]
    lines += [f"| {r} | {n} |" for r, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))]
    lines += ["", "| refused config | reason |", "|---|---|"]
    lines += [f"| `{_relative(o.path, root)}` | {o.reason} |" for o in refused]
    return "\n".join(lines)


def _relative(path: str, root: str | Path | None) -> str:
    p = Path(path)
    return str(p.relative_to(root)) if root and p.is_relative_to(root) else str(p)


# -- layers -------------------------------------------------------------------------------------------


def _layer_items(layer: object, li: int, source: str, notes: _Notes) -> list[dict[str, Any]]:
    """The components of one layer in any of the original's three layer forms."""
    where = f"layer {li}"
    if isinstance(layer, dict) and "models" in layer:
        for key in sorted(set(layer) - {"models", "branches"}):
            notes.add(li, None, "layer", f"key {key!r} ignored: the original code never read it")
        if layer.get("branches", 1) != 1:
            notes.add(
                li,
                None,
                "layer",
                f"'branches': {layer['branches']!r} ignored: the original code never "
                "read it (every listed model runs once)",
            )
        items = layer["models"]
    elif isinstance(layer, dict) and "type" in layer:
        notes.add(
            li,
            None,
            "layer",
            "a single component object, not a list: read as a one-component layer "
            "(the original code fails on this form with KeyError 'models')",
        )
        items = [layer]
    else:
        items = layer
    if not isinstance(items, list) or not all(isinstance(c, dict) for c in items):
        raise ArchonImportError(
            f"{source}: {where}: expected a list of component objects, or {{'branches': n, 'models': [...]}}",
            "malformed layer",
        )
    if not items:
        raise ArchonImportError(f"{source}: {where}: a layer needs at least one component", "empty layer")
    for ci, raw in enumerate(items):
        if raw.get("type") not in TYPES:
            raise ArchonImportError(
                f"{source}: {where}, component {ci}: unknown component type {raw.get('type')!r}; known: "
                f"{', '.join(TYPES)} (custom components of the original cannot be imported)",
                "unknown type",
            )
    return items


def _layer_kind(items: list[dict[str, Any]]) -> str:
    return str(items[0].get("type"))


def _passes_critiques(kind: type[ComponentSpecBase], critiqued: bool) -> bool:
    """Whether the original passed critiques into the next layer: a critic's, or the ones a layer that
    read them (a ranker or verifier: not a maker of new candidates) was given."""
    reads = issubclass(kind, CritiquesOption)
    return kind.adds_critiques or (critiqued and reads and not kind.makes_candidates)


def _layer_order(layers: list[list[dict[str, Any]]], source: str, notes: _Notes) -> list[int]:
    """Original layer indices in converted order.

    The shipped unit-test configs put the unit_test_generator first, before the generators: the original
    then appended the tests to the user message of every later layer (its in-place edit) and the
    evaluator read them. Here the generator of tests moves to right before its evaluator (rule 5).
    """
    order = list(range(len(layers)))
    kinds = [_layer_kind(items) for items in layers]
    if len(layers) < 2 or not spec_class(kinds[1]).first_layer:
        return order
    first, consumer = kinds[0], spec_class(kinds[0]).comes_before
    if consumer is None:
        return order
    if consumer not in kinds:
        raise ArchonImportError(
            f"{source}: layer 0, component 0 ({first}): rule 5 (a {first} must be "
            f"followed by a {consumer}): no layer evaluates these tests; the original only appended "
            "them to the user message seen by later layers, which archon-compile does not do. Remove the "
            f"layer, or add a {consumer}",
            "rule 5 (unit tests never evaluated)",
        )
    evaluator = kinds.index(consumer)
    notes.add(
        0,
        0,
        first,
        f"moved to right before the {consumer} of layer {evaluator} (rule 5); the original also "
        "appended the tests to the user message seen by the generators, which is not reproduced",
    )
    return [*order[1:evaluator], 0, *order[evaluator:]]


def _incoming(layers: list[list[dict[str, Any]]]) -> int:
    """Upper bound of the candidates the next layer receives (from the layers converted so far)."""
    if not layers:
        return 0
    partial = ArchitectureSpec.model_construct(
        layers=[[_COMPONENT.validate_python(c) for c in layer] for layer in layers]
    )
    return partial.candidate_counts()[-1]


# -- components ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ctx:
    """Where a component is and what it receives, for its mapper and its messages."""

    source: str
    layer: int
    component: int
    kind: str
    incoming: int
    critiques: bool
    api_base: str | None
    notes: _Notes

    def note(self, message: str) -> None:
        self.notes.add(self.layer, self.component, self.kind, message)

    def error(self, message: str, reason: str) -> ArchonImportError:
        where = f"layer {self.layer}, component {self.component} ({self.kind})"
        return ArchonImportError(f"{self.source}: {where}: {message}", reason)


def _component(raw: dict[str, Any], ctx: _Ctx) -> dict[str, Any]:
    """One original component as the dict of a component spec, validated."""
    rest = dict(raw)
    rest.pop("type")
    out: dict[str, Any] = {"type": ctx.kind}
    _model(rest, out, ctx)
    for key in ("temperature", "max_tokens"):
        if key in rest:
            out[key] = rest.pop(key)
    _MAPPERS[spec_class(ctx.kind)](rest, out, ctx)
    if "samples" not in spec_class(ctx.kind).model_fields:  # the original's single-call components
        samples = rest.pop("samples", 1)
        if samples != 1:
            ctx.note(
                f"'samples': {samples!r} dropped: the original made that many calls and used only the "
                "first answer"
            )
    if rest.pop("no_system", False):
        ctx.note(
            "'no_system' has no effect: archon-compile adds no system message of its own (a system "
            "message in the conversation you pass is still sent)"
        )
    for key in sorted(rest):
        ctx.note(f"key {key!r} ignored: {UNREAD_KEYS.get(key, f'the original {ctx.kind} never read it')}")
    try:
        return _COMPONENT.validate_python(out).model_dump(exclude_defaults=True) | {"type": ctx.kind}
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'][1:])) or ctx.kind}: {e['msg']}" for e in exc.errors()
        )
        raise ctx.error(problems, "invalid value") from None


def _model(rest: dict[str, Any], out: dict[str, Any], ctx: _Ctx) -> None:
    """The LiteLLM model string (and endpoint) for the original (model, model_type) pair."""
    model = rest.pop("model", None)
    model_type = rest.pop("model_type", None)
    kind = model_type if isinstance(model_type, str) else None  # a list or dict is no known type
    if not isinstance(model, str) or not model:
        raise ctx.error("missing 'model'", "missing model")
    if model in REWARD_MODEL_RANKERS:
        raise ctx.error(
            f"model {model!r} is a reward-model ranker (llm-blender), not an LLM; archon-compile "
            "has no equivalent. Use an LLM ranker instead",
            "PairRM reward-model ranker",
        )
    if kind in PROVIDERS:
        prefix = PROVIDERS[kind]
        out["model"] = model if model.startswith(f"{prefix}/") else f"{prefix}/{model}"
        return
    if kind in SELF_HOSTED:
        if ctx.api_base:
            out["api_base"] = ctx.api_base
        else:
            ctx.note(
                f"{model_type} model served over the OpenAI API: give its endpoint with `--api-base` "
                "(import or run) or `ac.load(..., api_base=URL)`"
            )
        out["model"] = f"openai/{model}"
        return
    known = ", ".join([*PROVIDERS, *sorted(SELF_HOSTED)])
    raise ctx.error(
        f"unknown model_type {model_type!r} for model {model!r}; known: {known}", "unknown model_type"
    )


def _generator(rest: dict[str, Any], out: dict[str, Any], ctx: _Ctx) -> None:
    if "samples" in rest:
        out["samples"] = rest.pop("samples")


def _fuser(rest: dict[str, Any], out: dict[str, Any], ctx: _Ctx) -> None:
    _generator(rest, out, ctx)
    _use_critiques(rest, out, ctx)
    if "length_control" in rest:
        out["length_control"] = rest.pop("length_control")
    if "length_contorl" in rest:
        value = rest.pop("length_contorl")
        out.setdefault("length_control", value)
        ctx.note(
            f"misspelt 'length_contorl' read as length_control={value!r} (the original code looked for "
            "'length_control' only, so its runs had no length control)"
        )
    if ctx.incoming > DEFAULT_MAX_FUSER_INPUTS:
        out["max_inputs"] = ctx.incoming
        ctx.note(
            f"max_inputs raised to {ctx.incoming}, the candidates this fuser receives (the original had "
            "no cap); check that they fit the model's context window"
        )


def _critic(rest: dict[str, Any], out: dict[str, Any], ctx: _Ctx) -> None:
    """A critic maps one to one: its keys are the shared ones, handled by `_component`."""


def _ranker(rest: dict[str, Any], out: dict[str, Any], ctx: _Ctx) -> None:
    if "top_k" not in rest:
        raise ctx.error("missing 'top_k' (the original required it)", "missing top_k")
    out["top_k"] = rest.pop("top_k")
    _use_critiques(rest, out, ctx)


def _verifier(rest: dict[str, Any], out: dict[str, Any], ctx: _Ctx) -> None:
    if "first_k" in rest:
        ctx.note(
            f"'first_k': {rest.pop('first_k')!r} has no equivalent: the verifier keeps every candidate "
            "judged correct (the original stopped after first_k)"
        )


def _unit_test_generator(rest: dict[str, Any], out: dict[str, Any], ctx: _Ctx) -> None:
    if "unit_test_cap" in rest:
        out["num_tests"] = rest.pop("unit_test_cap")
    else:
        ctx.note(
            "no 'unit_test_cap': the original let the model choose how many tests to write; num_tests=5 "
            "(the default) is used"
        )


def _unit_test_evaluator(rest: dict[str, Any], out: dict[str, Any], ctx: _Ctx) -> None:
    """top_k wins; else first_k (first_pass means first_k=1); else every candidate, as in the original."""
    top_k = rest.pop("top_k", None)
    first_k = rest.pop("first_k", None)
    if rest.pop("first_pass", False) and first_k is None:
        first_k = 1
    out["top_k"] = top_k if top_k is not None else first_k if first_k is not None else max(ctx.incoming, 1)
    if first_k is not None and first_k != out["top_k"]:
        ctx.note(
            f"first_k={first_k!r} (stop once that many candidates pass every test, and keep them) has no "
            f"equivalent: keeps the best top_k={out['top_k']!r} by tests passed"
        )
    if rest.pop("remove_unit_tests_from_prompt", True) is False:
        ctx.note(
            "'remove_unit_tests_from_prompt': false not reproduced: the evaluator always sees the user "
            "message without the tests"
        )
    rest.pop("unit_test_cap", None)  # the original evaluator read it but judged every generated test


def _use_critiques(rest: dict[str, Any], out: dict[str, Any], ctx: _Ctx) -> None:
    """The original fed the preceding critic's critiques to every fuser and ranker, whatever the flag said."""
    out["use_critiques"] = ctx.critiques
    if "use_critiques" in rest and rest.pop("use_critiques") != ctx.critiques:
        detail = (
            "a critic precedes it, and the original passed its critiques"
            if ctx.critiques
            else "no critic precedes it, so the original had no critiques to pass"
        )
        ctx.note(f"use_critiques={ctx.critiques}: {detail}")


# The original's component types (the voter is this project's own), by the spec class each becomes.
_MAPPERS: dict[type[ComponentSpecBase], Callable[[dict[str, Any], dict[str, Any], _Ctx], None]] = {
    GeneratorSpec: _generator,
    FuserSpec: _fuser,
    CriticSpec: _critic,
    RankerSpec: _ranker,
    VerifierSpec: _verifier,
    UnitTestGeneratorSpec: _unit_test_generator,
    UnitTestEvaluatorSpec: _unit_test_evaluator,
}
TYPES = tuple(type_name(cls) for cls in _MAPPERS)


RULE_NAMES = {
    "1": "one component type per layer",
    "2": "generators only in the first layer",
    "3": "a critic before critiques are used",
    "4": "solo components stand alone",
    "5": "a unit_test_generator right before its evaluator",
    "6": "the last layer leaves one candidate",
}


def _rule_of(message: str) -> str:
    """The summary category of a refused spec: the construction rule it breaks, when it names one."""
    found = re.search(r"rule (\d)", message)
    if found:
        return f"rule {found.group(1)} ({RULE_NAMES[found.group(1)]})"
    return "fuser input cap (max_inputs)" if "max_inputs" in message else "invalid spec"
