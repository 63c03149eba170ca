"""Hypothesis strategies for property-testing components and signatures.

LM output is untrusted: `lm_replies(n)` mixes what a model may really send back to a prompt about `n`
candidates — nothing, megabytes, unicode junk, rankings with duplicates and out-of-range indices,
critiques of the wrong number of candidates, verdicts buried in prose or contradicted, test verdicts
that run short — with arbitrary text. The other strategies draw the inputs a component sees.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Any

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "archon_compile.testing.strategies needs hypothesis: pip install 'archon-compile[testing]'"
    ) from exc

from archon_compile.lm.base import Message
from archon_compile.registry import spec_class
from archon_compile.state import Candidate, Critique, LayerState, TestResult

# The tokens the built-in parsers look for, to be recombined into near misses.
TOKENS = (
    "[1]", "[2]", "[3]", "[ 10 ]", "[0]", "[-1]", ">", "Strengths:", "Weaknesses:", "Response 2:",
    "[Correct]", "[Incorrect]", "[Passed]", "[failed]", "1.", "- ", "\n", " ", "#", "**", "```",
)  # fmt: skip
# Characters that break naive text handling: NUL, zero-width, bidi overrides, BOM, combining marks.
JUNK = "\x00\x1b\u200b\u200d\u202e\u2066\ufeff\u0301\u0663\U0001f642\u00e9\r\t"
WORDS = st.text(alphabet=string.ascii_letters + " ,.", min_size=1, max_size=40).map(str.strip).filter(bool)


def empty_replies() -> st.SearchStrategy[str]:
    return st.sampled_from(["", " ", "\n", "\n\n \t", "\r\n", "\u200b", "\ufeff"])


def huge_replies(min_chars: int = 10_000, max_chars: int = 100_000) -> st.SearchStrategy[str]:
    """A long reply (a runaway model) built from a repeated unit, so drawing it stays cheap."""
    units = st.sampled_from(["a", "word ", "[1] > ", "Strengths: ok\n", "[Passed] ", "\U0001f642", "\u00e9"])
    return st.builds(
        lambda unit, size: (unit * (size // len(unit) + 1))[:size], units, st.integers(min_chars, max_chars)
    )


def junk_replies() -> st.SearchStrategy[str]:
    """Unicode junk: control, invisible and right-to-left characters mixed with any text."""
    return st.text(alphabet=st.one_of(st.sampled_from(JUNK), st.characters(codec="utf-8")), max_size=200)


def token_soup() -> st.SearchStrategy[str]:
    """The parsers' own tokens recombined with arbitrary fragments."""
    return st.lists(st.one_of(st.sampled_from(TOKENS), st.text(max_size=5))).map("".join)


def rankings(n: int) -> st.SearchStrategy[str]:
    """Rankings of `n` candidates with duplicates, out-of-range, zero and negative indices, and prose."""
    index = st.integers(-2, n + 3).map(lambda i: f"[{i}]")
    sep = st.sampled_from([" > ", ">", ", ", "\n", " then ", ""])
    body = st.tuples(st.lists(index, max_size=2 * n + 3), sep).map(lambda t: t[1].join(t[0]))
    return st.tuples(
        st.sampled_from(["", "Ranking: ", "I think "]), body, st.sampled_from(["", ".", " done"])
    ).map("".join)


def critiques(n: int) -> st.SearchStrategy[str]:
    """Critique blocks for the wrong number of candidates, headers in several styles, repeated indices
    and blocks missing their strengths or weaknesses."""
    header = st.sampled_from(["[{i}]", "Response {i}:", "**Candidate {i}**", "### [{i}]", "{i}."])
    block = st.tuples(
        header, st.integers(-1, n + 3), WORDS, st.sampled_from(["both", "strengths", "weaknesses", "none"])
    )

    def render(parts: tuple[str, int, str, str]) -> str:
        head, i, words, kind = parts
        text = head.format(i=i) + "\n"
        if kind in ("both", "strengths"):
            text += f"Strengths: {words}\n"
        if kind in ("both", "weaknesses"):
            text += f"Weaknesses: {words}\n"
        return text + (words if kind == "none" else "")

    return st.lists(block.map(render), max_size=n + 3).map("\n".join)


