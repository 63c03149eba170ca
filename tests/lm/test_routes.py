"""Direct routes to the OpenAI-compatible hosted providers, against FakeOpenAIServer on 127.0.0.1.

Each provider's endpoint is pointed at the local server through its documented base override (LiteLLM's
`*_API_BASE` variables), with a dummy key, so no traffic leaves 127.0.0.1: base URLs, key variables,
model names, dialects, pricing, error mapping, and that LiteLLM is never imported on these routes.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest

import archon_compile as ac
from archon_compile.lm import pricing
from archon_compile.lm.base import LMRequest, Message
from archon_compile.lm.http import POOL
from archon_compile.lm.litellm_client import LiteLLMClient
from archon_compile.lm.openai_compat import OpenAICompatClient
from archon_compile.lm.providers import PROVIDERS, SELF_HOSTED, provider_of
from archon_compile.lm.resolve import Backends
from archon_compile.testing import FakeOpenAIServer, Fault
from tests.helpers.http import FAST, Script

# LiteLLM 1.110.2's defaults (get_llm_provider_logic.py and the providers' chat configs).
DEFAULT_BASES = {
    "openai": "https://api.openai.com/v1",
    "together_ai": "https://api.together.ai/v1",
    "groq": "https://api.groq.com/openai/v1",
    "fireworks_ai": "https://api.fireworks.ai/inference/v1",
    "deepseek": "https://api.deepseek.com/beta",
    "openrouter": "https://openrouter.ai/api/v1",
    "mistral": "https://api.mistral.ai/v1",
    "xai": "https://api.x.ai/v1",
    "cerebras": "https://api.cerebras.ai/v1",
    "deepinfra": "https://api.deepinfra.com/v1/openai",
}
# (model string, the model name the provider must receive)
MODELS = {
    "openai": ("openai/gpt-4o-mini", "gpt-4o-mini"),
    "together_ai": ("together_ai/Qwen/Qwen2.5-72B-Instruct-Turbo", "Qwen/Qwen2.5-72B-Instruct-Turbo"),
    "groq": ("groq/openai/gpt-oss-120b", "openai/gpt-oss-120b"),
    "fireworks_ai": (
        "fireworks_ai/llama-v3p1-8b-instruct",
        "accounts/fireworks/models/llama-v3p1-8b-instruct",
    ),
    "deepseek": ("deepseek/deepseek-chat", "deepseek-chat"),
    "openrouter": ("openrouter/openai/gpt-4o-mini", "openai/gpt-4o-mini"),
    "mistral": ("mistral/mistral-small-latest", "mistral-small-latest"),
    "xai": ("xai/grok-4.3", "grok-4.3"),
    "cerebras": ("cerebras/llama3.1-8b", "llama3.1-8b"),
    "deepinfra": ("deepinfra/meta-llama/Meta-Llama-3.1-8B-Instruct", "meta-llama/Meta-Llama-3.1-8B-Instruct"),
}
ALL_ENV = sorted({n for p in PROVIDERS.values() for n in (*p.base_env, *p.key_env)})


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No provider variable of the machine leaks into a test (and no real key is ever sent)."""
    for name in ALL_ENV:
        monkeypatch.delenv(name, raising=False)


def generator(model: str, **extra: object) -> ac.ArchitectureSpec:
    comp = {"type": "generator", "model": model, "temperature": 0.3, "max_tokens": 32, **extra}
    return ac.ArchitectureSpec.from_data({"name": "route", "layers": [[comp]]})


def run(model: str, **options: object) -> ac.Prediction:
    return ac.Program(generator(model), cache=False, retry=FAST, **options)("Capital of France?")  # type: ignore[arg-type]


def test_the_table_matches_litellms_base_urls() -> None:
    assert set(PROVIDERS) == set(DEFAULT_BASES)
    for prefix, url in DEFAULT_BASES.items():
        assert PROVIDERS[prefix].base() == url


