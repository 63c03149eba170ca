"""Prices for the direct route, read from LiteLLM's cost map as data (LiteLLM itself is not imported).

LiteLLM ships its cost map as a JSON file inside the package (`model_prices_and_context_window_backup.json`,
the file it reads when `LITELLM_LOCAL_MODEL_COST_MAP` is set, as this project sets it). Finding the file
with `importlib.util.find_spec` locates the package without running its `__init__`, which takes seconds.

Only the entries asked for are parsed: the file is 3.5 MB and `json.loads` of all of it takes a tenth of
a second, paid on the first call of a cold start; finding the entry's key in the text and decoding that one
object (`json.JSONDecoder.raw_decode`) takes a few milliseconds.

A call costs prompt tokens x `input_cost_per_token` + completion tokens x `output_cost_per_token` of the
model's entry. Simplifications against LiteLLM's calculator: no cached-input discount, no price tiers above
a context length, no size-based fallback for unlisted Together models; an unlisted model costs None
(unknown, not zero), as on the LiteLLM route.
"""

from __future__ import annotations

import importlib.util
import json
import re
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


_text: str | None = None
_lock = threading.Lock()
_DECODER = json.JSONDecoder()


def cost_map_path() -> Path | None:
    """Where the installed LiteLLM keeps its cost map, or None when LiteLLM is not installed."""
    spec = importlib.util.find_spec("litellm")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / COST_MAP_FILE
        if path.is_file():
            return path
    return None


def cost_map_text() -> str:
    """The cost map's JSON text, read once per process; empty when it cannot be read."""
    global _text
    with _lock:
        if _text is None:
            path = cost_map_path()
            try:
                _text = path.read_text(encoding="utf-8") if path else ""
            except OSError:
                _text = ""
        return _text


def entry(key: str) -> object:
    """The cost map's top-level entry `key` (None when absent). Model entries are the only objects whose
    key is a model name, so the first `"<key>": {` is the entry."""
    text = cost_map_text()
    found = re.search(r'"' + re.escape(json.dumps(key)[1:-1]) + r'"\s*:\s*(?=\{)', text)
    if found is None:
        return None
    try:
        value, _ = _DECODER.raw_decode(text, found.end())
    except ValueError:
        return None
    return value


def price(prefix: str, wire_model: str, model: str) -> Price | None:
    """The price of a model: the entry `<prefix>/<wire name>`, else the model string as given, else the
    bare wire name when the map files it under the same provider (OpenAI's entries carry no prefix)."""
    for key in (f"{prefix}/{wire_model}", model, wire_model):
        data = entry(key)
        if not isinstance(data, dict):
            continue
        try:
            found = Price.model_validate(data)
        except ValidationError:
            continue
        if key != wire_model or found.litellm_provider == prefix:
            return found
    return None
