"""Helpers for tests that run programs against `FakeOpenAIServer` through either HTTP client.

`direct` is the default route for `openai/...` with an `api_base` (lm/openai_compat.py); `litellm`
forces the same calls through LiteLLM, so every fault behaviour is checked on both.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Sequence
from typing import Any

import archon_compile as ac
from archon_compile.lm.base import LM, LMRequest, Message
from archon_compile.runtime.calls import RetryPolicy
from archon_compile.spec import ArchitectureSpec
from archon_compile.testing import FakeOpenAIServer, Fault

CLIENTS = ("direct", "litellm")
FAST = RetryPolicy(timeout_s=5.0, max_retries=2, base_delay_s=0.01, max_delay_s=0.05, parse_retries=0)


class Script:
    """A `respond` for FakeOpenAIServer: per model, the given steps in order, then `default` forever."""

    def __init__(
        self,
        steps: Sequence[str | Fault] = (),
        default: str | Fault = "Paris",
        per_model: dict[str, str | Fault] | None = None,
    ) -> None:
        self.steps = list(steps)
        self.default = default
        self.per_model = per_model or {}
        self._lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> str | Fault:
        model = str(body.get("model"))
        if model in self.per_model:
            return self.per_model[model]
        with self._lock:
            return self.steps.pop(0) if self.steps else self.default


def spec(*generators: str, fuser: str | None = None, api_base: str) -> ArchitectureSpec:
    """Generators of the given models (one sample each, temperature 0) and an optional final fuser."""
    layers: list[list[dict[str, Any]]] = [
        [
            {"type": "generator", "model": m, "api_base": api_base, "temperature": 0.0, "max_tokens": 64}
            for m in generators
        ]
    ]
    if fuser:
        layers.append([{"type": "fuser", "model": fuser, "api_base": api_base}])
    return ArchitectureSpec.from_data({"name": "http-test", "layers": layers})


@functools.cache
def warm_litellm() -> None:
    """Import LiteLLM and make one call (its first call loads provider modules for seconds), so timing
    tests measure the runtime, not LiteLLM's start-up."""
    from archon_compile.lm.litellm_client import LiteLLMClient

    with FakeOpenAIServer(Script()) as server:
        request = LMRequest(model="openai/fake", messages=(Message(role="user", content="hi"),))
        asyncio.run(LiteLLMClient("openai/fake", server.url).complete(request))


def lms_for(client: str, server: FakeOpenAIServer) -> dict[str, LM] | None:
    """None keeps the default routing (direct HTTP); 'litellm' sends every call through LiteLLM."""
    if client == "litellm":
        from archon_compile.lm.litellm_client import LiteLLMClient

        warm_litellm()
        return {"*": LiteLLMClient("openai/fake", server.url)}
    return None


def program(
    server: FakeOpenAIServer,
    client: str,
    *generators: str,
    fuser: str | None = None,
    retry: RetryPolicy = FAST,
    **options: Any,
) -> ac.Program:
    models = generators or ("openai/fake",)
    options.setdefault("cache", False)
    return ac.Program(
        spec(*models, fuser=fuser, api_base=server.url), lms=lms_for(client, server), retry=retry, **options
    )
