"""CritiqueSignature: strengths and weaknesses of every candidate, one block per candidate."""

from __future__ import annotations

import re

from archon_compile.signatures.base import Signature, conversation_text, numbered
from pydantic import BaseModel

from archon_compile.lm.base import Message
from archon_compile.parsed import Parsed
from archon_compile.state import Critique as CritiqueValue

_HEADER = re.compile(
    r"(?im)^[\s#*>_-]*(?:\[(\d{1,4})\]|(?:response|candidate)\s*\[?#?(\d{1,4})\]?)\s*[:.)\]-]*"
)
_STRENGTHS = re.compile(r"(?is)strengths?\s*[:\-]\s*(.*?)(?=weakness(?:es)?\s*[:\-]|\Z)")
_WEAKNESSES = re.compile(r"(?is)weakness(?:es)?\s*[:\-]\s*(.*?)(?=strengths?\s*[:\-]|\Z)")
MISSING = "(the critic gave no critique of this response)"


class CritiqueInputs(BaseModel):
    conversation: list[Message]
    candidates: list[str]


class Critiques(BaseModel):
    critiques: list[CritiqueValue]


class CritiqueSignature(Signature[CritiqueInputs, Critiques]):
    """Fallback: a candidate without a block gets a critique saying none was given (never another's)."""

    Inputs = CritiqueInputs
    Outputs = Critiques
    instructions = (
        "Evaluate each numbered response to the query. For every response write its strengths and its "
        "weaknesses, one block per response, in this form and with no preface:\n"
        "[1]\nStrengths: ...\nWeaknesses: ..."
    )

    @classmethod
    def render(cls, inputs: CritiqueInputs) -> list[Message]:
        user = (
            f"Query:\n{conversation_text(inputs.conversation)}\n\n"
            f"Responses:\n\n{numbered(inputs.candidates)}\n\n{cls.instructions}"
        )
        return [Message(role="user", content=user)]

    @classmethod
    def parse(cls, text: str, inputs: CritiqueInputs) -> Parsed[Critiques]:
        n = len(inputs.candidates)
        blocks: dict[int, str] = {}
        matches = list(_HEADER.finditer(text))
        for m, nxt in zip(matches, [*matches[1:], None], strict=False):
            idx = int(m.group(1) or m.group(2))
            if 1 <= idx <= n and idx not in blocks:
                blocks[idx] = text[m.end() : nxt.start() if nxt else len(text)]
        if n == 1 and not blocks and text.strip():
            blocks[1] = text
        critiques = [
            _split(blocks[i]) if i in blocks else CritiqueValue(weaknesses=MISSING) for i in range(1, n + 1)
        ]
        missing = n - len(blocks)
        note = f"{missing} of {n} responses had no critique block" if missing else None
        return Parsed(Critiques(critiques=critiques), ok=missing == 0, note=note)


def _split(block: str) -> CritiqueValue:
    s = _STRENGTHS.search(block)
    w = _WEAKNESSES.search(block)
    if not s and not w:
        return CritiqueValue(weaknesses=block.strip())
    return CritiqueValue(
        strengths=s.group(1).strip() if s else "", weaknesses=w.group(1).strip() if w else ""
    )
