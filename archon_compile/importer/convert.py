"""One config (parsed, or a file) converted layer by layer, then checked as a whole by `ArchitectureSpec`;
a refusal is named by the construction rule it breaks."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from archon_compile.files import UnreadableFile, parse_json, read_text
from archon_compile.importer.component import convert_component
from archon_compile.importer.layers import incoming, layer_items, layer_kind, layer_order, passes_critiques
from archon_compile.importer.notes import Context, Notes
from archon_compile.importer.results import ArchonImportError, ImportResult
from archon_compile.registry import spec_class
from archon_compile.spec import ArchitectureSpec, SpecError

RULE_NAMES = {
    "1": "one component type per layer",
    "2": "generators only in the first layer",
    "3": "a critic before critiques are used",
    "4": "solo components stand alone",
    "5": "a unit_test_generator right before its evaluator",
    "6": "the last layer leaves one candidate",
}


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
    notes = Notes()
    for key in sorted(set(data) - {"name", "layers"}):
        notes.add(None, None, "top level", f"key {key!r} ignored: archon-compile specs have no equivalent")
    raw_layers = [layer_items(layer, li, source, notes) for li, layer in enumerate(data["layers"])]
    order = layer_order(raw_layers, source, notes)
    layers: list[list[dict[str, Any]]] = []
    critiques = False  # whether the original passed critiques into the layer being converted
    for li in order:
        n = incoming(layers)
        layers.append(
            [
                convert_component(raw, Context(source, li, ci, raw["type"], n, critiques, api_base, notes))
                for ci, raw in enumerate(raw_layers[li])
            ]
        )
        critiques = passes_critiques(spec_class(layer_kind(raw_layers[li])), critiques)
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


def _rule_of(message: str) -> str:
    """The summary category of a refused spec: the construction rule it breaks, when it names one."""
    found = re.search(r"rule (\d)", message)
    if found:
        return f"rule {found.group(1)} ({RULE_NAMES[found.group(1)]})"
    return "fuser input cap (max_inputs)" if "max_inputs" in message else "invalid spec"
