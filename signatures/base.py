"""The signature base class: instructions, typed inputs and outputs, a prompt, a total parser."""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from archon_compile.lm.base import Message
from archon_compile.parsed import Parsed

In = TypeVar("In", bound=BaseModel)
Out = TypeVar("Out", bound=BaseModel)


class SignatureInfo(BaseModel):
    """What an artifact records of a signature: field names, JSON-schema types, instructions."""

    model_config = ConfigDict(extra="forbid", strict=True)  # an artifact's unknown fields are refused

    name: str
    instructions: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]


class Signature(Generic[In, Out]):
    """Subclasses set `Inputs`, `Outputs` and `instructions`, and implement `render` and `parse`.

    `parse` must accept any text and never raise: it returns `Parsed(ok=False)` with a documented
    fallback value when the text is unusable.
    """

    Inputs: ClassVar[type[BaseModel]]
    Outputs: ClassVar[type[BaseModel]]
    instructions: ClassVar[str]
    custom_instructions: ClassVar[bool] = False
    """True on a copy made by `with_instructions`: a node's own instructions replaced these."""

    @classmethod
    def with_instructions(cls, instructions: str | None) -> type[Signature[In, Out]]:
        """This signature with a node's own instructions (same fields, prompt layout and parser)."""
        if instructions is None:
            return cls
        attrs = {"instructions": instructions, "custom_instructions": True}
        return type(cls.__name__, (cls,), attrs)

    @classmethod
    def info(cls) -> SignatureInfo:
        return SignatureInfo(
            name=cls.__name__,
            instructions=cls.instructions,
            inputs=cls.Inputs.model_json_schema(),
            outputs=cls.Outputs.model_json_schema(),
        )

    @classmethod
    def render(cls, inputs: In) -> list[Message]:
        raise NotImplementedError

    @classmethod
    def parse(cls, text: str, inputs: In) -> Parsed[Out]:
        raise NotImplementedError


def numbered(candidates: list[str], critiques: list[Any] | None = None) -> str:
    """Candidates as '[1] ...' blocks, each followed by its critique when given."""
    parts = []
    for i, text in enumerate(candidates, 1):
        block = f"[{i}]\n{text.strip()}"
        if critiques is not None and critiques[i - 1] is not None:
            c = critiques[i - 1]
            block += f"\nCritique of [{i}]:\nStrengths: {c.strengths}\nWeaknesses: {c.weaknesses}"
        parts.append(block)
    return "\n\n".join(parts)


def with_system(conversation: list[Message], text: str) -> list[Message]:
    """The conversation with `text` appended to its system message (one is added when it has none).

    The conversation's own system message comes first and stays verbatim: it may ask for an output
    format (DSPy's `[[ ## field ## ]]` sections, JSON) that the answer must keep."""
    if conversation and conversation[0].role == "system":
        head = conversation[0].content.rstrip()
        return [Message(role="system", content=f"{head}\n\n{text}"), *conversation[1:]]
    return [Message(role="system", content=text), *conversation]


def conversation_text(conversation: list[Message]) -> str:
    """A multi-turn conversation as plain text, for prompts that quote it."""
    if len(conversation) == 1:
        return conversation[0].content
    return "\n\n".join(f"{m.role.upper()}: {m.content}" for m in conversation)
