"""The hosted providers that speak OpenAI's chat-completions API, reached over direct HTTP.

LiteLLM costs several milliseconds of CPU per call and seconds to import; for these providers it only
picks a base URL and a key variable, so `lm/resolve.py` sends their model strings straight to
`lm/openai_compat.py` with the row below. Every base URL, base override and key variable is LiteLLM's own
(read from LiteLLM 1.110.2: `get_llm_provider_logic.py` and each provider's chat config), so a model
string and its environment mean the same on either route. Anything not listed (Anthropic, Gemini, Bedrock,
Vertex, Azure, ...) stays on LiteLLM.

Overrides: the first set variable of `base_env` replaces `base_url` (e.g. `GROQ_API_BASE`), and an explicit
`api_base` on the component or the command line replaces both; the key is the first set variable of
`key_env` (an `api_base` userinfo password wins over it).
"""

from __future__ import annotations

import os
import re
from typing import Any

from pydantic import BaseModel, ConfigDict

from archon_compile.lm.base import LMRequest
from archon_compile.lm.wire import chat_body


class Provider(BaseModel):
    """One OpenAI-compatible hosted provider: where it lives, where its key is, and its dialect."""

    model_config = ConfigDict(frozen=True)

    prefix: str
    base_url: str
    base_env: tuple[str, ...] = ()
    key_env: tuple[str, ...]
    seed_param: str | None = "seed"
    priced: bool = True
    needs_key: bool = True

    def base(self, api_base: str | None = None) -> str:
        """The endpoint: an explicit `api_base`, else the first set override variable, else the default."""
        if api_base:
            return api_base
        for name in self.base_env:
            if value := os.environ.get(name):
                return value
        return self.base_url

    def key(self) -> str | None:
        for name in self.key_env:
            if value := os.environ.get(name):
                return value
        return None

    def wire_model(self, model: str) -> str:
        """The model name the provider expects: the model string without the route's prefix."""
        return model.removeprefix(f"{self.prefix}/")

    def body(self, model: str, request: LMRequest) -> dict[str, Any]:
        """The chat-completions body of a request for `model` (a wire name), in this provider's dialect."""
        return chat_body(model, request, self.seed_param)


class OpenAI(Provider):
    """OpenAI itself. Its reasoning models (o1, o3, o4, gpt-5...) reject `max_tokens` and any temperature
    but the default, so they get `max_completion_tokens` and no temperature (as LiteLLM sends them)."""

    def body(self, model: str, request: LMRequest) -> dict[str, Any]:
        body = super().body(model, request)
        if _REASONING.match(model):
            body["max_completion_tokens"] = body.pop("max_tokens")
            del body["temperature"]
        return body


class Fireworks(Provider):
    """Fireworks names models `accounts/<owner>/models/<name>`; short names are Fireworks' own models."""

    def wire_model(self, model: str) -> str:
        name = super().wire_model(model)
        if name.startswith("accounts/"):
            return name
        if name.startswith(("models/", "routers/")):
            return f"accounts/fireworks/{name}"
        return f"accounts/fireworks/models/{name}"


class OpenRouter(Provider):
    """OpenRouter's own names keep their prefix (`openrouter/auto`); others lose it (`openrouter/x/y`)."""

    def wire_model(self, model: str) -> str:
        name = super().wire_model(model)
        return name if "/" in name else model


_REASONING = re.compile(r"^(o\d|gpt-5)")

PROVIDERS: dict[str, Provider] = {
    p.prefix: p
    for p in (
        OpenAI(
            prefix="openai",
            base_url="https://api.openai.com/v1",
            base_env=("OPENAI_BASE_URL", "OPENAI_API_BASE"),
            key_env=("OPENAI_API_KEY",),
        ),
        Provider(
            prefix="together_ai",
            base_url="https://api.together.ai/v1",
            base_env=("TOGETHER_AI_API_BASE",),
            key_env=("TOGETHER_API_KEY", "TOGETHER_AI_API_KEY", "TOGETHERAI_API_KEY", "TOGETHER_AI_TOKEN"),
        ),
        Provider(
            prefix="groq",
            base_url="https://api.groq.com/openai/v1",
            base_env=("GROQ_API_BASE",),
            key_env=("GROQ_API_KEY",),
        ),
        Fireworks(
            prefix="fireworks_ai",
            base_url="https://api.fireworks.ai/inference/v1",
            base_env=("FIREWORKS_API_BASE",),
            key_env=(
                "FIREWORKS_API_KEY",
                "FIREWORKS_AI_API_KEY",
                "FIREWORKSAI_API_KEY",
                "FIREWORKS_AI_TOKEN",
            ),
        ),
        Provider(
            prefix="deepseek",
            base_url="https://api.deepseek.com/beta",
            base_env=("DEEPSEEK_API_BASE",),
            key_env=("DEEPSEEK_API_KEY",),
        ),
        OpenRouter(
            prefix="openrouter",
            base_url="https://openrouter.ai/api/v1",
            base_env=("OPENROUTER_API_BASE",),
            key_env=("OPENROUTER_API_KEY", "OR_API_KEY"),
        ),
        Provider(
            prefix="mistral",
            base_url="https://api.mistral.ai/v1",
            base_env=("MISTRAL_AZURE_API_BASE",),  # LiteLLM's only override for mistral/
            key_env=("MISTRAL_AZURE_API_KEY", "MISTRAL_API_KEY"),
            seed_param="random_seed",
        ),
        Provider(
            prefix="xai",
            base_url="https://api.x.ai/v1",
            base_env=("XAI_API_BASE",),
            key_env=("XAI_API_KEY",),
        ),
        Provider(
            prefix="cerebras",
            base_url="https://api.cerebras.ai/v1",
            base_env=("CEREBRAS_API_BASE",),
            key_env=("CEREBRAS_API_KEY",),
        ),
        Provider(
            prefix="deepinfra",
            base_url="https://api.deepinfra.com/v1/openai",
            base_env=("DEEPINFRA_API_BASE",),
            key_env=("DEEPINFRA_API_KEY",),
        ),
    )
}

# A self-hosted server behind `openai/<name>` + `api_base` (vLLM, llama.cpp, Ollama, a LiteLLM proxy):
# OpenAI's prefix and key variable, the classic dialect those servers know, and no price list.
SELF_HOSTED = Provider(
    prefix="openai", base_url="", key_env=("OPENAI_API_KEY",), priced=False, needs_key=False
)


def provider_of(model: str) -> Provider | None:
    """The direct-route provider of a model string, or None when LiteLLM must take it."""
    prefix, sep, _ = model.partition("/")
    return PROVIDERS.get(prefix) if sep else None
