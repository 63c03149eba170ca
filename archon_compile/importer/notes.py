"""Where a conversion is, and the warnings it collects: every message names the layer and component."""

from __future__ import annotations

from dataclasses import dataclass

from archon_compile.importer.results import ArchonImportError


class Notes:
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


@dataclass(frozen=True)
class Context:
    """Where a component is and what it receives, for its mapper and its messages."""

    source: str
    layer: int
    component: int
    kind: str
    incoming: int
    critiques: bool
    api_base: str | None
    notes: Notes

    def note(self, message: str) -> None:
        self.notes.add(self.layer, self.component, self.kind, message)

    def error(self, message: str, reason: str) -> ArchonImportError:
        where = f"layer {self.layer}, component {self.component} ({self.kind})"
        return ArchonImportError(f"{self.source}: {where}: {message}", reason)
