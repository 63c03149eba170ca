"""Prices for the direct route, read from LiteLLM's cost map as data (LiteLLM itself is not imported).

LiteLLM ships its cost map as a JSON file inside the package (`model_prices_and_context_window_backup.json`,
the file it reads when `LITELLM_LOCAL_MODEL_COST_MAP` is set, as this project sets it). Finding the file
with `importlib.util.find_spec` locates the package without running its `__init__`, which takes seconds.

A call costs prompt tokens x `input_cost_per_token` + completion tokens x `output_cost_per_token` of the
model's entry. Simplifications against LiteLLM's calculator: no cached-input discount, no price tiers above
a context length, no size-based fallback for unlisted Together models; an unlisted model costs None
(unknown, not zero), as on the LiteLLM route.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from pathlib import Path

from pydantic import BaseModel, ValidationError

COST_MAP_FILE = "model_prices_and_context_window_backup.json"


class Price(BaseModel):
    """The per-token prices of one cost-map entry (USD)."""

    input_cost_per_token: float
    output_cost_per_token: float
    litellm_provider: str | None = None

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return prompt_tokens * self.input_cost_per_token + completion_tokens * self.output_cost_per_token


_map: dict[str, object] | None = None
_lock = threading.Lock()


def cost_map_path() -> Path | None:
    """Where the installed LiteLLM keeps its cost map, or None when LiteLLM is not installed."""
    spec = importlib.util.find_spec("litellm")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / COST_MAP_FILE
        if path.is_file():
            return path
    return None


def load() -> dict[str, object]:
    """The cost map, parsed once per process (about 0.1 s); empty when it cannot be read."""
    global _map
    with _lock:
        if _map is None:
            path = cost_map_path()
            try:
                data = json.loads(path.read_text()) if path else {}
            except (OSError, ValueError):
                data = {}
            _map = data if isinstance(data, dict) else {}
        return _map


def price(prefix: str, wire_model: str, model: str) -> Price | None:
    """The price of a model: the entry `<prefix>/<wire name>`, else the model string as given, else the
    bare wire name when the map files it under the same provider (OpenAI's entries carry no prefix)."""
    prices = load()
    for key in (f"{prefix}/{wire_model}", model, wire_model):
        entry = prices.get(key)
        if not isinstance(entry, dict):
            continue
        try:
            found = Price.model_validate(entry)
        except ValidationError:
            continue
        if key != wire_model or found.litellm_provider == prefix:
            return found
    return None
