"""`from_dspy`: a configured `dspy.LM` as this project's LM backend, so any component can use it.

The runtime above it keeps owning the cache (keyed per sample, so k samples stay k calls), retries and
concurrency: the DSPy LM is called with its cache off and its retries off (a copy with
`num_retries=0`; its history is that copy's, `backend.lm.history`), and its provider settings
(model, keys, api_base, engine) are used as they are.
"""

from __future__ import annotations

from typing import Any

import dspy
from dspy import lm15

from archon_compile.lm.base import LMError, LMRequest, LMResponse


class DSPyBackend:
    """This project's LM protocol (`async complete(LMRequest) -> LMResponse`) over a `dspy.LM`."""

    def __init__(self, lm: dspy.LM) -> None:
        if not isinstance(lm, dspy.LM):
            raise TypeError(f"from_dspy takes a dspy.LM, not {type(lm).__name__}")
        self.lm = lm.copy(num_retries=0)

    def __repr__(self) -> str:
        return f"DSPyBackend({self.lm.model!r})"

    async def complete(self, request: LMRequest) -> LMResponse:
        try:
            response = await self.lm.acall(to_request(request, self.lm.model), cache=False)
        except dspy.LMError as exc:
            raise LMError(
                f"{self.lm.model}: {exc}",
                retryable=dspy.is_retryable_lm_error(exc),
                retry_after=exc.retry_after,
                status=exc.status,
            ) from None
        usage = response.usage
        return LMResponse(
            text=response.text or "",
            prompt_tokens=usage.input_tokens or 0,
            completion_tokens=usage.output_tokens or 0,
            cost_usd=self._cost(response),
            finish_reason=response.finish_reason,
        )

    def _cost(self, response: lm15.Response) -> float | None:
        """DSPy's own price estimate, from the history entry of this very response (None: unknown)."""
        for entry in reversed(self.lm.history[-256:]):  # a slice is taken atomically
            if entry.get("response") is response:
                cost: Any = entry.get("cost")
                return float(cost) if isinstance(cost, int | float) else None
        return None


def to_request(request: LMRequest, model: str) -> lm15.Request:
    """An LMRequest as an lm15 Request: leading system messages become the system prompt, the sample's
    own seed goes along (so seeded samples differ)."""
    messages = list(request.messages)
    system = []
    while messages and messages[0].role == "system":
        system.append(messages.pop(0).content)
    turns = tuple(
        lm15.Message.assistant(m.content) if m.role == "assistant" else _user(m.role, m.content)
        for m in messages
    )
    config = lm15.Config(
        temperature=request.temperature,
        max_tokens=request.max_tokens,
        stop=request.stop,
        seed=request.sample_seed(),
    )
    return lm15.Request(model=model, messages=turns, system="\n\n".join(system) or None, config=config)


def _user(role: str, content: str) -> lm15.Message:
    return lm15.Message.developer(content) if role == "system" else lm15.Message.user(content)


def from_dspy(lm: dspy.LM) -> DSPyBackend:
    """Back components with a configured `dspy.LM`: `ac.load(spec, lms={"*": from_dspy(lm)})`."""
    return DSPyBackend(lm)
