"""Generate: answer the conversation."""

from __future__ import annotations

from archon_compile.signatures.base import Signature, with_system
from pydantic import BaseModel

from archon_compile.lm.base import Message
from archon_compile.parsed import Parsed


class GenerateInputs(BaseModel):
    conversation: list[Message]


class Response(BaseModel):
    response: str


class Generate(Signature[GenerateInputs, Response]):
    Inputs = GenerateInputs
    Outputs = Response
    instructions = "Answer the latest user message of the conversation."

    @classmethod
    def render(cls, inputs: GenerateInputs) -> list[Message]:
        """The conversation as it came (system message included); a node's own instructions join its
        system message. The default instructions are implied by the conversation, so not sent."""
        if cls.custom_instructions:
            return with_system(list(inputs.conversation), cls.instructions)
        return list(inputs.conversation)

    @classmethod
    def parse(cls, text: str, inputs: GenerateInputs) -> Parsed[Response]:
        return parse_response(text)


def parse_response(text: str) -> Parsed[Response]:
    """Any non-blank text is a response; blank text is unusable (the fallback is the empty response)."""
    cleaned = text.strip()
    if not cleaned:
        return Parsed(Response(response=""), ok=False, note="empty response")
    return Parsed(Response(response=cleaned))