@pytest.mark.parametrize("prefix", sorted(PROVIDERS))
def test_each_provider_goes_direct_to_its_override_with_its_key(
    prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = PROVIDERS[prefix]
    model, wire = MODELS[prefix]
    key = f"sk-route-test-{prefix}-0123456789"
    monkeypatch.setenv(provider.key_env[0], key)
    with FakeOpenAIServer(Script(default="Paris")) as server:
        monkeypatch.setenv(provider.base_env[0], server.url)
        lm = Backends()(model, None)
        assert isinstance(lm, OpenAICompatClient) and lm.provider is provider
        pred = run(model)
    assert pred.response == "Paris" and pred.usage.calls == 1
    [body], [headers] = server.requests, server.headers
    assert body["model"] == wire
    assert headers["authorization"] == f"Bearer {key}"
    assert key not in json.dumps(body)


@pytest.mark.parametrize(
    "prefix,variable", [(p.prefix, v) for p in PROVIDERS.values() for v in (*p.key_env[1:], *p.base_env[1:])]
)
def test_every_alternative_variable_litellm_reads_works(
    prefix: str, variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = PROVIDERS[prefix]
    with FakeOpenAIServer(Script(default="ok")) as server:
        is_key = variable in provider.key_env
        monkeypatch.setenv(variable, "sk-alternative-variable-000" if is_key else server.url)
        monkeypatch.setenv(
            provider.base_env[0] if is_key else provider.key_env[0], server.url if is_key else "k" * 12
        )
        assert run(MODELS[prefix][0]).response == "ok"
    if is_key:
        assert server.headers[0]["authorization"] == "Bearer sk-alternative-variable-000"


def test_a_missing_key_fails_at_once_naming_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeOpenAIServer(Script()) as server:
        monkeypatch.setenv("TOGETHER_AI_API_BASE", server.url)
        with pytest.raises(ac.QueryFailed) as info:
            run("together_ai/Qwen/Qwen2.5-72B-Instruct-Turbo")
    assert "TOGETHER_API_KEY or TOGETHER_AI_API_KEY" in str(info.value)
    assert server.requests == []  # nothing sent, nothing retried


def test_an_explicit_api_base_wins_over_the_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "sk-groq-explicit-base-000")
    monkeypatch.setenv("GROQ_API_BASE", "http://127.0.0.1:9/v1")  # nothing listens there
    with FakeOpenAIServer(Script(default="here")) as server:
        pred = ac.Program(generator("groq/openai/gpt-oss-120b", api_base=server.url), cache=False)("q")
    assert pred.response == "here" and len(server.requests) == 1


def test_self_hosted_and_litellm_routes_are_unchanged() -> None:
    backends = Backends()
    url = "http://127.0.0.1:8000/v1"
    self_hosted = backends("openai/llama-3", url)
    assert isinstance(self_hosted, OpenAICompatClient) and self_hosted.provider is SELF_HOSTED
    assert isinstance(backends("anthropic/claude-3-5-haiku-20241022", None), LiteLLMClient)
    assert isinstance(backends("gemini/gemini-1.5-flash", url), LiteLLMClient)
    assert provider_of("gpt-4o-mini") is None  # no prefix: LiteLLM's own inference


def test_dialects_seed_names_reasoning_models_and_model_names() -> None:
    req = LMRequest(model="mistral/m", messages=(Message(role="user", content="x"),), seed=3)
    mistral = OpenAICompatClient("mistral/m", None, PROVIDERS["mistral"]).body(req)
    assert "random_seed" in mistral and "seed" not in mistral
    o3 = OpenAICompatClient("openai/o3-mini", None, PROVIDERS["openai"]).body(
        req.model_copy(update={"model": "openai/o3-mini"})
    )
    assert o3["max_completion_tokens"] == 1024 and "max_tokens" not in o3 and "temperature" not in o3
    gpt = OpenAICompatClient("openai/gpt-4o", None, PROVIDERS["openai"]).body(
        req.model_copy(update={"model": "openai/gpt-4o"})
    )
    assert (gpt["max_tokens"], gpt["temperature"], gpt["model"]) == (1024, 0.7, "gpt-4o")
    assert PROVIDERS["openrouter"].wire_model("openrouter/auto") == "openrouter/auto"
    assert PROVIDERS["fireworks_ai"].wire_model("fireworks_ai/accounts/me/models/x") == "accounts/me/models/x"


def test_hosted_calls_are_priced_from_the_cost_map(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-pricing-test-00000")
    with FakeOpenAIServer(Script(default="Paris is the capital.")) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        priced = run("openai/gpt-4o-mini")
        unlisted = run("openai/no-such-model-in-the-map")
    price = pricing.price("openai", "gpt-4o-mini", "openai/gpt-4o-mini")
    assert price is not None
    assert priced.usage.cost_known
    assert priced.usage.cost_usd == pytest.approx(
        price.cost(priced.usage.prompt_tokens, priced.usage.completion_tokens)
    )
    assert not unlisted.usage.cost_known  # unknown, not zero


def test_statuses_map_onto_errors_without_leaking_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    key = "sk-groq-secret-never-shown-42"
    monkeypatch.setenv("GROQ_API_KEY", key)
    unauthorized = Fault(401, body=json.dumps({"error": {"message": f"Invalid API Key {key}"}}))
    with FakeOpenAIServer(Script(steps=[unauthorized])) as server:
        monkeypatch.setenv("GROQ_API_BASE", server.url)
        with pytest.raises(ac.QueryFailed) as info:
            run("groq/openai/gpt-oss-120b")
    message = str(info.value)
    assert "HTTP 401" in message and "GROQ_API_KEY" in message and key not in message
    assert len(server.requests) == 1  # not retryable

    steps = [Fault(429, retry_after=0.01), Fault(503), Fault(404)]
    with FakeOpenAIServer(Script(steps=steps)) as server:
        monkeypatch.setenv("GROQ_API_BASE", server.url)
        with pytest.raises(ac.QueryFailed) as info:
            run("groq/openai/gpt-oss-120b")
    assert "HTTP 404" in str(info.value) and "check the model name" in str(info.value)
    assert len(server.requests) == 3  # 429 and 503 retried, 404 final


def test_one_tls_context_and_a_shared_pool() -> None:
    a = OpenAICompatClient("openai/a", "http://127.0.0.1:1/v1")
    b = OpenAICompatClient("groq/b", None, PROVIDERS["groq"])

    async def sessions() -> set[int]:
        return {id(s) for s in (POOL.session(), POOL.session())}

    assert a.endpoint != b.endpoint and POOL.tls() is POOL.tls()
    assert len(asyncio.run(sessions())) == 1  # one session per loop, whichever endpoint


def test_hosted_routes_never_import_litellm(tmp_path: object) -> None:
    """A run on a hosted model string costs no LiteLLM import (seconds), pricing included."""
    code = (
        "import sys, archon_compile as ac\n"
        "from archon_compile.testing import FakeOpenAIServer\n"
        "with FakeOpenAIServer(lambda body: 'Paris') as server:\n"
        "    import os; os.environ['OPENAI_BASE_URL'] = server.url\n"
        "    p = ac.load('single-model', lm='openai/gpt-4o-mini', cache=False)\n"
        "    pred = p('Capital of France?')\n"
        "assert pred.usage.cost_known and pred.usage.cost_usd > 0, pred.usage\n"
        "print('litellm' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ALL_ENV} | {
        "OPENAI_API_KEY": "sk-subprocess-test-0"
    }
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_reading_one_cost_map_entry_matches_parsing_the_whole_map() -> None:
    path = pricing.cost_map_path()
    assert path is not None, "LiteLLM's cost map ships with the package"
    full = json.loads(path.read_text(encoding="utf-8"))
    keys = sorted(k for k, v in full.items() if isinstance(v, dict))[::97]  # a spread of 50-odd entries
    assert len(keys) > 40
    for key in keys:
        assert pricing.entry(key) == full[key], key
    assert pricing.entry("no-such-model/at-all") is None
