"""The original's (model, model_type) pair as a LiteLLM model string, and an endpoint when self-hosted."""

from __future__ import annotations

from typing import Any

from archon_compile.importer.notes import Context

# model_type -> LiteLLM provider prefix (the original's GENERATE_MAP keys).
PROVIDERS = {
    "Together_API": "together_ai",
    "OpenAI_API": "openai",
    "Anthropic_API": "anthropic",
    "Groq_API": "groq",
    "Google_API": "gemini",
    "Bedrock_API": "bedrock",
}
# Self-hosted servers: the original ran vLLM in-process and called TGI; both speak the OpenAI API.
SELF_HOSTED = {"vLLM", "tgi"}
REWARD_MODEL_RANKERS = {"llm-blender/PairRM"}


def convert_model(rest: dict[str, Any], out: dict[str, Any], ctx: Context) -> None:
    """Move `model` and `model_type` from `rest` into `out` as the LiteLLM model (and endpoint)."""
    model = rest.pop("model", None)
    model_type = rest.pop("model_type", None)
    kind = model_type if isinstance(model_type, str) else None  # a list or dict is no known type
    if not isinstance(model, str) or not model:
        raise ctx.error("missing 'model'", "missing model")
    if model in REWARD_MODEL_RANKERS:
        raise ctx.error(
            f"model {model!r} is a reward-model ranker (llm-blender), not an LLM; archon-compile "
            "has no equivalent. Use an LLM ranker instead",
            "PairRM reward-model ranker",
        )
    if kind in PROVIDERS:
        prefix = PROVIDERS[kind]
        out["model"] = model if model.startswith(f"{prefix}/") else f"{prefix}/{model}"
        return
    if kind in SELF_HOSTED:
        if ctx.api_base:
            out["api_base"] = ctx.api_base
        else:
            ctx.note(
                f"{model_type} model served over the OpenAI API: give its endpoint with `--api-base` "
                "(import or run) or `ac.load(..., api_base=URL)`"
            )
        out["model"] = f"openai/{model}"
        return
    known = ", ".join([*PROVIDERS, *sorted(SELF_HOSTED)])
    raise ctx.error(
        f"unknown model_type {model_type!r} for model {model!r}; known: {known}", "unknown model_type"
    )
