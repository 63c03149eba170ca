"""Voter: model-free self-consistency, usable wherever a Ranker is.

Candidates are grouped by a normalised answer; the groups are ordered by size (ties: first seen), and
the candidates are kept in that order, cut to top_k. The built-in normalisers read answers as the task
metrics score them (`archon_compile/answers.py`): `text` as exact match, `number` as GSM8K, `boxed` as
MATH's final answer, `choice` as a stated option letter. Others are pluggable by name so that a spec
stays plain JSON: `register_normaliser("mine", fn)`.
"""

from __future__ import annotations

from collections.abc import Callable

from archon_compile import answers
from archon_compile.components.base import Component, RunContext, keep
from archon_compile.errors import SpecError
from archon_compile.signatures.vote import Vote
from archon_compile.spec import VoterSpec
from archon_compile.state import LayerState

Normaliser = Callable[[str], str]
_LETTERS = "ABCDEFGHIJ"


def _number(s: str) -> str:
    value = answers.extract_number(s)
    return answers.normalise_text(s) if value is None else f"{value:.15g}"


def _math(s: str) -> str:
    stated = answers.extract_math_answer(s)
    return answers.normalise_text(s) if stated is None else answers.normalise_math(stated)


def _choice(s: str) -> str:
    letter, _ = answers.stated_letter(s, _LETTERS)
    return letter or answers.normalise_text(s)


NORMALISERS: dict[str, Normaliser] = {
    "text": answers.answer_text,
    "number": _number,
    "boxed": _math,
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
