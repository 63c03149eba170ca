"""The typed layer state that flows through an architecture.

Each candidate carries its own critique, verdict and unit-test results, so a layer that drops or
reorders candidates cannot misalign them, and a layer that makes new candidates starts them clean: the
original code's stale-critique bug cannot be expressed.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from archon_compile.lm.base import Message


class Critique(BaseModel):
    model_config = ConfigDict(frozen=True)

    strengths: str = ""
    weaknesses: str = ""


class TestResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    test: str
    passed: bool


class Candidate(BaseModel):
    """One response and everything later layers learned about it."""

    model_config = ConfigDict(frozen=True)

    text: str
    origin: str = Field(description="node id of the component that wrote it, e.g. 'L0.C2#1'")
    model: str | None = None
    critique: Critique | None = None
    verified: bool | None = None
    test_results: tuple[TestResult, ...] = ()

    @property
    def tests_passed(self) -> int:
        return sum(r.passed for r in self.test_results)


class LayerState(BaseModel):
    """The query plus what the layers so far produced."""

    model_config = ConfigDict(frozen=True)

    conversation: tuple[Message, ...]
    candidates: tuple[Candidate, ...] = ()
    unit_tests: tuple[str, ...] = ()

    @property
    def query(self) -> str:
        """The latest user message: what the candidates answer."""
        for msg in reversed(self.conversation):
            if msg.role == "user":
                return msg.content
        return ""
