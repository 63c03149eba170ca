"""The original's layers: their three forms, the order they convert in, and what flows between them
(candidates, critiques), all read from each spec class's contract."""

from __future__ import annotations

from typing import Any

from archon_compile.contract import ComponentSpecBase
from archon_compile.importer.component import COMPONENT
from archon_compile.importer.mappers import TYPES
from archon_compile.importer.notes import Notes
from archon_compile.importer.results import ArchonImportError
from archon_compile.registry import spec_class
from archon_compile.spec import ArchitectureSpec, CritiquesOption


def layer_items(layer: object, li: int, source: str, notes: Notes) -> list[dict[str, Any]]:
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


def layer_kind(items: list[dict[str, Any]]) -> str:
    return str(items[0].get("type"))


def passes_critiques(kind: type[ComponentSpecBase], critiqued: bool) -> bool:
    """Whether the original passed critiques into the next layer: a critic's, or the ones a layer that
    read them (a ranker or verifier: not a maker of new candidates) was given."""
    reads = issubclass(kind, CritiquesOption)
    return kind.adds_critiques or (critiqued and reads and not kind.makes_candidates)


def layer_order(layers: list[list[dict[str, Any]]], source: str, notes: Notes) -> list[int]:
    """Original layer indices in converted order.

    The shipped unit-test configs put the unit_test_generator first, before the generators: the original
    then appended the tests to the user message of every later layer (its in-place edit) and the
    evaluator read them. Here the generator of tests moves to right before its evaluator (rule 5).
    """
    order = list(range(len(layers)))
    kinds = [layer_kind(items) for items in layers]
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


def incoming(layers: list[list[dict[str, Any]]]) -> int:
    """Upper bound of the candidates the next layer receives (from the layers converted so far)."""
    if not layers:
        return 0
    partial = ArchitectureSpec.model_construct(
        layers=[[COMPONENT.validate_python(c) for c in layer] for layer in layers]
    )
    return partial.candidate_counts()[-1]
