"""Vote: model-free self-consistency. Its signature documents the node; it makes no LM call."""

from __future__ import annotations

from pydantic import BaseModel

from archon_compile.lm.base import Message
from archon_compile.signatures.base import Signature


class VoteInputs(BaseModel):
    candidates: list[str]
    normaliser: str


class VoteOutputs(BaseModel):
    order: list[int]


class Vote(Signature[VoteInputs, VoteOutputs]):
    Inputs = VoteInputs
    Outputs = VoteOutputs
    instructions = (
        "Keep the candidates whose normalised answer is the most frequent (self-consistency); "
        "ties go to the answer seen first."
    )

    @classmethod
    def render(cls, inputs: VoteInputs) -> list[Message]:
        raise TypeError("Vote makes no LM call")
