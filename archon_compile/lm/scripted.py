"""A scripted LM for tests and property tests: answers chosen by rules, optional latency and faults.

Public so that users can test their own components and architectures without a model:

    lm = ScriptedLM([(r"Rank the numbered", "[2] > [1]"), (r".*", "Paris")], latency_s=0.01)
    program = ac.load("programs/archon-quickstart.json", lms={"*": lm})
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterator, Callable, Sequence

from archon_compile.lm.base import LMError, LMRequest, LMResponse

Answer = str | LMError | Callable[[LMRequest], "str | LMError"]
Rule = tuple[str, Answer]


def request_text(request: LMRequest) -> str:
    """Every message of the request joined by newlines: what the rules match (instructions included)."""
    return "\n".join(m.content for m in request.messages)


def last_user_text(request: LMRequest) -> str:
    """The last user message of the request (the question a rule function usually answers); "" if none."""
    users = [m.content for m in request.messages if m.role == "user"]
    return users[-1] if users else ""


class ScriptedLM:
    """Answers with the first rule whose regex matches `request_text` (all messages joined).

    An answer is a string, an `LMError` to raise (fault injection), or a function of the request.
    Token counts are whitespace word counts; `price_per_token` turns them into a cost. `stream` sends
    the answer word by word, `token_latency_s` apart, after `latency_s` (the time to first token).
    """

    def __init__(
        self,
        rules: Sequence[Rule] | Callable[[LMRequest], Answer],
        *,
        default: str = "",
        latency_s: float = 0.0,
        price_per_token: float | None = 0.0,
        token_latency_s: float = 0.0,
    ) -> None:
        self.rules = rules
        self.default = default
        self.latency_s = latency_s
        self.token_latency_s = token_latency_s
        self.price_per_token = price_per_token
        self._lock = threading.Lock()
        self.requests: list[LMRequest] = []

    @property
    def calls(self) -> int:
        with self._lock:
            return len(self.requests)

    def _answer(self, request: LMRequest) -> str | LMError:
        answer: Answer = self.default
        if callable(self.rules):
            answer = self.rules(request)
        else:
            text = request_text(request)
            for pattern, rule_answer in self.rules:
                if re.search(pattern, text, re.DOTALL):
                    answer = rule_answer
                    break
        while callable(answer):
            answer = answer(request)
        return answer

    async def complete(self, request: LMRequest) -> LMResponse:
        with self._lock:
            self.requests.append(request)
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        answer = self._answer(request)
        if isinstance(answer, LMError):
            raise answer
        prompt_tokens = sum(len(m.content.split()) for m in request.messages)
        completion_tokens = len(answer.split())
        cost = (
            None
            if self.price_per_token is None
            else (prompt_tokens + completion_tokens) * self.price_per_token
        )
        return LMResponse(
            text=answer,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=cost,
            finish_reason="stop",
        )

    async def stream(self, request: LMRequest) -> AsyncIterator[str | LMResponse]:
        response = await self.complete(request)
        for i, word in enumerate(words(response.text)):
            if i and self.token_latency_s:
                await asyncio.sleep(self.token_latency_s)
            yield word
        yield response


def words(text: str) -> list[str]:
    """Text cut into stream-sized pieces (each word with the blanks after it); they join back to it."""
    return re.findall(r"\s+|\S+\s*", text) if text else []
