"""The HTTP LM clients against FakeOpenAIServer (127.0.0.1): completions and usage, request bodies, seeds,
routing, event-loop binding of pooled clients, LiteLLM's offline import, and the latency benchmark."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import archon_compile as ac
from archon_compile.lm.base import LMRequest, Message
from archon_compile.lm.http import POOL
from archon_compile.lm.litellm_client import LiteLLMClient
from archon_compile.lm.openai_compat import OpenAICompatClient
from archon_compile.lm.resolve import Backends
from archon_compile.testing import FakeOpenAIServer
from tests.helpers.http import CLIENTS, Script, program, warm_litellm

ROOT = Path(__file__).resolve().parents[2]
both_clients = pytest.mark.parametrize("client", CLIENTS)


def request(**update: object) -> LMRequest:
    base = LMRequest(model="openai/fake", messages=(Message(role="user", content="Capital of France?"),))
    return base.model_copy(update=update)


@both_clients
def test_completion_reports_text_usage_and_sends_the_request(client: str) -> None:
    with FakeOpenAIServer(Script(default="Paris is the capital.")) as server:
        pred = program(server, client)("Capital of France?")
    assert pred.response == "Paris is the capital."
    assert (pred.usage.calls, pred.usage.prompt_tokens, pred.usage.completion_tokens) == (1, 3, 4)
    assert not pred.usage.cost_known  # a self-hosted server has no price: unknown, not zero
    [body] = server.requests
    assert body["model"] == "fake"
    assert body["messages"][-1] == {"role": "user", "content": "Capital of France?"}
    assert (body["temperature"], body["max_tokens"]) == (0.0, 64)


@both_clients
def test_seeded_samples_differ_and_reruns_repeat(client: str) -> None:
    spec = ac.ArchitectureSpec.from_data(
        {
            "name": "s",
            "layers": [
                [{"type": "generator", "model": "openai/fake", "samples": 3, "temperature": 0.9}],
                [{"type": "fuser", "model": "openai/fake"}],
            ],
        }
    )
    with FakeOpenAIServer(Script(default="a")) as server:
        lms = None if client == "direct" else {"*": LiteLLMClient("openai/fake", server.url)}
        for _ in range(2):
            ac.Program(spec, api_base=server.url, lms=lms, cache=False, seed=7)("Name a fruit.")
    seeds = [body["seed"] for body in server.requests if body["messages"][0]["role"] == "user"]  # generators
    assert len(set(seeds[:3])) == 3
    assert sorted(seeds[:3]) == sorted(seeds[3:])


def test_litellm_prices_known_models_from_its_local_cost_map() -> None:
    with FakeOpenAIServer(Script(default="Paris")) as server:
        warm_litellm()
        lm = LiteLLMClient("openai/gpt-4o-mini", server.url)
        priced = asyncio.run(lm.complete(request(model="openai/gpt-4o-mini", api_base=server.url)))
        unpriced = asyncio.run(lm.complete(request(api_base=server.url)))
    assert priced.cost_usd is not None and 0 < priced.cost_usd < 1e-4
    assert unpriced.cost_usd is None


def test_no_seed_is_sent_without_a_program_seed() -> None:
    assert "seed" not in OpenAICompatClient("openai/fake", "http://127.0.0.1:1/v1").body(request())
    assert "seed" not in LiteLLMClient("openai/fake").kwargs(request())
    assert request(seed=1, sample_index=0).sample_seed() != request(seed=1, sample_index=1).sample_seed()
    assert request(seed=1, attempt=1).sample_seed() != request(seed=1).sample_seed()


def test_litellm_retries_are_off_and_no_key_is_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-kwargs-never-carry-it")
    kwargs = LiteLLMClient("openai/fake", "http://127.0.0.1:1/v1").kwargs(request())
    assert (kwargs["num_retries"], kwargs["max_retries"]) == (0, 0)
    assert "api_key" not in kwargs


def test_routing_by_model_string_and_api_base() -> None:
    backends = Backends()
    url = "http://127.0.0.1:8000/v1"
    assert isinstance(backends("openai/llama-3", url), OpenAICompatClient)
    assert isinstance(backends("openai/gpt-4o-mini", None), OpenAICompatClient)  # hosted: direct too
    assert isinstance(backends("anthropic/claude-3-5-haiku-20241022", url), LiteLLMClient)
    assert backends("openai/llama-3", url) is backends("openai/llama-3", url)


@both_clients
def test_sync_and_async_calls_from_several_event_loops(client: str) -> None:
    """Pooled clients are bound to an event loop: the background loop (sync calls), successive
    asyncio.run loops, and a loop in another thread must all work, in any order."""
    with FakeOpenAIServer(Script()) as server:
        prog = program(server, client)
        answers = [prog("q1").response, asyncio.run(prog.acall("q2")).response]
        answers += [asyncio.run(prog.acall("q3")).response, prog("q4").response]
        box: list[str] = []
        thread = threading.Thread(target=lambda: box.append(asyncio.run(prog.acall("q5")).response))
        thread.start()
        thread.join()
        answers += box
        assert answers == ["Paris"] * 5
        if client == "direct":
            assert isinstance(prog.runtime.resolve("openai/fake", server.url), OpenAICompatClient)
            assert len(POOL._loops) <= 2  # the background loop's and the latest; closed loops' dropped


def test_litellm_import_reads_the_local_cost_map() -> None:
    """Offline, LiteLLM retries a cost-map download for seconds at import unless told not to."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LITELLM_")}
    code = (
        "import json, time; t = time.perf_counter()\n"
        "from archon_compile.lm import litellm_client; litellm_client._module()\n"
        "from litellm.litellm_core_utils.get_model_cost_map import get_model_cost_map_source_info as info\n"
        "print(json.dumps({**info(), 'seconds': time.perf_counter() - t}))"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout.strip().splitlines()[-1])
    assert info["source"] == "local" and info["is_env_forced"]
    assert "fetch" not in done.stderr.lower()


def test_latency_bench_runs_layers_concurrently(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GROQ_API_BASE", "GROQ_API_KEY"):  # the bench sets them: restored afterwards
        monkeypatch.setenv(name, "")
    spec = importlib.util.spec_from_file_location("latency_bench", ROOT / "bench" / "latency.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    times = bench.run(queries=2, latency_s=0.1, routes=["self-hosted", "groq"])
    critical_path = bench.DEPTH * 0.1
    assert set(times) == {"self-hosted", "groq"}
    for route_times in times.values():  # 13 calls in series would take 3.25x
        assert all(critical_path <= t < 2.5 * critical_path for t in route_times)