def verdicts() -> st.SearchStrategy[str]:
    """A verdict buried in prose, contradicted, lower-case, unbracketed, or absent."""
    verdict = st.sampled_from(
        ["[Correct]", "[Incorrect]", "[ correct ]", "[INCORRECT]", "Correct", "not [Correct]"]
    )
    return st.tuples(WORDS, st.lists(verdict, max_size=3), WORDS).map(
        lambda t: f"{t[0]} {' '.join(t[1])} {t[2]}"
    )


def test_verdicts(n: int) -> st.SearchStrategy[str]:
    """[Passed]/[Failed] lines that run short of, or past, `n` tests."""
    line = st.tuples(WORDS, st.sampled_from(["[Passed]", "[Failed]", "[passed]", "", "Passed"]))
    return st.lists(line, max_size=n + 3).map(
        lambda ls: "\n".join(f"{i}. {w} {v}" for i, (w, v) in enumerate(ls, 1))
    )


def lm_replies(n: int = 3) -> st.SearchStrategy[str]:
    """Any hostile or near-miss reply to a prompt about `n` candidates."""
    return st.one_of(
        empty_replies(),
        st.text(),
        junk_replies(),
        token_soup(),
        rankings(n),
        critiques(n),
        verdicts(),
        test_verdicts(n),
        WORDS,
        huge_replies(),
    )


def conversations(max_turns: int = 3) -> st.SearchStrategy[list[Message]]:
    """A chat: an optional system message, then user/assistant turns, ending with a user message."""
    text = st.one_of(WORDS, junk_replies().filter(str.strip))
    turns = st.lists(st.tuples(text, text), max_size=max_turns - 1)
    system = st.one_of(st.none(), text)

    def build(parts: tuple[str | None, list[tuple[str, str]], str]) -> list[Message]:
        sys, pairs, last = parts
        msgs = [Message(role="system", content=sys)] if sys else []
        for user, assistant in pairs:
            msgs += [Message(role="user", content=user), Message(role="assistant", content=assistant)]
        return [*msgs, Message(role="user", content=last)]

    return st.tuples(system, turns, text).map(build)


def critique_values() -> st.SearchStrategy[Critique]:
    return st.builds(
        Critique, strengths=st.one_of(st.just(""), WORDS), weaknesses=st.one_of(st.just(""), WORDS)
    )


def candidate_sets(min_size: int = 1, max_size: int = 8) -> st.SearchStrategy[tuple[Candidate, ...]]:
    """Candidates with distinct origins, some carrying critiques, verdicts and test results."""

    @st.composite
    def build(draw: st.DrawFn) -> tuple[Candidate, ...]:
        n = draw(st.integers(min_size, max_size))
        return tuple(
            Candidate(
                text=draw(st.one_of(WORDS, st.text(max_size=60))),
                origin=f"L0.C{i % 3}#{i}",
                model=draw(st.sampled_from([None, "m1", "m2"])),
                critique=draw(st.one_of(st.none(), critique_values())),
                verified=draw(st.sampled_from([None, True, False])),
                test_results=tuple(
                    TestResult(test=t, passed=p)
                    for t, p in draw(st.lists(st.tuples(WORDS, st.booleans()), max_size=3))
                ),
            )
            for i in range(n)
        )

    return build()


def layer_states(min_candidates: int = 1, max_candidates: int = 8) -> st.SearchStrategy[LayerState]:
    """What reaches a layer: a conversation, candidates, and sometimes unit tests."""
    return st.builds(
        LayerState,
        conversation=conversations().map(tuple),
        candidates=candidate_sets(min_candidates, max_candidates),
        unit_tests=st.lists(WORDS, max_size=4).map(tuple),
    )


