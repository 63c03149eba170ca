"""ARCHON's construction rules (paper, Table 4) and the static flow of candidates, calls and tokens,
all read from each component's contract (`archon_compile.contract`)."""

from __future__ import annotations

from collections.abc import Sequence

from archon_compile.contract import ComponentSpecBase, Flow, TokenEstimate
from archon_compile.errors import SpecError

Layers = Sequence[Sequence[ComponentSpecBase]]


class ConstructionError(SpecError):
    """An architecture breaks one of ARCHON's construction rules; the message names the layer, the
    component and the rule. Raised inside pydantic's validation, it reaches callers (with the spec's
    source) from `ArchitectureSpec.from_data`, so from `ac.load`, artifacts and the compiler's space."""


def _where(layer: int, index: int, comp: ComponentSpecBase) -> str:
    return f"layer {layer}, component {index} ({comp.type})"


def check_construction_rules(layers: Layers) -> None:
    """Raise ConstructionError naming the layer, component and rule broken by `layers`."""
    critiqued = False
    for li, layer in enumerate(layers):
        if not layer:
            raise ConstructionError(f"layer {li}: a layer needs at least one component")
        _check_layer(layers, li, critiqued)
        head = layer[0]
        if head.makes_candidates:
            critiqued = False
        elif head.adds_critiques:
            critiqued = True
    counts, _ = flow(layers, check=True)
    if counts[-1] != 1:
        n_layers = len(layers)
        raise ConstructionError(
            f"{_where(n_layers - 1, 0, layers[-1][0])}: rule 6 (the last layer must leave exactly one "
            f"candidate; this one may leave {counts[-1]}: end with a single fuser with samples 1, or a "
            "ranker, voter or unit_test_evaluator with top_k 1)"
        )


def _check_layer(layers: Layers, li: int, critiqued: bool) -> None:
    """Rules 1 to 5 for layer `li`; `critiqued` says whether critiques reach it (rule 3)."""
    layer = layers[li]
    types = {c.type for c in layer}
    if len(types) > 1:
        raise ConstructionError(
            f"layer {li}: rule 1 (one component type per layer) broken by types {sorted(types)}"
        )
    head = layer[0]
    if li == 0 and not head.first_layer:
        raise ConstructionError(f"{_where(li, 0, head)}: rule 2 (the first layer holds generators)")
    if li > 0 and head.first_layer:
        raise ConstructionError(f"{_where(li, 0, head)}: rule 2 (generators only in the first layer)")
    if head.stands_alone and len(layer) > 1:
        raise ConstructionError(
            f"{_where(li, 1, layer[1])}: rule 4 (a {head.type} stands alone in its layer)"
        )
    for ci, comp in enumerate(layer):
        if comp.reads_critiques() and not critiqued:
            raise ConstructionError(
                f"{_where(li, ci, comp)}: rule 3 (use_critiques needs a critic after the candidates "
                "were made and before this layer)"
            )
    before = layers[li - 1][0].type if li > 0 else None
    if head.comes_after is not None and before != head.comes_after:
        raise ConstructionError(
            f"{_where(li, 0, head)}: rule 5 (a {head.comes_after} must come right before the {head.type})"
        )
    after = layers[li + 1][0].type if li + 1 < len(layers) and layers[li + 1] else None
    if head.comes_before is not None and after != head.comes_before:
        raise ConstructionError(
            f"{_where(li, 0, head)}: rule 5 (a {head.type} must be followed by a {head.comes_before})"
        )


def flow(layers: Layers, check: bool = False) -> tuple[list[int], list[int]]:
    """Propagate candidate counts (upper bounds) and count LM calls per query, by each contract: the
    candidates leaving each layer, and each layer's calls."""
    n = 0
    calls: list[int] = []
    counts: list[int] = []
    for li, layer in enumerate(layers):
        for ci, c in enumerate(layer):
            cap = c.input_cap()
            if check and cap is not None and n > cap:
                raise ConstructionError(
                    f"{_where(li, ci, c)}: a {c.type}'s input is capped at max_inputs={cap} "
                    f"candidates but this layer receives {n}"
                )
        calls.append(sum(c.calls(n) for c in layer))
        n = sum(c.leaves(n) for c in layer)
        counts.append(n)
    return counts, calls


def flow_tokens(layers: Layers, start: Flow) -> TokenEstimate:
    """Upper bounds of the tokens one query reads and writes through `layers`, by each contract; `start`
    gives the query's and the instructions' tokens."""
    now, total = start, TokenEstimate()
    for layer, leaving in zip(layers, flow(layers)[0], strict=True):
        for c in layer:
            total += c.tokens(now)
        passed = [c.passes_on(now) for c in layer]
        now = Flow(
            n=leaving,
            query_tokens=now.query_tokens,
            instruction_tokens=now.instruction_tokens,
            candidate_tokens=max(f.candidate_tokens for f in passed),
            critique_tokens=max(f.critique_tokens for f in passed),
            test_tokens=max(f.test_tokens for f in passed),
        )
    return total
