"""Rank: order the candidates best first (RankGPT-style listwise ranking)."""

from __future__ import annotations

import re

from archon_compile.signatures.base import Signature, conversation_text, numbered
from pydantic import BaseModel, model_validator

from archon_compile.lm.base import Message
from archon_compile.parsed import Parsed
from archon_compile.state import Critique

_INDEX = re.compile(r"\[\s*(\d{1,4})\s*\]")


class RankInputs(BaseModel):
    conversation: list[Message]
    candidates: list[str]
    critiques: list[Critique | None] | None = None


class Ranking(BaseModel):
    """A permutation of candidate positions (0-based), best first."""

    order: list[int]

    @model_validator(mode="after")
    def _is_permutation(self) -> Ranking:
        if sorted(self.order) != list(range(len(self.order))):
            raise ValueError(f"ranking {self.order} is not a permutation of 0..{len(self.order) - 1}")
        return self


class Rank(Signature[RankInputs, Ranking]):
    """Parser: keeps valid indices in order, drops duplicates, appends the missing ones in input order.
    Fallback when no valid index appears: the input order."""

    Inputs = RankInputs
    Outputs = Ranking
    instructions = (
        "Rank the numbered responses by how well they answer the query, best first. Answer only with the "
        "ranking, using the identifiers, for example: [2] > [3] > [1]"
    )

    @classmethod
    def render(cls, inputs: RankInputs) -> list[Message]:
        n = len(inputs.candidates)
        user = (
            f"Query:\n{conversation_text(inputs.conversation)}\n\n"
            f"Responses:\n\n{numbered(inputs.candidates, inputs.critiques)}\n\n"
            f"{cls.instructions}. Rank all {n} responses."
        )
        return [Message(role="user", content=user)]

    @classmethod
    def parse(cls, text: str, inputs: RankInputs) -> Parsed[Ranking]:
        return parse_ranking(text, len(inputs.candidates))


def parse_ranking(text: str, n: int) -> Parsed[Ranking]:
    seen: dict[int, None] = {}
    for m in _INDEX.finditer(text):
        idx = int(m.group(1)) - 1
        if 0 <= idx < n:
            seen.setdefault(idx, None)
    order = list(seen) + [i for i in range(n) if i not in seen]
    if n > 1 and not seen:
        return Parsed(Ranking(order=order), ok=False, note="no valid identifier; kept input order")
    return Parsed(Ranking(order=order))
