"""The component types a spec may use: the built-ins, those registered in code, and those of installed
plugin packages (entry point group `archon_compile.components`, loaded the first time a type is not
found, so an app never imports a plugin itself).

Each type maps to its spec class; the spec class names its component class (`component`), imported
when a program is built.
"""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import Any

from pydantic import BaseModel, ConfigDict

from archon_compile.contract import ComponentSpecBase
from archon_compile.errors import ArchonError

ENTRY_POINT_GROUP = "archon_compile.components"


class RegistryError(ArchonError, ValueError):
    """A component type that cannot be registered or found; the message names it and what to do."""


class PluginInfo(BaseModel):
    """Where a registered type comes from: its distribution (None for the built-ins) and version."""

    model_config = ConfigDict(frozen=True)

    type: str
    distribution: str | None = None
    version: str | None = None
    module: str


_SPECS: dict[str, type[ComponentSpecBase]] = {}
_ORIGINS: dict[str, PluginInfo] = {}
_COMPONENTS: dict[str, type[Any]] = {}
_loaded: set[str] = set()


def type_name(spec_cls: type[ComponentSpecBase]) -> str:
    """The `type` string of a spec class (the default of its `type` field)."""
    field = spec_cls.model_fields.get("type")
    default = field.default if field is not None else None
    if not isinstance(default, str) or not default:
        raise RegistryError(
            f"{spec_cls.__qualname__}: a component spec needs `type: Literal['name'] = 'name'`"
        )
    return default


def register_spec(
    spec_cls: type[ComponentSpecBase], distribution: str | None = None, version: str | None = None
) -> str:
    """Make `spec_cls` usable in specs under its `type`; returns the type. Registering the same class
    again is a no-op; another class under a taken type is refused."""
    if not (isinstance(spec_cls, type) and issubclass(spec_cls, ComponentSpecBase)):
        raise RegistryError(f"{spec_cls!r}: a component spec must subclass archon_compile.ComponentSpecBase")
    kind = type_name(spec_cls)
    if _SPECS.get(kind, spec_cls) is not spec_cls:
        raise RegistryError(
            f"component type {kind!r} is already registered by {_ORIGINS[kind].module}; choose another type"
        )
    if not getattr(spec_cls, "component", ""):
        raise RegistryError(f"{spec_cls.__qualname__}: set `component = 'package.module:Class'`")
    if not (spec_cls.stands_alone or spec_cls.makes_candidates):
        raise RegistryError(
            f"{spec_cls.__qualname__}: a component that does not make candidates must stand alone "
            "(the outputs of a layer's components are concatenated)"
        )
    _SPECS[kind] = spec_cls
    _ORIGINS[kind] = PluginInfo(
        type=kind, distribution=distribution, version=version, module=spec_cls.__module__
    )
    return kind


def spec_class(kind: object) -> type[ComponentSpecBase]:
    """The spec class of a type, loading installed plugins on a miss."""
    if isinstance(kind, str) and kind not in _SPECS:
        load_entry_points()
    if not isinstance(kind, str) or kind not in _SPECS:
        raise RegistryError(
            f"unknown component type {kind!r}; known: {', '.join(known_types())}. A plugin's type needs "
            f"its package installed (entry point group {ENTRY_POINT_GROUP!r}) or "
            "archon_compile.register_component"
        )
    return _SPECS[kind]


def known_types() -> list[str]:
    """Every registered type, installed plugins included."""
    load_entry_points()
    return list(_SPECS)


def origin(kind: str) -> PluginInfo:
    spec_class(kind)
    return _ORIGINS[kind]


def component_class(kind: str) -> type[Any]:
    """The component class that runs `kind`, imported from the spec's `component` path once."""
    if kind not in _COMPONENTS:
        _COMPONENTS[kind] = import_component(spec_class(kind))
    return _COMPONENTS[kind]


def import_component(spec_cls: type[ComponentSpecBase]) -> type[Any]:
    """The class named by `spec_cls.component` ("package.module:Class")."""
    path = spec_cls.component
    module, _, name = path.partition(":")
    try:
        return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]
    except (ImportError, AttributeError, ValueError) as exc:
        raise RegistryError(
            f"component type {type_name(spec_cls)!r}: cannot import its component class {path!r}: {exc}"
        ) from None


def load_entry_points() -> None:
    """Register the spec class of every installed plugin not loaded yet (a broken plugin names itself).
    Called when a type is not found, so a package installed while the process runs is still found."""
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _SPECS or ep.value in _loaded:
            continue
        _loaded.add(ep.value)
        dist = ep.dist.name if ep.dist is not None else None
        try:
            spec_cls = ep.load()
        except Exception as exc:
            raise RegistryError(
                f"plugin {dist or ep.value!r}: entry point {ep.name!r} ({ep.value}) failed to load: {exc}"
            ) from exc
        if not (isinstance(spec_cls, type) and issubclass(spec_cls, ComponentSpecBase)):
            raise RegistryError(
                f"plugin {dist!r}: entry point {ep.name!r} is not a ComponentSpecBase subclass"
            )
        if type_name(spec_cls) != ep.name:
            raise RegistryError(
                f"plugin {dist!r}: entry point {ep.name!r} names a spec of type {type_name(spec_cls)!r}; "
                "make them equal"
            )
        register_spec(spec_cls, dist, ep.dist.version if ep.dist is not None else None)
