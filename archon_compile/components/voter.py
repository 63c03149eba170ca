"""Voter: model-free self-consistency, usable wherever a Ranker is.

Candidates are grouped by a normalised answer; the groups are ordered by size (ties: first seen), and
the candidates are kept in that order, cut to top_k. Normalisers are pluggable by name so that a spec
stays plain JSON: `register_normaliser("mine", fn)`.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable

from archon_compile.components.base import Component, RunContext, keep
from archon_compile.errors import SpecError
from archon_compile.signatures.vote import Vote
from archon_compile.spec import VoterSpec
from archon_compile.state import LayerState

Normaliser = Callable[[str], str]

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_CHOICE = re.compile(r"\b([A-J])\b")


def _text(s: str) -> str:
    s = s.lower().translate(str.maketrans("", "", string.punctuation))
    return " ".join(s.split())


def _number(s: str) -> str:
    found = _NUMBER.findall(s)
    if not found:
        return _text(s)
    value = found[-1].replace(",", "")
    return value.rstrip("0").rstrip(".") if "." in value else value


def _boxed(s: str) -> str:
    start = s.rfind("\\boxed{")
    if start < 0:
        return _text(s)
    depth, i, out = 1, start + len("\\boxed{"), []
    while i < len(s) and depth:
        ch = s[i]
        depth += (ch == "{") - (ch == "}")
        if depth:
            out.append(ch)
        i += 1
    return "".join("".join(out).split())


def _choice(s: str) -> str:
    found = _CHOICE.findall(s.upper())
    return found[-1] if found else _text(s)


NORMALISERS: dict[str, Normaliser] = {
    "text": _text,
    "number": _number,
    "boxed": _boxed,
    "choice": _choice,
    "exact": lambda s: s.strip(),
}


def register_normaliser(name: str, fn: Normaliser) -> None:
    """Make `fn` available to voters by `normaliser: name` in a spec."""
    NORMALISERS[name] = fn


def vote_order(texts: list[str], normaliser: Normaliser) -> list[int]:
    """Positions ordered by the size of their answer group (largest first), stable within ties."""
    keys = [normaliser(t) for t in texts]
    counts: dict[str, int] = {}
    for k in keys:
        counts[k] = counts.get(k, 0) + 1
    first = {k: keys.index(k) for k in counts}
    return sorted(range(len(texts)), key=lambda i: (-counts[keys[i]], first[keys[i]], i))


class Voter(Component[VoterSpec]):
    signatures = (Vote,)

    def __init__(self, spec: VoterSpec, node_id: str, sample_offset: int = 0) -> None:
        super().__init__(spec, node_id, sample_offset)
        if spec.normaliser not in NORMALISERS:
            raise SpecError(
                f"{node_id}: unknown voter normaliser {spec.normaliser!r}; known: "
                f"{sorted(NORMALISERS)} (add one with register_normaliser)"
            )

    async def run(self, state: LayerState, ctx: RunContext) -> LayerState:
        order = vote_order([c.text for c in state.candidates], NORMALISERS[self.spec.normaliser])
        return keep(state, order, self.spec.top_k)
