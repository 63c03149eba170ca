"""From a model string to a backend.

| model string | api_base | backend |
|---|---|---|
| `local`, `local/...` | - | the embedded llama.cpp models (`lm/local.py`) |
| `openai/<name>` | given | direct HTTP to that OpenAI-compatible server (`lm/openai_compat.py`) |
| anything else | any | LiteLLM (`lm/litellm_client.py`): hosted providers, priced from its cost map |

The direct route serves vLLM, llama.cpp's server, Ollama or a LiteLLM proxy (anything that speaks
`/chat/completions`) and exists for speed: LiteLLM's per-call overhead is most of the latency gap there.
Overrides map model strings (or "*" for all) to LM instances, e.g. a ScriptedLM in tests.
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
    if api_base and model.startswith("openai/"):
        from archon_compile.lm.openai_compat import OpenAICompatClient

        return OpenAICompatClient(model, api_base)
    from archon_compile.lm.litellm_client import LiteLLMClient

    return LiteLLMClient(model, api_base)
