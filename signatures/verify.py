"""Verify: reason about a candidate, then give a verdict ending in [Correct] or [Incorrect]."""

from __future__ import annotations

import re

from archon_compile.signatures.base import Signature, conversation_text
from archon_compile.signatures.generate import Response, parse_response
from pydantic import BaseModel

from archon_compile.lm.base import Message
from archon_compile.parsed import Parsed
from archon_compile.state import Critique

_VERDICT = re.compile(r"\[\s*(correct|incorrect)\s*\]", re.IGNORECASE)


class VerifyInputs(BaseModel):
    conversation: list[Message]
    candidate: str
    critique: Critique | None = None
    reasoning: str = ""


class Correctness(BaseModel):
    correct: bool | None


class VerifyReasoning(Signature[VerifyInputs, Response]):
    Inputs = VerifyInputs
    Outputs = Response
    instructions = (
        "Explain step by step whether the response fully and correctly answers the query. "
        "Point out any error."
    )

    @classmethod
    def render(cls, inputs: VerifyInputs) -> list[Message]:
        critique = ""
        if inputs.critique is not None:
            critique = (
                f"\n\nA reviewer noted:\nStrengths: {inputs.critique.strengths}\n"
                f"Weaknesses: {inputs.critique.weaknesses}"
            )
        user = (
            f"Query:\n{conversation_text(inputs.conversation)}\n\nResponse:\n{inputs.candidate}"
            f"{critique}\n\n{cls.instructions}"
        )
        return [Message(role="user", content=user)]

    @classmethod
    def parse(cls, text: str, inputs: VerifyInputs) -> Parsed[Response]:
        return parse_response(text)


class Verify(Signature[VerifyInputs, Correctness]):
    """Parser: the last bracketed verdict wins. Fallback: `correct=None` (unknown), which keeps the
    candidate, since dropping a possibly right answer on a garbled verdict is the worse error."""

    Inputs = VerifyInputs
    Outputs = Correctness
    instructions = (
        "Based on the reasoning, is the response correct? End your answer with [Correct] or [Incorrect]."
    )

    @classmethod
    def render(cls, inputs: VerifyInputs) -> list[Message]:
        return [
            *VerifyReasoning.render(inputs),
            Message(role="assistant", content=inputs.reasoning),
            Message(role="user", content=cls.instructions),
        ]

    @classmethod
    def parse(cls, text: str, inputs: VerifyInputs) -> Parsed[Correctness]:
        return parse_verdict(text)


def parse_verdict(text: str) -> Parsed[Correctness]:
    found = _VERDICT.findall(text)
    if not found:
        return Parsed(Correctness(correct=None), ok=False, note="no [Correct]/[Incorrect] verdict")
    return Parsed(Correctness(correct=found[-1].lower() == "correct"))