def inputs_for(signature: Any) -> st.SearchStrategy[Any]:
    """Inputs of `signature`: conversations, aligned candidates and critiques where it has those fields,
    and hypothesis' own inference for the rest."""
    fields = signature.Inputs.model_fields

    @st.composite
    def build(draw: st.DrawFn) -> Any:
        values: dict[str, Any] = {}
        n = draw(st.integers(1, 8))
        if "conversation" in fields:
            values["conversation"] = draw(conversations())
        if "candidates" in fields:
            values["candidates"] = draw(
                st.lists(st.one_of(WORDS, st.text(max_size=40)), min_size=n, max_size=n)
            )
        if "critiques" in fields:
            values["critiques"] = draw(
                st.one_of(
                    st.none(), st.lists(st.one_of(st.none(), critique_values()), min_size=n, max_size=n)
                )
            )
        return draw(st.builds(signature.Inputs, **{k: st.just(v) for k, v in values.items()}))

    return build()


MODELS = st.sampled_from(["openai/gpt-4o-mini", "together_ai/Qwen/Qwen2-72B-Instruct", "local"])


def component(kind: str, **fixed: Any) -> st.SearchStrategy[dict[str, Any]]:
    """A component dict of type `kind`: a model and sampling settings when it has them, plus `fixed`."""
    keys: dict[str, Any] = {}
    fields = spec_class(kind).model_fields
    if "model" in fields:
        keys["model"] = MODELS
    if "temperature" in fields and kind != "unit_test_evaluator":
        keys["temperature"] = st.sampled_from([0.0, 0.7, 1.2])
    if "max_tokens" in fields and kind != "unit_test_evaluator":
        keys["max_tokens"] = st.integers(1, 4096)
    return st.fixed_dictionaries({"type": st.just(kind), **keys, **{k: st.just(v) for k, v in fixed.items()}})


def architecture_specs(
    extra_layers: Sequence[st.SearchStrategy[list[dict[str, Any]]]] = (),
) -> st.SearchStrategy[dict[str, Any]]:
    """Specs built by the paper's rules (the search space's shapes), as dicts `ArchitectureSpec` must
    accept. `extra_layers` are strategies of your own component layers, placed anywhere after the
    generators; their contracts say whether they reset or add critiques."""

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        layers = [
            draw(st.lists(component("generator", samples=draw(st.integers(1, 3))), min_size=1, max_size=4))
        ]
        critiqued = False
        kinds = ["fuse", "critic", "rank", "verify", "vote", "tests"] + ["extra"] * bool(extra_layers)
        for block in draw(st.lists(st.sampled_from(kinds), max_size=4)):
            if block == "extra":
                layer = draw(st.sampled_from(list(extra_layers)).flatmap(lambda s: s))
                contract = spec_class(layer[0]["type"])
                critiqued = contract.adds_critiques or (critiqued and not contract.makes_candidates)
                layers.append(layer)
            else:
                critiqued = _builtin_block(draw, block, critiqued, layers, top_k=draw(st.integers(1, 5)))
        _builtin_block(
            draw, draw(st.sampled_from(["fuse", "rank", "vote", "tests"])), critiqued, layers, top_k=1
        )
        return {"name": draw(st.text(string.ascii_letters + "-", min_size=1, max_size=12)), "layers": layers}

    return build()


def _builtin_block(draw: st.DrawFn, block: str, critiqued: bool, layers: list[Any], top_k: int) -> bool:
    """Append a built-in block's layers; returns whether critiques reach the next layer."""
    if block == "fuse":
        width = 1 if top_k == 1 else draw(st.integers(1, 3))
        samples = 1 if top_k == 1 else draw(st.integers(1, 2))
        layers.append(
            [draw(component("fuser", use_critiques=critiqued, samples=samples)) for _ in range(width)]
        )
        return False
    if block == "critic":
        layers.append([draw(component("critic"))])
        return True
    if block == "rank":
        layers.append([draw(component("ranker", top_k=top_k, use_critiques=critiqued))])
    elif block == "verify":
        layers.append([draw(component("verifier", use_critiques=critiqued))])
    elif block == "vote":
        layers.append([draw(component("voter", top_k=top_k))])
    else:
        layers.append([draw(component("unit_test_generator", num_tests=draw(st.integers(1, 5))))])
        layers.append([draw(component("unit_test_evaluator", top_k=top_k))])
    return critiqued
