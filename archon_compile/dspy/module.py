"""`as_module`: a compiled architecture as a `dspy.Module`, to compose in DSPy pipelines."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dspy

from archon_compile.components import QueryFailed
from archon_compile.dspy.usage import report_usage
from archon_compile.lm.base import Message
from archon_compile.program import Prediction, Program


class ArchitectureModule(dspy.Module):
    """Runs the architecture on the signature's inputs; its final answer is the one output field.

    One input field is sent as it is; several are sent as labelled sections. Instructions other than
    DSPy's default become a system message. The dspy.Prediction also holds the architecture's `trace`
    (CallRecords) and `usage`; usage also reaches DSPy's usage tracking under `archon/<name>`.
    """

    def __init__(
        self, program: Program, signature: str | type[dspy.Signature] = "question -> answer"
    ) -> None:
        super().__init__()
        if not isinstance(program, Program):
            raise TypeError(f"as_module takes an archon_compile Program, not {type(program).__name__}")
        self.program = program
        self.signature = dspy.ensure_signature(signature)
        outputs = list(self.signature.output_fields)
        if len(outputs) != 1:
            raise ValueError(
                f"as_module needs a signature with exactly one output field (the architecture writes one "
                f"answer); {self.signature.__name__} has {outputs}. Use as_lm with dspy.Predict for several"
            )
        self.output = outputs[0]
        self.model = f"archon/{program.name or 'architecture'}"

    def conversation(self, **inputs: Any) -> list[Message]:
        """The query the architecture sees for these inputs."""
        names = list(self.signature.input_fields)
        missing = [n for n in names if n not in inputs]
        if missing:
            raise ValueError(f"{self.signature.__name__}: missing input field(s) {missing}")
        labelled = "\n\n".join(f"{n}:\n{inputs[n]}" for n in names)
        user = str(inputs[names[0]]) if len(names) == 1 else labelled
        default = dspy.make_signature(dict(self.signature.fields)).instructions
        conversation = []
        if self.signature.instructions != default:
            conversation.append(Message(role="system", content=self.signature.instructions))
        conversation.append(Message(role="user", content=user))
        return conversation

    def _prediction(self, pred: Prediction) -> dspy.Prediction:
        report_usage(self.model, pred.usage, tokens=True)
        return dspy.Prediction(**{self.output: pred.response}, trace=pred.trace, usage=pred.usage)

    def forward(self, **inputs: Any) -> dspy.Prediction:
        conversation = self.conversation(**inputs)
        with self._paid():
            return self._prediction(self.program(conversation))

    async def aforward(self, **inputs: Any) -> dspy.Prediction:
        conversation = self.conversation(**inputs)
        with self._paid():
            return self._prediction(await self.program.acall(conversation))

    @contextmanager
    def _paid(self) -> Iterator[None]:
        """A failed query still reports what it paid (`QueryFailed.usage`) before it propagates."""
        try:
            yield
        except QueryFailed as exc:
            report_usage(self.model, exc.usage, tokens=True)
            raise


def as_module(
    program: Program, signature: str | type[dspy.Signature] = "question -> answer"
) -> ArchitectureModule:
    """The architecture as a `dspy.Module` with `signature` (one output field: the final answer)."""
    return ArchitectureModule(program, signature)
