"""Fuse: synthesise one better answer from several candidates (Mixture-of-Agents style)."""

from __future__ import annotations

from archon_compile.signatures.base import Signature, numbered, with_system
from archon_compile.signatures.generate import Response, parse_response
from pydantic import BaseModel

from archon_compile.lm.base import Message
from archon_compile.parsed import Parsed
from archon_compile.state import Critique


class FuseInputs(BaseModel):
    conversation: list[Message]
    candidates: list[str]
    critiques: list[Critique | None] | None = None
    length_control: bool = False


class Fuse(Signature[FuseInputs, Response]):
    Inputs = FuseInputs
    Outputs = Response
    instructions = (
        "You are given several responses, written by different models, to the latest user message. "
        "Some of them may be wrong, biased or incomplete. Weigh them critically and write one response "
        "that is more accurate and complete than any of them. Do not copy a single response, and do not "
        "mention that you were given several."
    )

    @classmethod
    def render(cls, inputs: FuseInputs) -> list[Message]:
        """One system message: the conversation's own first (verbatim, so an output format it asks for,
        such as DSPy's `[[ ## answer ## ]]` sections, reaches the fuser), then the fusion task."""
        conversation = list(inputs.conversation)
        extra = ""
        if conversation and conversation[0].role == "system":
            extra = " Follow the instructions above, and write your response in the format they ask for."
        if inputs.critiques is not None:
            extra += " Each response is followed by a critique of its strengths and weaknesses; use them."
        if inputs.length_control:
            longest = max((len(c.split()) for c in inputs.candidates), default=0)
            extra += f" Keep your answer no longer than {longest} words."
        task = f"{cls.instructions}{extra}\n\nResponses:\n\n{numbered(inputs.candidates, inputs.critiques)}"
        return with_system(conversation, task)

    @classmethod
    def parse(cls, text: str, inputs: FuseInputs) -> Parsed[Response]:
        return parse_response(text)
