"""From a model string to a backend.

| model string | api_base | backend |
|---|---|---|
| `local`, `local/gemma-3-270m` | - | the embedded llama.cpp model (`lm/local.py`) |
| `openai/<name>` | given | direct HTTP to that self-hosted OpenAI-compatible server (`lm/openai_compat.py`) |
| a hosted OpenAI-compatible provider's (`lm/providers.py`) | any | direct HTTP to the provider |
| anything else | any | LiteLLM (`lm/litellm_client.py`): Anthropic, Gemini, Bedrock... |

The providers of `lm/providers.py` are OpenAI, Together, Groq, Fireworks, DeepSeek, OpenRouter, Mistral,
xAI, Cerebras and DeepInfra, priced from LiteLLM's cost map read as data; LiteLLM is imported only for
model strings that need it.

The direct routes exist for speed: LiteLLM's per-call overhead is most of the latency gap there, and its
import takes seconds. Overrides map model strings (or "*" for all) to LM instances, e.g. a ScriptedLM in
tests.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from archon_compile.lm.base import LM


def is_local(model: str) -> bool:
    return model == "local" or model.startswith("local/")


class Backends:
    """Creates each backend once per (model, api_base) and hands it to the runtime."""

    def __init__(self, overrides: Mapping[str, LM] | None = None) -> None:
        self.overrides = dict(overrides or {})
        self._made: dict[tuple[str, str | None], LM] = {}
        self._lock = threading.Lock()

    def __call__(self, model: str, api_base: str | None) -> LM:
        if model in self.overrides:
            return self.overrides[model]
        if "*" in self.overrides:
            return self.overrides["*"]
        with self._lock:
            key = (model, api_base)
            if key not in self._made:
                self._made[key] = _make(model, api_base)
            return self._made[key]


def _make(model: str, api_base: str | None) -> LM:
    if is_local(model):
        from archon_compile.lm.local import local_lm

        return local_lm(model)
    from archon_compile.lm.providers import provider_of

    provider = provider_of(model)
    if provider is not None:
        from archon_compile.lm.openai_compat import OpenAICompatClient

        # `openai/<name>` at an explicit api_base is a self-hosted server (no price list, no key needed).
        return OpenAICompatClient(
            model, api_base, None if api_base and provider.prefix == "openai" else provider
        )
    from archon_compile.lm.litellm_client import LiteLLMClient

    return LiteLLMClient(model, api_base)
