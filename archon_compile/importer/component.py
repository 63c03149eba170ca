"""One original component as the dict of a component spec: the keys every type shares, its own keys
(`mappers.py`), a warning for each key left over, then validation by its spec class."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError

from archon_compile.importer.mappers import MAPPERS
from archon_compile.importer.models import convert_model
from archon_compile.importer.notes import Context
from archon_compile.registry import spec_class
from archon_compile.spec import ComponentSpec

# Keys the original code never read for LM components (why each is ignored).
UNREAD_KEYS = {
    "checkpoint": "a legacy key the original code never read",
    "ranker_batch_size": "used only by the original's PairRM reward-model ranker",
    "batch_num": "the original code never read it",
    "top_k_generations": "the original fuser never read it",
    "fuse_generations_count": "the original fuser never read it",
    "ranker_config": "the original fuser never read it",
}
COMPONENT = TypeAdapter(ComponentSpec)


def convert_component(raw: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """One original component as the dict of a component spec, validated."""
    rest = dict(raw)
    rest.pop("type")
    out: dict[str, Any] = {"type": ctx.kind}
    convert_model(rest, out, ctx)
    for key in ("temperature", "max_tokens"):
        if key in rest:
            out[key] = rest.pop(key)
    MAPPERS[spec_class(ctx.kind)](rest, out, ctx)
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
        return COMPONENT.validate_python(out).model_dump(exclude_defaults=True) | {"type": ctx.kind}
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'][1:])) or ctx.kind}: {e['msg']}" for e in exc.errors()
        )
        raise ctx.error(problems, "invalid value") from None
