"""Each original component type's own keys, moved from `rest` (the keys not read yet) into `out` (the
spec's dict); the keys every type shares are `component.py`'s."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from archon_compile.contract import ComponentSpecBase
from archon_compile.importer.notes import Context
from archon_compile.registry import type_name
from archon_compile.spec import (
    DEFAULT_MAX_FUSER_INPUTS,
    CriticSpec,
    FuserSpec,
    GeneratorSpec,
    RankerSpec,
    UnitTestEvaluatorSpec,
    UnitTestGeneratorSpec,
    VerifierSpec,
)

Mapper = Callable[[dict[str, Any], dict[str, Any], Context], None]


def _generator(rest: dict[str, Any], out: dict[str, Any], ctx: Context) -> None:
    if "samples" in rest:
        out["samples"] = rest.pop("samples")


def _fuser(rest: dict[str, Any], out: dict[str, Any], ctx: Context) -> None:
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


def _critic(rest: dict[str, Any], out: dict[str, Any], ctx: Context) -> None:
    """A critic maps one to one: its keys are the shared ones, handled by `component.convert_component`."""


def _ranker(rest: dict[str, Any], out: dict[str, Any], ctx: Context) -> None:
    if "top_k" not in rest:
        raise ctx.error("missing 'top_k' (the original required it)", "missing top_k")
    out["top_k"] = rest.pop("top_k")
    _use_critiques(rest, out, ctx)


def _verifier(rest: dict[str, Any], out: dict[str, Any], ctx: Context) -> None:
    if "first_k" in rest:
        ctx.note(
            f"'first_k': {rest.pop('first_k')!r} has no equivalent: the verifier keeps every candidate "
            "judged correct (the original stopped after first_k)"
        )


def _unit_test_generator(rest: dict[str, Any], out: dict[str, Any], ctx: Context) -> None:
    if "unit_test_cap" in rest:
        out["num_tests"] = rest.pop("unit_test_cap")
    else:
        ctx.note(
            "no 'unit_test_cap': the original let the model choose how many tests to write; num_tests=5 "
            "(the default) is used"
        )


def _unit_test_evaluator(rest: dict[str, Any], out: dict[str, Any], ctx: Context) -> None:
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


def _use_critiques(rest: dict[str, Any], out: dict[str, Any], ctx: Context) -> None:
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
MAPPERS: dict[type[ComponentSpecBase], Mapper] = {
    GeneratorSpec: _generator,
    FuserSpec: _fuser,
    CriticSpec: _critic,
    RankerSpec: _ranker,
    VerifierSpec: _verifier,
    UnitTestGeneratorSpec: _unit_test_generator,
    UnitTestEvaluatorSpec: _unit_test_evaluator,
}
TYPES = tuple(type_name(cls) for cls in MAPPERS)
