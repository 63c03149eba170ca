"""The two signatures of self-refine: feedback on an answer, and the answer rewritten to address it."""

from __future__ import annotations

import re

from pydantic import BaseModel

from archon_compile.plugins import Message, Parsed, Signature, conversation_text

_DONE = re.compile(r"\[\s*no\s+issues\s*\]", re.IGNORECASE)
_LABEL = re.compile(
    r"^\s*(?:\*\*)?\s*(?:refined|improved|revised)\s+(?:answer|response)\s*(?:\*\*)?\s*:\s*", re.I
)


class FeedbackInputs(BaseModel):
    conversation: list[Message]
    answer: str


class Feedback(BaseModel):
    feedback: str
    done: bool


class GiveFeedback(Signature[FeedbackInputs, Feedback]):
    """Parser: "[No issues]" anywhere means done; other non-blank text is the feedback. Fallback (blank
    reply): done, so the answer is kept as it is."""

    Inputs = FeedbackInputs
    Outputs = Feedback
    instructions = (
        "Review the answer to the query. List concrete problems (errors, omissions, unclear parts) and how "
        "to fix them. If there is nothing to improve, answer exactly [No issues]."
    )

    @classmethod
    def render(cls, inputs: FeedbackInputs) -> list[Message]:
        query = conversation_text(inputs.conversation)
        user = f"Query:\n{query}\n\nAnswer:\n{inputs.answer}\n\n{cls.instructions}"
        return [Message(role="user", content=user)]

    @classmethod
    def parse(cls, text: str, inputs: FeedbackInputs) -> Parsed[Feedback]:
        cleaned = text.strip()
        if _DONE.search(cleaned):
            return Parsed(Feedback(feedback="", done=True))
        if not cleaned:
            return Parsed(Feedback(feedback="", done=True), ok=False, note="empty feedback; answer kept")
        return Parsed(Feedback(feedback=cleaned, done=False))


class RefineInputs(BaseModel):
    conversation: list[Message]
    answer: str
    feedback: str


class Refined(BaseModel):
    response: str


class Refine(Signature[RefineInputs, Refined]):
    """Parser: the reply without a leading "Refined answer:" label. Fallback (blank reply): the previous
    answer, unchanged."""

    Inputs = RefineInputs
    Outputs = Refined
    instructions = "Rewrite the answer so that it addresses the feedback. Reply with the new answer only."

    @classmethod
    def render(cls, inputs: RefineInputs) -> list[Message]:
        user = (
            f"Query:\n{conversation_text(inputs.conversation)}\n\nAnswer:\n{inputs.answer}\n\n"
            f"Feedback:\n{inputs.feedback}\n\n{cls.instructions}"
        )
        return [Message(role="user", content=user)]

    @classmethod
    def parse(cls, text: str, inputs: RefineInputs) -> Parsed[Refined]:
        cleaned = _LABEL.sub("", text.strip(), count=1).strip()
        if not cleaned:
            return Parsed(
                Refined(response=inputs.answer), ok=False, note="empty rewrite; previous answer kept"
            )
        return Parsed(Refined(response=cleaned))
