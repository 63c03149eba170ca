"""Writing your own component: everything a plugin needs, and `register_component`.

A component is three things: a spec class (its parameters and its contract, see `ComponentSpecBase`),
a component class (`Component`, whose `run` maps a `LayerState` to a `LayerState` and calls LMs only
through `ask`) and its signatures (`Signature`: a prompt and a parser that never raises). Register the
spec class in code with `register_component(MySpec)`, or ship it in a package with an entry point:

    [project.entry-points."archon_compile.components"]
    self_refine = "archon_self_refine:SelfRefineSpec"

and every spec, artifact, `archon-compile run`, `serve` and the search then know the type without the
app importing anything. The kit in `archon_compile.testing` property-tests a component and its parsers.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from archon_compile import registry
from archon_compile.components.base import (
    Component,
    QueryFailed,
    RunContext,
    gather_surviving,
    keep,
    with_candidates,
)
from archon_compile.contract import ComponentSpecBase, Flow, TokenEstimate
from archon_compile.lm.base import Message
from archon_compile.parsed import Parsed
from archon_compile.registry import ENTRY_POINT_GROUP, PluginInfo, RegistryError
from archon_compile.runtime.calls import CallFailed
from archon_compile.signatures.base import Signature, conversation_text, numbered
from archon_compile.spec import CritiquesOption, LMParams
from archon_compile.state import Candidate, Critique, LayerState

__all__ = [
    "ENTRY_POINT_GROUP",
    "CallFailed",
    "Candidate",
    "Component",
    "ComponentSpecBase",
    "Critique",
    "CritiquesOption",
    "Flow",
    "LMParams",
    "LayerState",
    "Message",
    "Parsed",
    "PluginInfo",
    "QueryFailed",
    "RegistryError",
    "RunContext",
    "Signature",
    "TokenEstimate",
    "check_component_class",
    "conversation_text",
    "gather_surviving",
    "keep",
    "numbered",
    "plugins_of",
    "register_component",
    "with_candidates",
]


def register_component(spec_cls: type[ComponentSpecBase]) -> str:
    """Make a component type usable in specs, programs, artifacts and the search; returns its type.

    The spec class's `component` path is imported and checked now, so a typo fails here rather than at
    the first query. The installed distribution that holds the class (if any) and its version are
    recorded, and artifacts using the type name them.
    """
    kind = registry.type_name(spec_cls)
    if not getattr(spec_cls, "component", ""):
        raise RegistryError(f"{spec_cls.__qualname__}: set `component = 'package.module:Class'`")
    check_component_class(kind, registry.import_component(spec_cls))
    top = spec_cls.__module__.partition(".")[0]
    dists = metadata.packages_distributions().get(top, [])
    dist = dists[0] if dists else None
    return registry.register_spec(spec_cls, dist, metadata.version(dist) if dist else None)


def check_component_class(kind: str, cls: type[Any]) -> None:
    """Refuse a component class unless it is a Component whose signatures are Signatures."""
    if not (isinstance(cls, type) and issubclass(cls, Component)):
        raise RegistryError(f"component type {kind!r}: {cls!r} is not a subclass of Component")
    bad = [s for s in cls.signatures if not (isinstance(s, type) and issubclass(s, Signature))]
    if bad:
        raise RegistryError(f"component type {kind!r}: signatures {bad!r} are not Signature subclasses")


def plugins_of(types: set[str]) -> list[PluginInfo]:
    """Where the non-built-in types among `types` come from, for an artifact to name them."""
    origins = [registry.origin(kind) for kind in sorted(types)]
    return [o for o in origins if not o.module.startswith("archon_compile.")]
